"""Hardening: the serve loop survives its own errors, stop() is total and safe from two
threads, failed sends are not recorded as sent, TLS probes are not errors, socket paths."""

from __future__ import annotations

import os
import re
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import socketdouble as sd
from tests.helpers import TIMEOUT, connect, datagram_client, recv_until_closed

RESET = struct.pack("ii", 1, 0)


class DispatchFailsOnce(sd.TCPServer):
    failed = False

    def _dispatch(self, conn: socket.socket, peer: Any) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("dispatch broke")
        return super()._dispatch(conn, peer)


def test_an_error_while_dispatching_is_recorded_the_connection_closed_and_serving_goes_on() -> None:
    with DispatchFailsOnce() as server:
        server.on(b"ping\n").reply(b"pong\n")
        with connect(server) as first:
            assert first.recv(10) == b""  # closed at once, not left hanging
        with connect(server) as second:
            second.sendall(b"ping\n")
            assert second.recv(10) == b"pong\n"
    assert [str(e) for e in server.errors] == ["dispatch broke"]


class AcceptLoopFailsOnce(sd.UnixStreamServer):
    failed = False

    def _accept_pending(self) -> bool:
        if not self.failed:
            self.failed = True
            assert self.socket is not None
            conn, _ = self.socket.accept()
            conn.close()
            raise OSError("the loop's own step broke")
        return super()._accept_pending()


def test_an_error_in_the_serve_loop_is_recorded_and_serving_goes_on() -> None:
    with AcceptLoopFailsOnce() as server:
        server.on(b"ping\n").reply(b"pong\n")
        with connect(server) as first:
            assert first.recv(10) == b""
        with connect(server) as second:
            second.sendall(b"ping\n")
            assert second.recv(10) == b"pong\n"
    assert [str(e) for e in server.errors] == ["the loop's own step broke"]
    with pytest.raises(sd.CheckFailed, match="the loop's own step broke"):
        server.check()


class InterruptFails(sd.UnixStreamServer):
    def _interrupt(self) -> None:
        super()._interrupt()
        raise RuntimeError("interrupt broke")

    def _drain_backlog(self) -> None:
        raise RuntimeError("backlog broke")


def test_stop_is_total_when_its_steps_raise() -> None:
    server = InterruptFails().start()
    path = server.path
    assert path is not None and os.path.exists(path)
    server.stop()
    assert server.socket is not None and server.socket.fileno() == -1
    assert server._waker is not None and server._waker.fileno() == -1
    assert not os.path.exists(path)
    assert [str(e) for e in server.errors] == ["interrupt broke", "backlog broke"]
    assert repr(server).endswith("stopped>")


def test_two_threads_stopping_at_once_both_return_when_it_is_stopped() -> None:
    for _ in range(200):
        server = sd.UnixStreamServer().start()
        path = server.path
        assert path is not None
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        seen: list[tuple[str, int, bool]] = []

        def stop(
            server: Any = server,
            path: str = path,
            barrier: threading.Barrier = barrier,
            seen: list[tuple[str, int, bool]] = seen,
        ) -> None:
            barrier.wait()
            server.stop()
            seen.append((server._state, server.socket.fileno(), os.path.exists(path)))

        other = threading.Thread(target=stop)
        other.start()
        stop()
        other.join(TIMEOUT)
        assert seen == [("stopped", -1, False)] * 2


