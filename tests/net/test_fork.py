"""concurrency="fork": a child per connection, its traffic and errors in the parent."""

from __future__ import annotations

import errno
import os
import socketserver
import threading
from collections.abc import Callable
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.recording import Recording
from socketdouble.core.rules import RuleBook
from socketdouble.net import fork
from tests.conftest import leaked, open_descriptors
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
    # Each read and its message came up as one event (ChannelSink.on_received_messages), recorded as such.
    assert server.recording.requests == [b"A\n", b"A\n"]
    assert [c.received for c in server.recording.connections] == [b"A\n", b"A\n"]


def test_forked_datagram_handlers() -> None:
    class Echo(socketserver.DatagramRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"pid %d" % os.getpid())

    with sd.UDPServer(handler=Echo, concurrency="fork") as server, datagram_client(server) as client:
        client.sendto(b"x", server.address)
        assert client.recv(100).startswith(b"pid ")
    server.check()
    assert server.recording.requests == [b"x"]


class UntilEof(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while self.request.recv(100):
            pass


@pytest.mark.parametrize("handler", [None, UntilEof], ids=["rules", "handler"])
def test_a_forked_connection_ended_by_stop_is_recorded_as_stopped(handler: Any) -> None:
    server = sd.TCPServer(handler=handler, concurrency="fork").start()
    with connect(server) as client:
        client.sendall(b"open\n")
        server.wait_for_requests(1)
        server.stop()  # the child sees end of file, as it would on the client's close
        assert client.recv(10) == b""
    [connection] = server.recording.connections
    assert connection.close_reason == "server stopped"


def test_a_forked_connection_the_client_closed_before_stop_is_recorded_as_closed() -> None:
    server = sd.TCPServer(concurrency="fork").start()
    with connect(server) as client:
        client.sendall(b"bye\n")
        server.wait_for_requests(1)
    server.stop()  # whether the child saw the close before stop() or not, it was the client's
    [connection] = server.recording.connections
    assert connection.close_reason == "client closed"


def no_fork() -> int:
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")


def test_a_failed_fork_closes_its_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fork", no_fork)
    before = open_descriptors()
    with pytest.raises(OSError, match="Resource temporarily unavailable"):
        fork.fork_child(lambda sink: None, [])
    assert leaked(before, open_descriptors()) == []


def test_a_failed_fork_is_recorded_on_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    before = open_descriptors()
    with sd.TCPServer(concurrency="fork") as server:
        monkeypatch.setattr(os, "fork", no_fork)
        with connect(server) as client:
            assert client.recv(10) == b""
    monkeypatch.undo()
    [connection] = server.recording.connections
    assert connection.close_reason == "server error"
    with pytest.raises(sd.CheckFailed, match="Resource temporarily unavailable"):
        server.check()
    assert leaked(before, open_descriptors()) == []


def test_a_child_whose_watcher_cannot_start_is_killed_and_reaped() -> None:
    def no_thread(target: Callable[[], None], name: str) -> threading.Thread:
        raise RuntimeError(f"{name} cannot start")

    def work(sink: fork.ChannelSink) -> None:
        threading.Event().wait(30)  # killed long before

    record = Recording().open_connection(("127.0.0.1", 1))
    before = open_descriptors()
    children = fork.Children(no_thread)
    with pytest.raises(RuntimeError, match=r"fork-\d+ cannot start"):
        children.fork(work, [], record, RuleBook())
    assert len(children) == 0
    assert leaked(before, open_descriptors()) == []
    with pytest.raises(ChildProcessError):  # reaped: no child of ours is left, not even a zombie
        os.waitpid(-1, os.WNOHANG)
