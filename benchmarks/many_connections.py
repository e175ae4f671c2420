"""1,000 concurrent connections held, all blocked; then stop().

    python -m benchmarks.many_connections [--connections 1000]

Reports how long stop() takes with every worker blocked in recv, and what is left
afterwards (threads, descriptors, the socket file), for a TCP and a Unix server. The
reference in the same run is socketserver.ThreadingUnixStreamServer with the same load:
its shutdown()+server_close() with block_on_close waits for handlers that never
return, so it is measured with daemon_threads=True and we count what it leaves behind.
Targets (DESIGN.md, "Performance targets"): stop() under 1 s, leaving no thread,
descriptor or socket file.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from typing import Any

import socketdouble as sd


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_clients(address: Any, count: int) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        if isinstance(address, str):
            client = socket.socket(socket.AF_UNIX)
            client.settimeout(10)
            client.connect(address)
        else:
            client = socket.create_connection(address, timeout=10)
        clients.append(client)
    return clients


def run_ours(kind: type[sd.BaseServer], count: int) -> float:
    before_threads, before_fds = threading.active_count(), descriptors()
    server = kind().start()
    clients = open_clients(server.address, count)
    for client in clients:
        client.sendall(b"hello\n")
    server.wait_for_requests(count, timeout=60)
    started = time.perf_counter()
    server.stop()
    took = time.perf_counter() - started
    for client in clients:
        client.close()
    left_threads = threading.active_count() - before_threads
    left_fds = descriptors() - before_fds
    file_left = server.path is not None and os.path.exists(server.path)
    print(
        f"socketdouble {kind.__name__}: {count} blocked connections stopped in {took * 1000:.1f} ms; "
        f"left: {left_threads} threads, {left_fds} descriptors, "
        f"socket file {'LEFT' if file_left else 'removed'}"
    )
    return took


class Blocking(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while self.request.recv(100):
            pass


def run_reference(count: int, ours: float) -> None:
    before_threads = threading.active_count()
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "s")
    socketserver.ThreadingUnixStreamServer.daemon_threads = True
    socketserver.ThreadingUnixStreamServer.request_queue_size = count
    server = socketserver.ThreadingUnixStreamServer(path, Blocking)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    clients = open_clients(path, count)
    deadline = time.monotonic() + 30
    while threading.active_count() - before_threads < count + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    server.shutdown()
    server.server_close()
    took = time.perf_counter() - started
    thread.join()
    left = threading.active_count() - before_threads
    file_left = os.path.exists(path)
    for client in clients:
        client.close()
    shutil.rmtree(folder)
    print(
        f"socketserver ThreadingUnixStreamServer (daemon_threads): shutdown+close in {took * 1000:.1f} ms; "
        f"left: {left} threads still blocked, socket file {'LEFT' if file_left else 'removed'}"
    )
    print(f"ratio: socketserver's stop takes {took / ours:.1f}x socketdouble's, and leaves its threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.connections + 100)), hard))
    run_ours(sd.TCPServer, args.connections)
    ours = run_ours(sd.UnixStreamServer, args.connections)
    run_reference(args.connections, ours)


if __name__ == "__main__":
    main()
