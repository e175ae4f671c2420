"""A served double's recording as a cassette: turns, closes, datagrams, and it replays."""

from __future__ import annotations

import socket

from socketdouble import ReplayServer, TCPServer, UDPServer
from socketdouble.core.cassette import CloseEvent, DataEvent
from socketdouble.core.recording import Recording
from socketdouble.service.recorded_cassette import cassette_of, recording_cassette

TIMEOUT = 5.0


def test_stream_turns_join_and_closes_say_who() -> None:
    with TCPServer() as server:
        server.on(b"a\n").reply(b"1\n")
        server.on(b"bye\n").reply(b"ok\n", close=True)
        with socket.create_connection(server.address, timeout=TIMEOUT) as client:
            client.sendall(b"a\n")
            assert client.recv(100) == b"1\n"
            client.sendall(b"b\n")  # no rule: unmatched, but recorded as the client sent it
            server.wait_for_requests(2)
            client.sendall(b"bye\n")
            assert client.recv(100) == b"ok\n"
            assert client.recv(100) == b""
        server.wait_for_connections(1)
    cassette = cassette_of(server, "tcp")
    (connection,) = cassette.connections
    shape = [(e.side, e.payload if isinstance(e, DataEvent) else e.how) for e in connection.events]
    assert shape[:4] == [("client", b"a\n"), ("server", b"1\n"), ("client", b"b\nbye\n"), ("server", b"ok\n")]
    assert isinstance(connection.events[4], CloseEvent) and shape[4] == ("server", "fin")
    assert connection.server == server.address
    assert connection.client is not None and connection.client[0] == "127.0.0.1"
    times = [event.t for event in connection.events]
    assert times == sorted(times) and times[0] >= 0


def test_datagrams_stay_one_event_each() -> None:
    with UDPServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.on(b"q").reply(b"r")
        client.settimeout(TIMEOUT)
        for _ in range(2):
            client.sendto(b"q", server.address)
            assert client.recv(10) == b"r"
    (connection,) = cassette_of(server, "udp").connections
    assert [(e.side, e.payload) for e in connection.events if isinstance(e, DataEvent)] == [
        ("client", b"q"),
        ("server", b"r"),
        ("client", b"q"),
        ("server", b"r"),
    ]
    assert not any(isinstance(e, CloseEvent) for e in connection.events)


def test_the_cassette_replays() -> None:
    with TCPServer() as server:
        server.on(b"PING\n").reply(b"PONG\n")
        with socket.create_connection(server.address, timeout=TIMEOUT) as client:
            client.sendall(b"PING\n")
            assert client.recv(10) == b"PONG\n"
        server.wait_for_connections(1)
    replay = ReplayServer(cassette_of(server, "tcp"))
    with replay, socket.create_connection(replay.address, timeout=TIMEOUT) as client:
        client.sendall(b"PING\n")
        assert client.recv(10) == b"PONG\n"
    replay.check()


def test_an_empty_recording() -> None:
    assert recording_cassette(Recording(), "unix", "/tmp/s").connections == []
