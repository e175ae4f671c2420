"""socketserver handlers run unchanged; their traffic is recorded like any other."""

from __future__ import annotations

import os
import socket
import socketserver

import pytest

import socketdouble as sd
from tests.helpers import connect, datagram_client, recv_until_closed


class UpperHandler(socketserver.StreamRequestHandler):
    """Written for socketserver.ThreadingTCPServer, untouched."""

    def handle(self) -> None:
        for line in self.rfile:
            if line.strip() == b"QUIT":
                self.wfile.write(b"BYE\n")
                return
            self.wfile.write(line.upper())


class RawHandler(socketserver.BaseRequestHandler):
    def setup(self) -> None:
        self.seen: list[bytes] = []

    def handle(self) -> None:
        while data := self.request.recv(4):
            self.seen.append(data)
            self.request.sendall(data[::-1])

    def finish(self) -> None:
        self.request.sendall(b"|%d" % len(self.seen))


class EchoDatagram(socketserver.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"got " + self.rfile.read())


@pytest.mark.parametrize("concurrency", ["thread", "serial"])
@pytest.mark.parametrize("kind", [sd.TCPServer, sd.UnixStreamServer])
def test_a_stream_request_handler_runs_unchanged(
    kind: type[sd.BaseServer], concurrency: sd.Concurrency
) -> None:
    with kind(handler=UpperHandler, concurrency=concurrency) as server, connect(server) as client:
        client.sendall(b"hello\nwor")
        client.sendall(b"ld\nQUIT\n")
        assert recv_until_closed(client) == b"HELLO\nWORLD\nBYE\n"
    assert server.recording.requests == [b"hello\n", b"world\n", b"QUIT\n"]
    [connection] = server.recording.connections
    assert connection.sent == b"HELLO\nWORLD\nBYE\n"
    assert connection.close_reason == "handler returned"
    server.check()


def test_a_base_request_handler_with_setup_and_finish() -> None:
    with sd.TCPServer(handler=RawHandler, framing=sd.raw()) as server, connect(server) as client:
        client.sendall(b"abcd")
        assert client.recv(4) == b"dcba"
        client.shutdown(socket.SHUT_WR)
        assert recv_until_closed(client) == b"|1"
    [connection] = server.recording.connections
    assert connection.received == b"abcd"
    assert connection.sent == b"dcba|1"
    assert connection.close_reason == "client closed"


def test_handler_sees_the_server_and_the_client_address() -> None:
    seen = {}

    class Introspect(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            seen["server"] = self.server
            seen["peer"] = self.client_address
            seen["name"] = self.request.getsockname()
            self.request.sendall(b"done")

    with sd.TCPServer(handler=Introspect) as server, connect(server) as client:
        assert client.recv(10) == b"done"
        assert seen["peer"] == client.getsockname()
    assert seen["server"] is server  # type: ignore[comparison-overlap]
    assert seen["name"] == server.address


def test_text_mode_makefile_works() -> None:
    class Text(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with self.request.makefile("rw", encoding="utf-8", newline="\n") as file:
                line = file.readline()
                file.write(f"len={len(line)}\n")

    with sd.TCPServer(handler=Text) as server, connect(server) as client:
        client.sendall("caf\u00e9\n".encode())
        assert recv_until_closed(client) == b"len=5\n"
    assert server.recording.requests == ["caf\u00e9\n".encode()]


def test_peeking_does_not_record_twice() -> None:
    class Peek(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(3, socket.MSG_PEEK)
            self.request.sendall(self.request.recv(3))

    with sd.TCPServer(handler=Peek, framing=sd.raw()) as server, connect(server) as client:
        client.sendall(b"abc")
        assert recv_until_closed(client) == b"abc"
    assert server.recording.connections[0].received == b"abc"


@pytest.mark.parametrize("kind", [sd.UDPServer, sd.UnixDatagramServer])
@pytest.mark.parametrize("concurrency", ["thread", "serial"])
def test_a_datagram_request_handler_runs_unchanged(
    kind: type[sd.BaseServer], concurrency: sd.Concurrency
) -> None:
    with kind(handler=EchoDatagram, concurrency=concurrency) as server, datagram_client(server) as client:
        client.sendto(b"ping", server.address)
        assert client.recv(100) == b"got ping"
    assert server.recording.requests == [b"ping"]
    assert server.recording.connections[0].sent == b"got ping"
    server.check()


def test_an_unbound_unix_datagram_client_is_recorded_and_the_reply_dropped() -> None:
    with sd.UnixDatagramServer(handler=EchoDatagram, concurrency="serial") as server:
        with datagram_client(server, bind=False) as client:
            client.sendto(b"anon", server.address)
            server.wait_for_requests(1)
        with datagram_client(server) as bound:  # the server keeps serving
            bound.sendto(b"named", server.address)
            assert bound.recv(100) == b"got named"
    first = server.recording.connections[0]
    assert first.peer is None
    assert "reply to an unbound peer dropped" in server.recording.transcript()
    server.check()


def test_wrong_handler_family_is_refused() -> None:
    with pytest.raises(sd.ConfigurationError, match="StreamRequestHandler but this server is a datagram"):
        sd.UDPServer(handler=UpperHandler)
    with pytest.raises(sd.ConfigurationError, match="DatagramRequestHandler but this server is a stream"):
        sd.TCPServer(handler=EchoDatagram)
    with pytest.raises(sd.ConfigurationError, match="is an instance"):
        sd.TCPServer(handler=object.__new__(UpperHandler))


def test_large_datagrams_are_not_truncated() -> None:
    payload = bytes(range(256)) * 200  # 51,200 bytes: socketserver would keep 8,192
    with sd.UDPServer() as server, datagram_client(server) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        client.sendto(payload, server.address)
        assert server.wait_for_requests(1) == [payload]


def test_handler_stderr_is_not_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    class Fails(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            raise KeyError("missing")

    with sd.TCPServer(handler=Fails) as server, connect(server) as client:
        assert client.recv(10) == b""
    assert isinstance(server.errors[0], KeyError)
    assert capsys.readouterr().err == ""
    server.errors.clear()


class BigReads(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1 << 20):
            self.request.sendall(data)


def mappings() -> int:
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="counts the process's memory mappings")
def test_short_reads_into_a_big_buffer_are_recorded_without_a_page_each() -> None:
    # recv(1 MiB) gets a buffer with a memory mapping of its own, shrunk to the bytes read:
    # kept as it is, every recorded 8-byte message would hold a page and a kernel mapping.
    with sd.TCPServer(BigReads, framing=sd.raw()) as server, connect(server) as client:
        before = mappings()
        for n in range(300):
            client.sendall(b"PING%04d" % n)
            assert client.recv(100) == b"PING%04d" % n
        grown = mappings() - before
    assert len(server.recording.connections[0].received) == 300 * 8
    assert grown < 100, f"{grown} more memory mappings after 300 recorded reads"
