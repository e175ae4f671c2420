"""A request/reply client run in its own process, so the server under test has a core."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

CLIENT = """
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
started = time.perf_counter()
for _ in range(n):
    s.sendall(b"PING\\r\\n")
    if not s.recv(100):
        raise SystemExit("server closed")
print(n / (time.perf_counter() - started))
s.close()
"""


def drive(address: Any, requests: int) -> float:
    """Requests per second of one connection doing ``requests`` round trips."""
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, address[0], str(address[1]), str(requests)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(result.stdout)
