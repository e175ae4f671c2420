"""Running out of descriptors: reported once, the accept loop backs off, serving resumes.

Run in a child process, since it lowers the descriptor limit.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCENARIO = r"""
import json, os, resource, socket, subprocess, sys, threading
import socketdouble as sd

server = sd.TCPServer().start()
clients = subprocess.Popen(
    [sys.executable, "-c", '''
import socket, sys
address = (sys.argv[1], int(sys.argv[2]))
sys.stdin.readline()  # connect only once the server's limit is in place
held = [socket.create_connection(address, timeout=10) for _ in range(8)]
for s in held:
    s.sendall(b"hi\\n")
print("connected", flush=True)
sys.stdin.read()
''', server.host, str(server.port)],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
in_use = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 2, hard))
clients.stdin.write("go\n")
clients.stdin.flush()
assert clients.stdout.readline() == "connected\n"
for _ in range(1000):  # bounded: at most 10 s for the accept loop to hit the limit
    if server.errors:
        break
    threading.Event().wait(0.01)
accepted_while_starved = len(server.recording.connections)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
server.wait_for_requests(8, timeout=20)  # the backoff retries and every client gets in
clients.stdin.close()
clients.wait(timeout=10)
clients.stdout.close()
server.stop()
print(json.dumps({
    "errors": [getattr(e, "errno", None) for e in server.errors],
    "starved": accepted_while_starved,
    "connections": len(server.recording.connections),
}))
"""


def test_out_of_descriptors_is_reported_once_and_serving_resumes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=120, check=True
    )
    outcome = json.loads(result.stdout.splitlines()[-1])
    import errno

    assert outcome["errors"] == [errno.EMFILE]  # once, however long the starvation lasted
    assert outcome["starved"] < 8
    assert outcome["connections"] == 8
