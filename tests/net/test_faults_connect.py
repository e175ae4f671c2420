"""connect_timeout(): clients' connect() times out while the fault is in the list; the port stays.

On Linux without root the listener's queue is held full: listen(0) admits one
connection, which the server makes itself and never accepts; a TCP client's SYN is
then dropped, a Unix stream client's connect() blocks (EAGAIN when non-blocking).
"""

from __future__ import annotations

import resource
import socket
import threading
from typing import Any

import pytest

import socketdouble as sd

REQUEST = b"PING\n"
REPLY = b"PONG\n"
HELD = "connect_timeout: the listen queue is held full; clients' connect() times out"
RELEASED = "connect_timeout removed: connections are accepted again"


def answering(server: Any) -> Any:
    server.on(REQUEST).reply(REPLY)
    return server


def exchange(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    return sock.recv(100)


def connect(server: Any, timeout: float) -> socket.socket:
    if server.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(server.path)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(server.address, timeout=timeout)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp_connect_times_out_then_succeeds_on_the_same_port(host: str) -> None:
    with answering(sd.TCPServer(host=host)) as server:
        port = server.port
        fault = sd.faults.connect_timeout()
        server.faults.append(fault)
        with pytest.raises(TimeoutError):
            socket.create_connection(server.address, timeout=0.5)
        server.faults.remove(fault)
        assert server.port == port
        with connect(server, 5.0) as sock:
            assert exchange(sock) == REPLY
    # The fillers were accepted and closed unseen: only the real client is a connection.
    assert [c.number for c in server.recording.connections] == [1]
    assert server.recording.server_faults == [HELD, RELEASED]
    assert "~~ fault: " + HELD in server.recording.transcript()
    assert server.errors == []


def test_unix_connect_cannot_get_in_then_the_waiting_client_is_served() -> None:
    with answering(sd.UnixStreamServer()) as server:
        server.faults.append(sd.faults.connect_timeout())
        with pytest.raises(BlockingIOError):  # a client with a timeout: EAGAIN at once
            connect(server, 0.5)
        # A blocking client waits in connect() until the fault is removed, then is served.
        got: list[bytes] = []
        waiting = threading.Thread(target=lambda: got.append(_blocking_exchange(server.path)))
        waiting.start()
        server.faults.clear()
        waiting.join(5.0)
        assert got == [REPLY]
        with connect(server, 5.0) as sock:
            assert exchange(sock) == REPLY
    assert len(server.recording.connections) == 2
    assert server.recording.server_faults == [HELD, RELEASED]


def _blocking_exchange(path: str) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)  # blocks while the queue is held (the test removes the fault)
        sock.settimeout(5.0)
        return exchange(sock)


def test_given_at_construction_it_holds_from_start_and_stop_is_clean() -> None:
    server = answering(sd.TCPServer(faults=[sd.faults.connect_timeout()]))
    with server, pytest.raises(TimeoutError):
        socket.create_connection(server.address, timeout=0.5)
    assert server.recording.connections == []  # no filler ever shows as a connection
    assert server.recording.server_faults == [HELD]
    assert server.errors == []


def test_open_connections_go_on_while_new_ones_cannot_connect() -> None:
    with answering(sd.TCPServer()) as server, connect(server, 5.0) as sock:
        server.wait_for_connections(1)  # accepted (one still queued would wait for the release)
        server.faults.append(sd.faults.connect_timeout())
        assert exchange(sock) == REPLY
        with pytest.raises(TimeoutError):
            socket.create_connection(server.address, timeout=0.5)
        assert exchange(sock) == REPLY


def test_a_held_listener_survives_an_outage() -> None:
    with answering(sd.TCPServer(faults=[sd.faults.connect_timeout()])) as server:
        server.down()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(server.address, timeout=0.5)
        server.up()  # the fault is still in the list: held again on the new listener
        with pytest.raises(TimeoutError):
            socket.create_connection(server.address, timeout=0.5)
        server.faults.clear()
        with connect(server, 5.0) as sock:
            assert exchange(sock) == REPLY
    faults = server.recording.server_faults
    assert faults[0] == HELD and faults[-1] == RELEASED and faults.count(HELD) == 2


def test_connections_queued_before_the_hold_are_served_after_it() -> None:
    server = answering(sd.TCPServer(concurrency="serial"))
    # The serial server is busy with the first client: the second waits in the queue.
    with server, connect(server, 5.0) as first, connect(server, 5.0) as second:
        server.wait_for_connections(1)
        server.faults.append(sd.faults.connect_timeout())
        second.sendall(REQUEST)
        assert exchange(first) == REPLY
        first.close()
        server.faults.clear()  # the second, accepted on release, is served
        assert second.recv(100) == REPLY
    assert len(server.recording.connections) == 2


def test_the_serve_loop_does_not_spin_while_held() -> None:
    with sd.TCPServer(faults=[sd.faults.connect_timeout()]):
        before = resource.getrusage(resource.RUSAGE_SELF)
        threading.Event().wait(0.3)  # a window to measure in, not a synchronisation
        after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert spent < 0.15


def test_connect_timeout_is_for_stream_servers() -> None:
    with pytest.raises(sd.ConfigurationError, match="connect_timeout"):
        sd.UDPServer(faults=[sd.faults.connect_timeout()])
