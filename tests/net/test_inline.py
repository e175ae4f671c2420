"""A connection served on the serve thread (net/inline.py) hands the serve loop over when it could hold it."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import pytest

import socketdouble as sd
from socketdouble.core.recording import ConnectionRecord
from socketdouble.net.inline import INLINE_READS
from tests.helpers import recv_exactly

REQUEST = b"PING\n"
REPLY = b"PONG\n"
TIMEOUT = 5.0


def connection_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("socketdouble-connection-"))


def serve_threads() -> int:
    return sum(t.name == "socketdouble-serve" for t in threading.enumerate())


def exchange(sock: socket.socket, request: bytes = REQUEST, size: int = len(REPLY)) -> bytes:
    sock.sendall(request)
    return recv_exactly(sock, size)


@contextmanager
def client(server: sd.TCPServer) -> Iterator[socket.socket]:
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        yield sock


def test_a_lone_connection_is_served_on_the_serve_thread() -> None:
    with sd.TCPServer() as server, client(server) as sock:
        server.on(REQUEST).reply(REPLY)
        assert exchange(sock) == REPLY
        assert exchange(sock) == REPLY
        assert connection_threads() == [] and serve_threads() == 1
    assert server.recording.connections[0].requests == [REQUEST, REQUEST]


def test_a_second_client_is_served_while_the_first_is_open() -> None:
    with sd.TCPServer() as server:
        server.on(REQUEST).reply(REPLY)
        with client(server) as first:
            assert exchange(first) == REPLY
            with client(server) as second:
                assert exchange(second) == REPLY  # the serve loop was handed over at once
                assert exchange(first) == REPLY  # and the first goes on, on a thread of its own
                assert connection_threads() == ["socketdouble-connection-1", "socketdouble-connection-2"]
                assert serve_threads() == 1
    assert [c.requests for c in server.recording.connections] == [[REQUEST, REQUEST], [REQUEST]]


def test_a_reply_function_added_while_served_inline_runs_off_the_serve_thread() -> None:
    release = threading.Event()

    def held(message: bytes) -> bytes:
        assert release.wait(TIMEOUT), "the test never released the reply"
        return b"LATE\n"

    with sd.TCPServer() as server:
        server.on(REQUEST).reply(REPLY)
        with client(server) as first:
            assert exchange(first) == REPLY  # served inline: no rule could block yet
            server.on(b"HOLD\n").reply(held)
            first.sendall(b"HOLD\n")
            server.wait_for_requests(2, timeout=TIMEOUT)
            with client(server) as second:
                assert exchange(second) == REPLY  # served while the first's reply function waits
            release.set()
            assert first.recv(100) == b"LATE\n"


def test_a_delayed_reply_does_not_hold_back_the_next_client() -> None:
    with sd.TCPServer() as server:
        server.on(b"SLOW\n").reply(b"LATE\n", delay=60)  # stop() cuts the wait short
        server.on(REQUEST).reply(REPLY)
        with client(server) as first:
            first.sendall(b"SLOW\n")
            server.wait_for_requests(1, timeout=TIMEOUT)
            with client(server) as second:
                assert exchange(second) == REPLY


def test_a_client_that_never_reads_does_not_hold_back_the_next_one() -> None:
    big = b"x" * (8 * 1024 * 1024)  # more than the socket buffers hold
    with sd.TCPServer() as server:
        server.on(b"BIG\n").reply(big)
        server.on(REQUEST).reply(REPLY)
        with client(server) as first:
            first.sendall(b"BIG\n")
            server.wait_for_requests(1, timeout=TIMEOUT)
            with client(server) as second:
                assert exchange(second) == REPLY
            assert len(exchange(first, b"", len(big))) == len(big)  # nothing was lost meanwhile


def wait_for_fault(record: ConnectionRecord) -> None:
    """Wait (bounded) until a fault acted on ``record``: nothing announces it, so look every 5 ms."""
    deadline = time.monotonic() + TIMEOUT
    while not record.faults:
        assert time.monotonic() < deadline, "no fault acted"
        threading.Event().wait(0.005)


@pytest.mark.parametrize("direction", ["to_client", "from_client"])
def test_a_fault_added_while_served_inline_moves_the_connection_off_the_serve_thread(
    direction: Literal["to_client", "from_client"],
) -> None:
    with sd.TCPServer() as server:
        server.on(REQUEST).reply(REPLY)
        with client(server) as first:
            assert exchange(first) == REPLY
            # The first connection's bytes wait a minute (stop() cuts it short); the second's do not.
            server.faults.append(sd.faults.latency(60, direction=direction, connections=[1]))
            first.sendall(REQUEST)
            wait_for_fault(server.recording.connections[0])
            with client(server) as second:
                assert exchange(second) == REPLY


def test_a_long_conversation_is_handed_to_a_worker() -> None:
    with sd.TCPServer() as server, client(server) as sock:
        server.on(REQUEST).reply(REPLY)
        for _ in range(INLINE_READS - 1):
            assert exchange(sock) == REPLY
        assert connection_threads() == []
        assert exchange(sock) == REPLY
        assert exchange(sock) == REPLY
        assert connection_threads() == ["socketdouble-connection-1"]
    assert len(server.recording.connections[0].requests) == INLINE_READS + 1


def test_stop_ends_a_connection_served_inline_and_keeps_what_it_sent() -> None:
    server = sd.TCPServer().start()
    with client(server) as sock:
        sock.sendall(REQUEST)
        server.wait_for_requests(1, timeout=TIMEOUT)
        sock.sendall(b"LAST\n")
        server.stop()
        assert serve_threads() == 0 and connection_threads() == []
    assert server.recording.connections[0].requests[-1] == b"LAST\n"


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


@pytest.mark.parametrize(
    ("make", "inline"),
    [
        (lambda: sd.TCPServer(), True),
        (lambda: sd.UnixStreamServer(), True),
        (lambda: sd.TCPServer(Echo), False),
        (lambda: sd.TLSServer(), False),
        (lambda: sd.TCPServer(concurrency="serial"), False),
        (lambda: sd.TCPServer(faults=[sd.faults.latency(0.1)]), False),
        (lambda: sd.TCPServer().script(sd.Script().expect(REQUEST).send(REPLY)), False),
    ],
    ids=["tcp", "unix", "handler", "tls", "serial", "faults", "script"],
)
def test_only_plain_rule_servers_serve_inline(make: Callable[[], sd.TCPServer], inline: bool) -> None:
    server = make()
    assert server.serves_inline() is inline
