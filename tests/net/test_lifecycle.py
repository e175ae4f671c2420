"""Stopping: at once, from anywhere, with nothing left behind, and stuck handlers reported."""

from __future__ import annotations

import socket
import socketserver
import threading

import pytest

import socketdouble as sd
from socketdouble import HandlerError
from tests.helpers import connect, datagram_client


def test_stop_unblocks_connections_waiting_in_recv() -> None:
    server = sd.TCPServer().start()
    clients = [connect(server) for _ in range(50)]
    try:
        for client in clients:
            client.sendall(b"hello\n")
        server.wait_for_requests(50)
        server.stop()
        for client in clients:
            assert client.recv(10) == b""  # the server closed every connection
    finally:
        for client in clients:
            client.close()
    assert all(c.close_reason == "server stopped" for c in server.recording.connections)
    assert server.errors == []


def test_stop_from_inside_a_handler_does_not_deadlock() -> None:
    stopped = threading.Event()

    class Stopper(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(10)
            self.server.stop()  # type: ignore[attr-defined]
            stopped.set()

    server = sd.TCPServer(handler=Stopper).start()
    with connect(server) as client:
        client.sendall(b"stop\n")
        assert stopped.wait(5)
        assert client.recv(10) == b""
    assert not server.running
    server.stop()  # from outside: joins the handler's thread too
    assert server.recording.connections[0].closed
    assert server.recording.requests == [b"stop\n"]


def test_rule_stopping_the_server() -> None:
    server = sd.TCPServer().start()
    server.on(b"bye\n").reply(lambda m: server.stop())
    with connect(server) as client:
        client.sendall(b"bye\n")
        assert client.recv(10) == b""
    assert not server.running
    server.stop()
    assert server.recording.connections[0].close_reason == "server stopped"


def test_a_handler_that_never_returns_is_reported_and_stop_stays_bounded() -> None:
    release = threading.Event()

    class Stuck(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(10)
            release.wait(30)  # ignores the closed connection

    server = sd.TCPServer(handler=Stuck, stop_timeout=0.2).start()
    try:
        with connect(server) as client:
            client.sendall(b"x\n")
            server.wait_for_requests(1)
            server.stop()
        [error] = server.errors
        assert isinstance(error, HandlerError)
        assert "did not return within stop_timeout=0.2s" in str(error)
        with pytest.raises(sd.CheckFailed, match="did not return"):
            server.check()
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("socketdouble-"):
                thread.join(5)


def test_handler_exceptions_reach_errors_and_check() -> None:
    class Broken(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.rfile.readline()
            raise RuntimeError("the handler broke")

    with sd.TCPServer(handler=Broken) as server, connect(server) as client:
        client.sendall(b"go\n")
        # the connection is closed after the handler, and its error recorded before
        assert client.recv(10) == b""
    [error] = server.errors
    assert isinstance(error, RuntimeError)
    with pytest.raises(sd.CheckFailed) as failure:
        server.check()
    message = str(failure.value)
    assert "RuntimeError: the handler broke" in message
    assert "raise RuntimeError" in message  # the traceback
    assert "<- 'go\\n'" in message  # the transcript


def test_check_lists_every_problem_not_the_first() -> None:
    with sd.TCPServer() as server:
        server.on(b"A\n", times=2).reply(b"a\n")
        server.on(b"C\n").reply(lambda m: 1 // 0)  # type: ignore[arg-type,return-value]
        with connect(server) as client:
            client.sendall(b"A\nB\nD\nC\n")  # C last: its failing reply closes the connection
            server.wait_for_requests(4)
            assert client.recv(10) == b"a\n"
    with pytest.raises(sd.CheckFailed) as failure:
        server.check()
    message = str(failure.value)
    assert "4 problem(s)" in message
    assert "ZeroDivisionError" in message
    assert "unmatched message on connection 1" in message and "b'B\\n'" in message and "b'D\\n'" in message
    assert "expected rule not used enough: rule 1: on(b'A\\n', times=2 (used 1))" in message
    with pytest.raises(sd.CheckFailed, match="3 problem"):
        server.check(unused_rules=False)


def test_verify_request_rejects_and_records() -> None:
    def only_first(request: object, address: object) -> bool:
        return not server.recording.connections

    with sd.TCPServer(verify_request=only_first) as server, connect(server) as first:
        with connect(server) as second:
            assert second.recv(10) == b""  # refused: closed at once
        first.sendall(b"ok\n")
        server.wait_for_requests(1)
    assert len(server.recording.rejected) == 1
    assert len(server.recording.connections) == 1
    server.check()


def test_an_exception_in_verify_request_is_recorded_and_serving_goes_on() -> None:
    calls = []

    def flaky(request: object, address: object) -> bool:
        calls.append(address)
        if len(calls) == 1:
            raise ValueError("verify broke")
        return True

    with sd.UDPServer(verify_request=flaky) as server:
        server.on(b"ping").reply(b"pong")
        with datagram_client(server) as client:
            client.sendto(b"ping", server.address)
            client.sendto(b"ping", server.address)
            assert client.recv(10) == b"pong"
    assert [type(e) for e in server.errors] == [ValueError]
    assert len(server.recording.rejected) == 1


def test_a_thousand_connections_are_held_and_stopped() -> None:
    server = sd.TCPServer().start()
    clients: list[socket.socket] = []
    try:
        for _ in range(1000):
            clients.append(socket.create_connection(server.address, timeout=10))
        clients[-1].sendall(b"last\n")
        server.wait_for_requests(1, timeout=20)
        server.stop()
    finally:
        for client in clients:
            client.close()
    assert len(server.recording.connections) == 1000
    assert not [t for t in threading.enumerate() if t.name.startswith("socketdouble-")]


def test_connections_waiting_in_the_backlog_at_stop_are_served_what_they_sent() -> None:
    server = sd.TCPServer(concurrency="serial").start()  # serial: the others wait in the backlog
    server.on(b"two\n").reply(b"2\n")
    with connect(server) as first, connect(server) as second:
        first.sendall(b"one\n")
        server.wait_for_requests(1)
        second.sendall(b"two\nthr")
        with connect(server) as third:
            third.sendall(b"four\n")
        server.stop()
    _, second_record, third_record = server.recording.connections
    assert second_record.requests == [b"two\n"]  # framed and matched, not only received
    assert second_record.received == b"two\nthr"
    assert second_record.close_reason == "server stopped"  # it was still connected
    assert third_record.requests == [b"four\n"]
    assert third_record.close_reason == "client closed"  # it had closed before stop()
    assert "connected as the server stopped" in server.recording.transcript()
    assert server.recording.unmatched == [b"one\n", b"four\n"]


class NoServeThread(sd.TCPServer):
    def _spawn(self, target: object, name: str) -> threading.Thread:
        raise RuntimeError(f"cannot start {name}")


def test_a_start_that_fails_closes_what_it_opened() -> None:
    """The listener and the wake-up descriptor close (the autouse leak check sees any left)."""
    server = NoServeThread()
    with pytest.raises(RuntimeError, match="cannot start serve"):
        server.start()
    assert server.socket is not None and server.socket.fileno() == -1
    assert server._waker is not None and server._waker.fileno() == -1
    server.stop()  # a server that never ran stops as a new one


def test_a_serve_thread_taking_over_watches_the_listener_as_it_is_now() -> None:
    """After an outage moved the listener to another descriptor, a serve thread that takes
    over from one serving a connection inline (net/inline.py) goes on from the wait as it is."""
    with sd.TCPServer() as server:
        server.on(b"PING\n").reply(b"PONG\n")
        old_fd = server._watching[1]
        server.down()
        with socket.socket() as squatter:  # holds the old number: up() listens on another one
            server.up()
            assert server.socket is not None and server.socket.fileno() != old_fd
            with connect(server) as first, connect(server) as second:  # the second takes the loop over
                for sock in (first, second):
                    sock.sendall(b"PING\n")
                    assert sock.recv(10) == b"PONG\n"
            assert squatter.fileno() == old_fd
    assert server.errors == []
    assert [c.requests for c in server.recording.connections] == [[b"PING\n"], [b"PING\n"]]