def test_a_reply_function_that_raises_closes_the_connection() -> None:
    with sd.TCPServer() as server:
        server.on(b"boom\n").reply(lambda message: 1 // 0)  # type: ignore[arg-type,return-value]
        with connect(server) as client:
            client.sendall(b"boom\n")
            assert client.recv(10) == b""  # closed: the client does not wait for its timeout
    assert [type(e) for e in server.errors] == [ZeroDivisionError]
    assert server.recording.connections[0].close_reason == "server closed"


def test_a_reply_to_a_client_that_reset_is_not_recorded_as_sent() -> None:
    gate = threading.Event()
    with sd.TCPServer() as server:
        server.on(b"x\n").reply(lambda message: b"late\n" * 100_000 if gate.wait(TIMEOUT) else None)
        client = connect(server)
        client.sendall(b"x\n")
        server.wait_for_requests(1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        client.close()
        gate.set()
    [connection] = server.recording.connections
    assert len(connection.sent) < len(b"late\n" * 100_000)  # not the whole reply
    # the send failed, or stop() (right behind the reset) came first and nothing was sent
    assert re.search(r"could not send|not sent \(", server.recording.transcript())
    server.check()


class LateWriter(socketserver.BaseRequestHandler):
    gate = threading.Event()

    def handle(self) -> None:
        self.request.recv(10)
        self.gate.wait(TIMEOUT)
        self.request.sendall(b"late\n" * 100_000)


def test_a_handler_write_to_a_client_that_reset_is_not_recorded_as_sent() -> None:
    LateWriter.gate = threading.Event()
    with sd.TCPServer(handler=LateWriter) as server:
        client = connect(server)
        client.sendall(b"x\n")
        server.wait_for_requests(1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        client.close()
        LateWriter.gate.set()
    [connection] = server.recording.connections
    assert len(connection.sent) < len(b"late\n" * 100_000)
    assert "could not send" in server.recording.transcript()
    server.check()


def test_a_client_that_keeps_sending_does_not_keep_stop_waiting() -> None:
    server = sd.TCPServer(stop_timeout=0.5).start()
    client = connect(server)
    done = threading.Event()

    def flood() -> None:
        chunk = b"x" * 65536 + b"\n"
        try:
            while not done.is_set():
                client.sendall(chunk)
        except OSError:
            pass  # the server stopped: the flood is over

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        server.wait_for_requests(1)
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    finally:
        done.set()
        client.close()
        flooder.join(TIMEOUT)
    assert elapsed < 1.0
    assert server.errors == []  # no thread outlived stop_timeout
    assert server.recording.connections[0].close_reason == "server stopped"


def test_tls_port_probes_are_not_errors() -> None:
    with sd.TLSServer() as server:
        for _ in range(200):
            socket.create_connection(server.address, timeout=TIMEOUT).close()
        with connect(server, server.client_ssl_context()) as client:  # served after them all
            client.sendall(b"hi\n")
            server.wait_for_requests(1)
    assert server.errors == []
    assert len(server.recording.connections) == 201
    server.check()


def test_stop_while_a_client_idles_in_the_tls_handshake_is_server_stopped() -> None:
    accepted = threading.Event()

    def note_it(request: object, peer: object) -> bool:
        accepted.set()
        return True

    with sd.TLSServer(verify_request=note_it) as server, socket.create_connection(server.address, timeout=5):
        assert accepted.wait(TIMEOUT)
        server.stop()
    assert server.errors == []
    assert server.recording.connections[0].close_reason == "server stopped"


@pytest.mark.parametrize("kind", [sd.UnixStreamServer, sd.UnixDatagramServer])
def test_an_abstract_unix_name_is_served_and_nothing_is_unlinked(kind: Any) -> None:
    name = f"\0socketdouble-test-{os.getpid()}-{kind.__name__}"
    with kind(path=name) as server:
        assert server.address == name
        assert str(server.endpoint).startswith("@socketdouble-test-")
        if server.datagram:
            with datagram_client(server) as client:
                client.sendto(b"hello", name)
                server.wait_for_requests(1)
        else:
            with connect(server) as client:
                client.sendall(b"hello\n")
                server.wait_for_requests(1)
    assert server.errors == []
    with kind(path=name):  # the name is free again
        pass


def test_a_nul_inside_a_path_is_refused() -> None:
    with pytest.raises(sd.ConfigurationError, match="NUL"):
        sd.UnixStreamServer(path="/tmp/a\0b")


def test_stop_removes_only_the_socket_it_created(tmp_path: Path) -> None:
    path = tmp_path / "s"
    server = sd.UnixStreamServer(path=path).start()
    os.unlink(path)
    path.write_text("the user's file")
    server.stop()
    assert path.read_text() == "the user's file"
    with sd.UnixStreamServer(path=tmp_path / "t") as other:
        own = other.path
    assert own is not None and not os.path.exists(own)


class EchoOnce(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(10)
        self.request.send(b"got " + data)


def test_a_handlers_send_is_recorded() -> None:
    with sd.TCPServer(handler=EchoOnce, framing=sd.raw()) as server, connect(server) as client:
        client.sendall(b"hi")
        assert recv_until_closed(client) == b"got hi"
    assert server.recording.connections[0].sent == b"got hi"


class BrokenDatagram(socketserver.DatagramRequestHandler):
    def handle(self) -> None:
        raise RuntimeError(f"cannot handle {self.rfile.read()!r}")


@pytest.mark.parametrize("concurrency", ["thread", "serial"])
def test_a_datagram_handlers_exception_reaches_errors(concurrency: str) -> None:
    with (
        sd.UDPServer(handler=BrokenDatagram, concurrency=concurrency) as server,
        datagram_client(server) as cl,
    ):
        cl.sendto(b"ping", server.address)
        server.wait_for_requests(1)
    assert [str(e) for e in server.errors] == ["cannot handle b'ping'"]
    with pytest.raises(sd.CheckFailed, match="cannot handle"):
        server.check()
