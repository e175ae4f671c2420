"""concurrency="fork": a child per connection, its traffic and errors in the parent."""

from __future__ import annotations

import os
import socketserver

import pytest

import socketdouble as sd
from tests.helpers import connect, datagram_client, recv_until_closed

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


class Pid(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        self.wfile.write(b"%d %s" % (os.getpid(), line))


def test_a_forked_handler_reports_back() -> None:
    with sd.TCPServer(handler=Pid, concurrency="fork") as server, connect(server) as client:
        client.sendall(b"who\n")
        pid, line = recv_until_closed(client).split(b" ", 1)
    assert int(pid) != os.getpid()
    assert line == b"who\n"
    [connection] = server.recording.connections
    assert server.recording.requests == [b"who\n"]
    assert connection.sent == pid + b" who\n"
    server.check()


def test_a_forked_child_sees_end_of_file_from_a_same_process_client() -> None:
    class UntilEof(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while chunk := self.request.recv(100):
                data += chunk
            self.request.sendall(b"got %d" % len(data))

    with sd.UnixStreamServer(handler=UntilEof, framing=sd.raw(), concurrency="fork") as server:
        import socket

        with connect(server) as client:
            client.sendall(b"abc")
            client.shutdown(socket.SHUT_WR)
            assert recv_until_closed(client) == b"got 3"


def test_errors_in_a_forked_child_reach_check() -> None:
    class Fails(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            raise ValueError("in the child")

    with sd.TCPServer(handler=Fails, concurrency="fork") as server, connect(server) as client:
        assert client.recv(10) == b""
    # the relay may still be applying the child's last events: stop() joins it
    with pytest.raises(sd.CheckFailed, match="ValueError: in the child"):
        server.check()


def test_rules_in_forked_children_count_in_the_parent() -> None:
    with sd.TCPServer(concurrency="fork") as server:
        server.on(b"A\n", times=2).reply(b"a\n")
        for _ in range(2):
            with connect(server) as client:
                client.sendall(b"A\n")
                assert client.recv(10) == b"a\n"
    server.check()
    assert server.rules.rules[0].used == 2


def test_forked_datagram_handlers() -> None:
    class Echo(socketserver.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"pid %d" % os.getpid())

    with sd.UDPServer(handler=Echo, concurrency="fork") as server, datagram_client(server) as client:
        client.sendto(b"x", server.address)
        assert client.recv(100).startswith(b"pid ")
    server.check()
    assert server.recording.requests == [b"x"]
