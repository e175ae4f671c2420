"""The hot path: one message in, a rule's reply out; server CPU per message and round trips/s.

    python -m benchmarks.cpu_per_message [--requests 20000] [--repeats 3]

Each server runs in its own process pinned to core 0 (``os.sched_setaffinity``); a
client in another process pinned to core 1 sends ``PING\\r\\n`` and waits for each reply,
--requests times, after a warm-up of a tenth as many. The servers, interleaved in one run:

- ``bare``: a thread doing recv/sendall, the floor any Python server can reach;
- ``socketserver``: a ``socketserver.ThreadingTCPServer`` echo handler;
- ``socketdouble``: ``server.on(b"PING\\r\\n").reply(b"+PONG\\r\\n")``, recording on;
- ``unrecorded`` (with --unrecorded): the same with the recording's writers stubbed
  out, to price what recording costs (never a product figure: recording stays on).

Two figures (DESIGN.md, "Performance targets"):

1. server CPU per message: ``resource.getrusage(RUSAGE_SELF)`` user + system, read
   inside the server process just before and just after the client's measured loop,
   divided by --requests; socketdouble's over the bare loop's, target <= 1.5x;
2. round trips/s, timed by the client: socketdouble's over the better of the bare loop
   and socketserver, target >= 0.85.

Each figure is the best of --repeats interleaved runs (least CPU, most round trips).
CPU time is the figure to trust on a busy machine; the rate also feels the neighbours.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple

SERVER_CORE, CLIENT_CORE = 0, 1
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600.0

CLIENT = """
import os, socket, sys, time
if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
    os.sched_setaffinity(0, {int(sys.argv[5])})
host, port, warmup, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((host, port), timeout=60)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def loop(count):
    for _ in range(count):
        s.sendall(b"PING\\r\\n")
        if not s.recv(100):
            raise SystemExit("server closed")
loop(warmup)
print("warm", flush=True)
sys.stdin.readline()
started = time.perf_counter()
loop(n)
print(n / (time.perf_counter() - started), flush=True)
sys.stdin.readline()
s.close()
"""


def pin(core: int) -> None:
    """Run this process on ``core`` (Linux, two cores or more; elsewhere a no-op)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


def cpu_seconds() -> tuple[float, float]:
    """This process's (user, system) CPU seconds, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


# -- the servers, each run in its own process ------------------------------------------


@contextmanager
def bare() -> Iterator[tuple[str, int]]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(b"+PONG\r\n" * data.count(b"\n"))

    thread = threading.Thread(target=serve)
    thread.start()
    yield listener.getsockname()[:2]
    thread.join(TIMEOUT)
    listener.close()


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(b"+PONG\r\n" * data.count(b"\n"))


@contextmanager
def stdlib() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server.server_address[:2]  # type: ignore[misc]
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


@contextmanager
def rule() -> Iterator[tuple[str, int]]:
    import socketdouble as sd

    with sd.TCPServer() as server:
        server.on(b"PING\r\n").reply(b"+PONG\r\n")
        yield server.address
    server.check()


@contextmanager
def unrecorded() -> Iterator[tuple[str, int]]:
    from socketdouble.core.recording import ConnectionRecord

    for name in ("on_received", "on_message", "on_received_messages", "on_sent"):
        setattr(ConnectionRecord, name, lambda self, *data: None)
    with rule() as address:
        yield address


SERVERS: dict[str, Callable[[], AbstractContextManager[tuple[str, int]]]] = {
    "bare": bare,
    "socketserver": stdlib,
    "socketdouble": rule,
    "unrecorded": unrecorded,
}


def serve(kind: str) -> None:
    """The server process: listen, say where; on "start" and "stop" lines, say the CPU time."""
    pin(SERVER_CORE)
    with SERVERS[kind]() as address:
        print(f"{address[0]} {address[1]}", flush=True)
        for _ in range(2):  # "start", then "stop": answered with the process's CPU seconds
            if not sys.stdin.readline():
                raise SystemExit("the benchmark went away")
            print(" ".join(map(repr, cpu_seconds())), flush=True)


# -- the driver -----------------------------------------------------------------------------


def _line(stream: IO[str] | None, who: str) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise SystemExit(f"the {who} process ended early")
    return line


def _say(stream: IO[str] | None, text: str) -> None:
    assert stream is not None
    stream.write(text + "\n")
    stream.flush()


class Run(NamedTuple):
    """One run against one server."""

    user: float  # server CPU seconds per message, user
    system: float  # and system
    rate: float  # round trips/s, as the client timed them

    @property
    def cpu(self) -> float:
        return self.user + self.system


def measure(kind: str, requests: int) -> Run:
    """One run of ``requests`` round trips against ``kind``."""
    command = [sys.executable, "-m", "benchmarks.cpu_per_message", "--serve", kind]
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    with subprocess.Popen(command, cwd=ROOT, **pipes) as server:
        try:
            host, port = _line(server.stdout, "server").split()
            client_command = [sys.executable, "-c", CLIENT, host, port, str(max(requests // 10, 1))]
            with subprocess.Popen([*client_command, str(requests), str(CLIENT_CORE)], **pipes) as client:
                try:
                    _line(client.stdout, "client")  # warm
                    _say(server.stdin, "start")
                    before = [float(x) for x in _line(server.stdout, "server").split()]
                    _say(client.stdin, "go")
                    rate = float(_line(client.stdout, "client"))
                    _say(server.stdin, "stop")
                    after = [float(x) for x in _line(server.stdout, "server").split()]
                    _say(client.stdin, "close")
                finally:
                    client.wait(TIMEOUT)
            server.wait(TIMEOUT)
        finally:
            if server.poll() is None:
                server.kill()
    if server.returncode or client.returncode:
        raise SystemExit(f"{kind}: the server or the client failed; see above")
    return Run((after[0] - before[0]) / requests, (after[1] - before[1]) / requests, rate)


def ratio(ours: float, reference: float) -> str:
    """``ours / reference`` to two places; "n/a" when a run too short measured no CPU time."""
    return f"{ours / reference:.2f}" if reference > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unrecorded", action="store_true", help="also price the recording")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    kinds = ["bare", "socketserver", "socketdouble"] + (["unrecorded"] if args.unrecorded else [])
    least: dict[str, Run] = {}  # the run with the least server CPU
    rate = dict.fromkeys(kinds, 0.0)
    for _ in range(args.repeats):  # interleaved, so a busy moment hits every server alike
        for kind in kinds:
            run = measure(kind, args.requests)
            if kind not in least or run.cpu < least[kind].cpu:
                least[kind] = run
            rate[kind] = max(rate[kind], run.rate)
    cpu = {kind: run.cpu for kind, run in least.items()}
    for kind, run in least.items():
        print(
            f"{kind:13} server CPU {run.cpu * 1e6:6.2f} µs/message "
            f"(user {run.user * 1e6:5.2f}, system {run.system * 1e6:5.2f})   {rate[kind]:7.0f} round trips/s"
        )
    reference = max(rate["bare"], rate["socketserver"])
    print(
        f"server CPU per message: socketdouble / bare loop = {ratio(cpu['socketdouble'], cpu['bare'])}x "
        "(target <= 1.5x)"
    )
    print(
        f"round trips/s: socketdouble / best of bare and socketserver = "
        f"{ratio(rate['socketdouble'], reference)} (target >= 0.85)"
    )
    if args.unrecorded:
        cost = (cpu["socketdouble"] - cpu["unrecorded"]) * 1e6
        print(f"recording costs {cost:.2f} µs/message of server CPU")


if __name__ == "__main__":
    main()
