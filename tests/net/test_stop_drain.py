"""Nothing a client sent before stop() is lost: the loop that proves it, with and without CPU load.

Each run: start a server, a client writes two lines (or two datagrams) and closes,
then stop() at once. Whatever the race (bytes still in the kernel's buffers, a
connection accepted as stop() came, one still in the listen backlog), both messages
must be in ``requests`` and the client's close recorded as the client's.
"""

from __future__ import annotations

import contextlib
import socketserver
import time
from collections.abc import Callable
from typing import Any

import pytest

import socketdouble as sd
from tests.helpers import connect, cpu_load, datagram_client

RUNS = 300
MESSAGES = [b"ONE\n", b"TWO\n"]
#: How the client's close may be recorded. A client that closes with our reply unread
#: makes its kernel answer with a reset (TCP), or our next read fail (Unix); the close is the client's.
CLIENT_CLOSES = ("client closed", "client reset")


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(b"got " + line)


def replying(server: Any) -> Any:
    server.on(sd.ANY).reply(lambda message: b"ok " + message)
    return server


KINDS: dict[str, Callable[[], Any]] = {
    "tcp": lambda: replying(sd.TCPServer()),
    "unix": lambda: replying(sd.UnixStreamServer()),
    "tcp-recorder": lambda: sd.TCPServer(),
    "stream-handler": lambda: sd.TCPServer(handler=Echo),
    "udp": lambda: replying(sd.UDPServer()),
}


def one_run(make: Callable[[], Any]) -> Any:
    """Start, have a client send both messages and close, stop at once; return the server."""
    server = make().start()
    try:
        if server.datagram:
            with datagram_client(server) as client:
                for message in MESSAGES:
                    client.sendto(message, server.address)
        else:
            with connect(server) as client:
                client.sendall(b"".join(MESSAGES))
    finally:
        server.stop()
    return server


def what_was_lost(server: Any, closes: tuple[str, ...]) -> str | None:
    requests = server.recording.requests
    if requests != MESSAGES:
        return f"requests {requests!r}"
    if server.errors:
        return f"errors {server.errors!r}"
    reasons = [c.close_reason for c in server.recording.connections]
    if not server.datagram and not all(reason in closes for reason in reasons):
        return f"closed as {reasons!r}"
    return None


def loop(kind: str, runs: int) -> list[str]:
    """Run ``runs`` times; return a description of every run that lost something."""
    closes = ("client closed",) if kind == "tcp-recorder" else CLIENT_CLOSES
    failures = []
    for number in range(runs):
        lost = what_was_lost(one_run(KINDS[kind]), closes)
        if lost:
            failures.append(f"run {number}: {lost}")
    return failures


@pytest.mark.parametrize("load", [False, True], ids=["idle", "cpu-load"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_two_lines_then_close_right_before_stop_are_never_lost(kind: str, load: bool) -> None:
    started = time.monotonic()
    with cpu_load() if load else contextlib.nullcontext():
        failures = loop(kind, RUNS)
    elapsed = time.monotonic() - started
    assert failures == [], f"{len(failures)} of {RUNS} runs lost something in {elapsed:.1f}s: {failures[:5]}"
