"""Doubles without pytest: many servers stopped and checked together; record_or_replay."""

from __future__ import annotations

from pathlib import Path

import pytest

import socketdouble as sd
from socketdouble.core.cassette import load
from socketdouble.doubles import Doubles, RecordMode
from socketdouble.errors import CassetteMissing
from tests.helpers import connect


def test_close_stops_every_server_and_reports_all_their_problems() -> None:
    doubles = Doubles()
    first, second = doubles.tcp(), doubles.unix()
    assert doubles.tls().client_ssl_context() is not None
    assert doubles.udp().running and doubles.unix_dgram().running
    first.on(b"a\n")
    second.on(b"b\n")
    for server in (first, second):
        with connect(server) as client:
            client.sendall(b"x\n")
            server.wait_for_requests(1)
    with pytest.raises(sd.CheckFailed) as failure:
        doubles.close()
    assert str(failure.value).count("1 problem(s)") == 2
    assert not any(server.running for server in doubles.servers)


def test_checking_can_be_off() -> None:
    with Doubles(check=False) as doubles:
        server = doubles.tcp()
        server.on(b"a\n", times=1)


def record_and_replay(doubles: Doubles, upstream: sd.BaseServer) -> bytes:
    server = doubles.record_or_replay(upstream.address, "echo")
    with connect(server) as client:
        client.sendall(b"ping\n")
        return client.recv(100)


def test_record_or_replay_by_mode(tmp_path: Path) -> None:
    upstream = sd.TCPServer().start()
    upstream.on(b"ping\n").reply(b"pong\n")
    doubles = Doubles()
    doubles.cassette_dir = tmp_path
    with pytest.raises(CassetteMissing, match=r"echo\.json does not exist.*--socketdouble-record-mode=once"):
        record_and_replay(doubles, upstream)
    modes: tuple[RecordMode, ...] = ("once", "all", "new_episodes")
    for mode in modes:
        doubles = Doubles()
        doubles.cassette_dir, doubles.record_mode = tmp_path, mode
        assert record_and_replay(doubles, upstream) == b"pong\n"
        assert isinstance(doubles.servers[0], sd.RecordingProxy)
        doubles.close()
    upstream.stop()
    replaying: tuple[RecordMode, ...] = ("none", "once")
    for mode in replaying:
        doubles = Doubles()
        doubles.cassette_dir, doubles.record_mode = tmp_path, mode
        assert record_and_replay(doubles, upstream) == b"pong\n"
        assert isinstance(doubles.servers[0], sd.ReplayServer)
        doubles.close()
    assert len(load(tmp_path / "echo.json").connections) == 1


def test_cassette_names_are_file_names() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"cassette name '\.\./x'"):
        Doubles().record_or_replay(("127.0.0.1", 9), "../x")
