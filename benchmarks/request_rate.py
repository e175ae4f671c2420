"""One connection's request/reply rate through a rule, against plain Python servers.

    python -m benchmarks.request_rate [--requests 20000] [--repeats 3]

A client in its own process sends ``PING\\r\\n`` and waits for each reply, N times,
against, in one run:

- a bare socket echo loop (a thread doing recv/sendall),
- a socketserver.ThreadingTCPServer echo handler,
- socketdouble: ``server.on(b"PING\\r\\n").reply(b"+PONG\\r\\n")`` with line framing,
- the same with the recording stubbed out, to price what recording costs.

Each figure is the best of --repeats interleaved runs; ratios compare socketdouble with the
better of the two references.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import socketdouble as sd
from benchmarks.client import drive
from socketdouble.core.recording import ConnectionRecord


@contextmanager
def bare_echo() -> Iterator[tuple[str, int]]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(b"+PONG\r\n" * data.count(b"\n"))

    thread = threading.Thread(target=serve)
    thread.start()
    yield listener.getsockname()[:2]
    thread.join(30)
    listener.close()


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(b"+PONG\r\n" * data.count(b"\n"))


@contextmanager
def socketserver_echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield server.server_address[:2]  # type: ignore[misc]
    server.shutdown()
    server.server_close()
    thread.join(30)


@contextmanager
def socketdouble_rule() -> Iterator[tuple[str, int]]:
    with sd.TCPServer() as server:
        server.on(b"PING\r\n").reply(b"+PONG\r\n")
        yield server.address
    server.check()


@contextmanager
def without_recording() -> Iterator[None]:
    names = ["on_received", "on_message", "on_sent"]
    saved = {name: getattr(ConnectionRecord, name) for name in names}
    for name in names:
        setattr(ConnectionRecord, name, lambda self, data: None)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(ConnectionRecord, name, method)


def rate(make: Callable[[], Any], requests: int) -> float:
    with make() as address:
        return drive(address, requests)


def unrecorded_rule() -> Any:
    @contextmanager
    def run() -> Iterator[tuple[str, int]]:
        with without_recording(), socketdouble_rule() as address:
            yield address

    return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    variants = {"bare": bare_echo, "stdlib": socketserver_echo, "ours": socketdouble_rule}
    variants["unrecorded"] = unrecorded_rule
    best = dict.fromkeys(variants, 0.0)
    for _ in range(args.repeats):  # interleaved, so a busy moment hits every variant alike
        for name, make in variants.items():
            best[name] = max(best[name], rate(make, args.requests))
    bare, stdlib, ours, unrecorded = best["bare"], best["stdlib"], best["ours"], best["unrecorded"]
    reference = max(bare, stdlib)
    print(f"bare socket echo loop:       {bare:10.0f} req/s")
    print(f"socketserver echo:           {stdlib:10.0f} req/s")
    print(f"socketdouble rule, recorded: {ours:10.0f} req/s")
    print(f"socketdouble rule, no record:{unrecorded:10.0f} req/s")
    print(f"ratio to the better reference: {ours / reference:.2f} (target >= 0.70)")
    print(f"recording costs {100 * (unrecorded / ours - 1):.1f}% (target <= 15%)")


if __name__ == "__main__":
    main()
