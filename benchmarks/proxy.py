"""The recording proxy against socat, relaying to the same upstream, in one run.

    python -m benchmarks.proxy [--requests 20000] [--megabytes 128] [--repeats 3]

An upstream in its own process echoes what it gets, or (for a connection that starts
with ``BULK``) counts what arrives until end of file and answers the count. Through
each relay — a RecordingProxy (recording everything) and
``socat TCP-LISTEN:PORT,fork,reuseaddr TCP:127.0.0.1:UPSTREAM`` — a client in its own
process measures:

1. round trips per second of one connection (``PING\\r\\n`` and its echo);
2. MB/s of one stream of --megabytes MB, until the upstream has counted every byte.

Each figure is the best of --repeats interleaved runs. On Linux with two cores or more,
the relay under test (socat, or this process's proxy threads) runs on core 0, the client
and the upstream on core 1, so both relays get the same room. Targets (DESIGN.md):
round trips >= 0.9 of socat's; bulk >= 0.5 of socat's MB/s. Loopback only; every loop
is bounded.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import socketdouble as sd
from benchmarks.client import drive

UPSTREAM = """
import socket, sys, threading
listener = socket.create_server(("127.0.0.1", 0))
listener.settimeout(600)
print(listener.getsockname()[1], flush=True)

def serve(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = conn.recv(65536)
        if data.startswith(b"BULK"):
            total, buffer = len(data) - 4, bytearray(1 << 20)
            while count := conn.recv_into(buffer):
                total += count
            conn.sendall(str(total).encode())
            return
        while data:
            conn.sendall(data)
            data = conn.recv(65536)

for _ in range(10000):
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

BULK_CLIENT = """
import socket, sys, time
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = memoryview(bytes(range(256)) * 4096)
s = socket.create_connection((host, port), timeout=120)
started = time.perf_counter()
s.sendall(b"BULK")
left = size
while left > 0:
    s.sendall(chunk[: min(left, len(chunk))])
    left -= len(chunk)
s.shutdown(socket.SHUT_WR)
reply = b""
while data := s.recv(100):
    reply += data
elapsed = time.perf_counter() - started
if int(reply or b"-1") != size:
    raise SystemExit(f"the upstream counted {reply!r} bytes, not {size}")
print(size / elapsed / 1e6)
"""


RELAY_CORE, PEER_CORE = 0, 1


def pin(core: int, pid: int = 0) -> None:
    """Run ``pid`` (0: the calling thread, and what it starts from now on) on ``core``."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {core})


@contextmanager
def upstream() -> Iterator[tuple[str, int]]:
    """The echo/count upstream, in its own process."""
    process = subprocess.Popen([sys.executable, "-c", UPSTREAM], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield ("127.0.0.1", int(process.stdout.readline()))
    finally:
        process.kill()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def socat(target: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """socat relaying a fresh loopback port to ``target``."""
    executable = shutil.which("socat")
    if executable is None:
        raise SystemExit("socat is not installed; it is the reference this benchmark compares with")
    port = free_port()
    command = [executable, f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"TCP:{target[0]}:{target[1]}"]
    process = subprocess.Popen(command)
    pin(RELAY_CORE, process.pid)
    try:
        deadline = time.monotonic() + 10
        while True:  # until socat listens (bounded)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def recording_proxy(target: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """A RecordingProxy (recording everything) in this process, relaying to ``target``."""
    pin(RELAY_CORE)  # the proxy's threads start from this one: they run there
    try:
        proxy = sd.RecordingProxy(target).start()
    finally:
        pin(PEER_CORE)
    with proxy:
        yield proxy.address
    proxy.check()


def bulk(address: tuple[str, int], megabytes: int) -> float:
    """MB/s of one stream of ``megabytes`` MB through ``address``, counted by the upstream."""
    result = subprocess.run(
        [sys.executable, "-c", BULK_CLIENT, address[0], str(address[1]), str(megabytes << 20)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(result.stdout)


def best(
    relays: dict[str, Callable[[tuple[str, int]], Any]],
    target: tuple[str, int],
    measure: Callable[[tuple[str, int]], float],
    repeats: int,
) -> dict[str, float]:
    """The best figure of each relay over ``repeats`` interleaved runs."""
    figures: dict[str, float] = {name: 0.0 for name in relays}
    for _ in range(repeats):
        for name, relay in relays.items():
            # Each run starts from a clean heap, as a test's proxy does: a stopped proxy
            # (hundreds of MB recorded) lives on in reference cycles until a full collection.
            gc.collect()
            with relay(target) as address:
                figures[name] = max(figures[name], measure(address))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--megabytes", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    relays: dict[str, Callable[[tuple[str, int]], Any]] = {"socat": socat, "proxy": recording_proxy}
    pin(PEER_CORE)  # the client and upstream processes start from this thread
    with upstream() as target:
        rates = best(relays, target, lambda address: drive(address, args.requests), args.repeats)
        speeds = best(relays, target, lambda address: bulk(address, args.megabytes), args.repeats)
    print(f"round trips/s  socat {rates['socat']:9.0f}   proxy {rates['proxy']:9.0f}   ", end="")
    print(f"ratio {rates['proxy'] / rates['socat']:.2f} (target >= 0.9)")
    print(f"{args.megabytes} MB stream  socat {speeds['socat']:7.0f} MB/s   ", end="")
    print(f"proxy {speeds['proxy']:7.0f} MB/s   ", end="")
    print(f"ratio {speeds['proxy'] / speeds['socat']:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
