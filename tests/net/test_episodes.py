"""new_episodes: recorded connections replay, new ones go to the upstream and are recorded."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, save
from socketdouble.errors import ConfigurationError
from socketdouble.net.episodes import episodes_server
from tests.helpers import connect, recv_until_closed


@pytest.fixture
def upstream() -> Iterator[sd.TCPServer]:
    server = sd.TCPServer()
    server.on(sd.prefix(b"GET ")).reply(lambda m: b"live " + m[4:])
    with server:
        yield server


def cassette_file(tmp_path: Path, *connections: RecordedConnection, kind: str = "tcp") -> Path:
    path = tmp_path / "old.json"
    save(Cassette(kind, list(connections)), path)
    return path


def recorded(request: bytes, answer: bytes) -> RecordedConnection:
    return RecordedConnection(
        0.0,
        [
            DataEvent(0.0, "client", request),
            DataEvent(0.001, "server", answer),
            CloseEvent(0.002, "client", "fin"),
        ],
    )


def ask(server: sd.BaseServer, *writes: bytes) -> bytes:
    with connect(server) as client:
        for data in writes:
            client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        return recv_until_closed(client)


def test_a_recorded_first_turn_replays_and_anything_else_is_forwarded_and_recorded(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    path = cassette_file(tmp_path, recorded(b"GET a\n", b"recorded a\n"))
    with episodes_server(path, upstream.address) as server:
        assert ask(server, b"GET a\n") == b"recorded a\n"
        assert ask(server, b"GET b\n") == b"live b\n"
        # the recorded one is used: the same request again is new
        assert ask(server, b"GET ", b"a\n") == b"live a\n"
    server.check()
    assert upstream.recording.requests == [b"GET b\n", b"GET a\n"]
    new = server.new_cassette()  # type: ignore[attr-defined]
    assert [c.client_turns() for c in new.connections] == [[b"GET b\n"], [b"GET a\n"]]


def test_a_first_turn_that_only_starts_like_a_recorded_one_goes_to_the_upstream(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    path = cassette_file(tmp_path, recorded(b"GET a\n", b"recorded a\n"))
    with episodes_server(path, upstream.address) as server:
        assert ask(server, b"GET a", b"bc\n") == b"live abc\n"
    server.check()
    assert [c.client_turns() for c in server.new_cassette().connections] == [[b"GET abc\n"]]  # type: ignore[attr-defined]


def test_a_client_that_says_nothing_is_neither_replayed_nor_recorded(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    path = cassette_file(tmp_path, recorded(b"GET a\n", b"recorded a\n"))
    with episodes_server(path, upstream.address) as server:
        assert ask(server) == b""
    server.check()
    assert server.new_cassette().connections == []  # type: ignore[attr-defined]
    assert upstream.recording.connections == []


def test_unused_old_connections_are_reported_only_when_asked(tmp_path: Path, upstream: sd.TCPServer) -> None:
    path = cassette_file(tmp_path, recorded(b"GET a\n", b"recorded a\n"))
    with episodes_server(path, upstream.address) as quiet:
        pass
    quiet.check()
    with episodes_server(path, upstream.address, report_unused=True) as strict:
        pass
    with pytest.raises(sd.CheckFailed, match="never replayed: 1"):
        strict.check()


def test_datagram_cassettes_and_a_kind_that_differs_are_refused(tmp_path: Path) -> None:
    path = cassette_file(tmp_path, recorded(b"q", b"a"), kind="udp")
    with pytest.raises(ConfigurationError, match="stream cassettes"):
        episodes_server(path, ("127.0.0.1", 9))
    tcp = cassette_file(tmp_path, recorded(b"q", b"a"))
    with pytest.raises(ConfigurationError, match="kind='unix'"):
        episodes_server(tcp, "/nonexistent", kind="unix")
