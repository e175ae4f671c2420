"""Outages: down() closes the listener and resets open connections; up() listens again, same address."""

from __future__ import annotations

import errno
import os
import resource
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, DataEvent, RecordedConnection
from tests.net.test_faults_stream import open_client, read_to_end

REQUEST = b"PING\n"
REPLY = b"PONG\n"
DOWN = "server down: listener closed (new connections refused), {} open connection(s) reset"
UP = "server up: listening again on the same address"
RESET = "server down: connection reset"


def answering(server: Any) -> Any:
    server.on(REQUEST).reply(REPLY)
    return server


def exchange(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    return sock.recv(100)


class Lines(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for _line in self.rfile:
            self.wfile.write(REPLY)


def _cassette() -> Cassette:
    events: list[Any] = [DataEvent(0.0, "client", REQUEST), DataEvent(0.0, "server", REPLY)]
    return Cassette("tcp", [RecordedConnection(0.0, events), RecordedConnection(0.0, list(events))])


STREAM_KINDS: dict[str, Callable[[], Any]] = {
    "tcp": lambda: answering(sd.TCPServer()),
    "ipv6": lambda: answering(sd.TCPServer(host="::1")),
    "unix": lambda: answering(sd.UnixStreamServer()),
    "tls": lambda: answering(sd.TLSServer()),
    "handler": lambda: sd.TCPServer(Lines),
    "serial": lambda: answering(sd.TCPServer(concurrency="serial")),
    "replay": lambda: sd.ReplayServer(_cassette(), report_unused=False),
}


@pytest.mark.parametrize("kind", list(STREAM_KINDS))
def test_down_resets_open_connections_refuses_new_ones_and_up_listens_on_the_same_address(kind: str) -> None:
    tls = kind == "tls"
    with STREAM_KINDS[kind]() as server:
        address = server.address
        with open_client(server, tls=tls, timeout=5) as sock:
            assert exchange(sock) == REPLY
            server.down()
            assert server.is_down
            outcome = read_to_end(sock, 5.0)
        assert outcome.end == ("eof" if kind == "unix" else "reset")  # Unix stream sockets have no RST
        with pytest.raises(ConnectionRefusedError):
            open_client(server, tls=False, timeout=1)
        server.up()
        assert server.address == address and not server.is_down
        with open_client(server, tls=tls, timeout=5) as sock:
            assert exchange(sock) == REPLY
    first, second = server.recording.connections
    assert first.faults == [RESET]
    assert first.close_reason == "fault: reset"
    assert second.faults == [] and second.close_reason != "fault: reset"
    assert server.recording.server_faults == [DOWN.format(1), UP]
    assert server.errors == []


def test_outage_is_down_then_up() -> None:
    with answering(sd.TCPServer()) as server:
        with server.outage() as same:
            assert same is server and server.is_down
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(server.address, timeout=1)
        with open_client(server, tls=False, timeout=5) as sock:
            assert exchange(sock) == REPLY
    assert server.recording.server_faults == [DOWN.format(0), UP]


def test_outage_does_not_bring_a_stopped_server_up() -> None:
    server = answering(sd.TCPServer()).start()
    with server.outage():
        server.stop()
    assert not server.running and server.is_down


@pytest.mark.parametrize("call", ["down", "up"])
def test_down_and_up_need_a_running_server(call: str) -> None:
    server = sd.TCPServer()
    with pytest.raises(sd.ServerStateError, match=rf"{call}\(\) on .* this one is new"):
        getattr(server, call)()
    server.start()
    server.stop()
    with pytest.raises(sd.ServerStateError, match=rf"{call}\(\) on .* this one is stopped"):
        getattr(server, call)()


def test_down_twice_and_up_when_up_do_nothing() -> None:
    with sd.TCPServer() as server:
        server.up()
        server.down()
        server.down()
        server.up()
        server.up()
    assert server.recording.server_faults == [DOWN.format(0), UP]


def test_stop_while_down_leaves_nothing_behind() -> None:
    server = answering(sd.UnixStreamServer()).start()
    path = server.path
    server.down()
    assert os.path.exists(path)  # a crashed server's file stays: clients get ECONNREFUSED
    server.stop()
    assert not os.path.exists(path)
    assert server.errors == []


def test_a_delayed_reply_in_flight_is_reset_at_once() -> None:
    with sd.TCPServer() as server, open_client(server, tls=False, timeout=5) as sock:
        server.on(REQUEST).reply(REPLY, delay=30)
        sock.sendall(REQUEST)
        server.wait_for_requests(1)
        start = time.monotonic()
        server.down()
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
        assert time.monotonic() - start < 1.0
    [record] = server.recording.connections
    assert record.sent == b""
    assert record.close_reason == "fault: reset"


def test_a_blackholed_connection_is_reset_too() -> None:
    server = answering(sd.TCPServer(faults=[sd.faults.blackhole()]))
    with server, open_client(server, tls=False, timeout=5) as sock:
        sock.sendall(REQUEST)
        server.wait_for_requests(1)
        server.down()
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    [record] = server.recording.connections
    assert record.faults == ["blackhole after 0 bytes to the client: nothing more passes", RESET]


def test_forked_connections_are_reset() -> None:
    server = answering(sd.TCPServer(concurrency="fork"))
    with server, open_client(server, tls=False, timeout=5) as sock:
        assert exchange(sock) == REPLY
        server.down()
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    [record] = server.recording.connections
    assert record.faults == [RESET]
    assert record.close_reason == "fault: reset"


def test_the_serve_loop_does_not_spin_while_down() -> None:
    with sd.TCPServer() as server:
        server.down()
        before = resource.getrusage(resource.RUSAGE_SELF)
        threading.Event().wait(0.3)  # a window to measure in, not a synchronisation
        after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert spent < 0.15


# -- datagram servers ----------------------------------------------------------------------


def test_udp_down_refuses_datagrams_and_up_answers_on_the_same_port() -> None:
    with answering(sd.UDPServer()) as server:
        port = server.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.connect(server.address)  # a connected socket hears of ICMP port unreachable
            client.send(REQUEST)
            assert client.recv(100) == REPLY
            server.down()
            client.send(REQUEST)
            with pytest.raises(ConnectionRefusedError):
                client.recv(100)
            with pytest.raises(sd.ServerStateError, match="down"):
                server.send(b"push", 1)
            server.up()
            assert server.port == port
            client.send(REQUEST)
            assert client.recv(100) == REPLY
    assert server.recording.requests == [REQUEST, REQUEST]
    assert server.recording.server_faults == [DOWN.format(0), UP]


def test_unix_datagram_down_refuses_and_up_binds_the_same_path() -> None:
    with answering(sd.UnixDatagramServer()) as server:
        path = server.path
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.bind("")
            client.settimeout(5)
            server.down()
            with pytest.raises(OSError) as refused:
                client.sendto(REQUEST, path)
            assert refused.value.errno == errno.ECONNREFUSED
            server.up()
            assert server.path == path
            client.sendto(REQUEST, path)
            assert client.recv(100) == REPLY
