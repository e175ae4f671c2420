"""Doubles without pytest: many servers stopped and checked together; record_or_replay."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import socketdouble as sd
from socketdouble.core.cassette import Cassette, DataEvent, RecordedConnection, load, save
from socketdouble.doubles import Doubles, RecordMode
from socketdouble.errors import CassetteMissing, StopFailed
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


def test_a_transcript_already_shown_is_not_repeated_in_the_failure() -> None:
    doubles = Doubles()
    server = doubles.tcp()
    server.on(b"a\n")
    with connect(server) as client:
        client.sendall(b"unexpected\n")
        server.wait_for_requests(1)
    doubles.transcripts_shown.add(id(server))
    with pytest.raises(sd.CheckFailed) as failure:
        doubles.close()
    text = str(failure.value)
    assert "unmatched message" in text and "transcript is in this test's report sections" in text
    assert server.recording.transcript() not in text


class BrokenStop(sd.TCPServer):
    def stop(self) -> None:
        super().stop()
        raise RuntimeError(f"stop of {self.port} broke")


def test_stop_stops_every_server_and_saves_even_when_one_stop_raises(tmp_path: Path) -> None:
    upstream = sd.TCPServer().start()
    upstream.on(b"ping\n").reply(b"pong\n")
    doubles = recording_doubles(tmp_path, "all")
    broken = doubles.add(BrokenStop())
    assert exchange(doubles.record_or_replay(upstream.address, "echo")) == b"pong\n"
    later = doubles.tcp()
    with pytest.raises(RuntimeError, match="broke"):
        doubles.stop()
    assert not broken.running and not later.running
    assert (tmp_path / "echo.json").exists()
    second = Doubles()
    second.add(BrokenStop()), second.add(BrokenStop())
    with pytest.raises(StopFailed, match=r"2 errors while stopping") as failure:
        second.stop()
    assert len(failure.value.errors) == 2
    upstream.stop()


# -- record_or_replay ---------------------------------------------------------------------


def recording_doubles(folder: Path, mode: RecordMode, **kwargs: Any) -> Doubles:
    doubles = Doubles(**kwargs)
    doubles.cassette_dir, doubles.record_mode = folder, mode
    return doubles


def exchange(server: sd.BaseServer, request: bytes = b"ping\n", context: Any = None) -> bytes:
    with connect(server, context) as client:
        client.sendall(request)
        return client.recv(100)


@pytest.fixture
def upstream() -> Iterator[sd.TCPServer]:
    server = sd.TCPServer().start()
    server.on(b"ping\n").reply(b"pong\n")
    server.on(b"again\n").reply(b"once more\n")
    yield server
    server.stop()


def test_record_or_replay_by_mode(tmp_path: Path, upstream: sd.TCPServer) -> None:
    doubles = recording_doubles(tmp_path, "none")
    with pytest.raises(CassetteMissing, match=r"echo\.json does not exist.*record_mode='once'"):
        doubles.record_or_replay(upstream.address, "echo")
    assert not (tmp_path / "echo.json").exists()
    modes: tuple[RecordMode, ...] = ("once", "all", "new_episodes")
    for mode in modes:
        doubles = recording_doubles(tmp_path, mode)
        assert exchange(doubles.record_or_replay(upstream.address, "echo")) == b"pong\n"
        assert isinstance(doubles.servers[0], sd.RecordingProxy)
        doubles.close()
    upstream.stop()
    replaying: tuple[RecordMode, ...] = ("none", "once")
    for mode in replaying:
        doubles = recording_doubles(tmp_path, mode)
        assert exchange(doubles.record_or_replay(upstream.address, "echo")) == b"pong\n"
        assert isinstance(doubles.servers[0], sd.ReplayServer)
        doubles.close()
    assert len(load(tmp_path / "echo.json").connections) == 1


MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all")


@pytest.mark.parametrize("mode", MODES)
def test_the_same_keywords_work_in_every_mode(tmp_path: Path, mode: RecordMode) -> None:
    ca = trustme.CA()
    with sd.TLSServer(ca=ca) as tls_upstream:
        tls_upstream.on(sd.regex(rb"\AGET ")).reply(lambda m: b"value " + m.split()[-1] + b"\n")
        context = tls_upstream.client_ssl_context()
        keywords: dict[str, Any] = dict(
            ignore=[rb"\d+"],
            match="order",
            timing=False,
            report_unused=True,
            redact=[rb"secret"],
            upstream_ssl_context=context,
            upstream_hostname="localhost",
            connect_timeout=2.0,
        )
        with recording_doubles(tmp_path, "all") as doubles:
            proxy = doubles.record_or_replay(tls_upstream.address, "tls", **keywords)
            assert exchange(proxy, b"GET secret 1\n") == b"value 1\n"
        assert load(tmp_path / "tls.json").connections[0].client_turns() == [b"GET ****** 1\n"]
        with recording_doubles(tmp_path, mode) as doubles:
            server = doubles.record_or_replay(tls_upstream.address, "tls", **keywords)
            # replaying (new_episodes too: the turn matches a recorded one): the digits are
            # ignored and the answer is the recorded one
            answer = b"value 2\n" if mode == "all" else b"value 1\n"
            assert exchange(server, b"GET secret 2\n") == answer
        assert isinstance(server, sd.ReplayServer) == (mode in ("none", "once"))


def test_replays_match_by_first_request_and_allow_unused_connections_unless_told(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    with recording_doubles(tmp_path, "all") as doubles:
        proxy = doubles.record_or_replay(upstream.address, "two")
        assert exchange(proxy, b"ping\n") == b"pong\n"
        assert exchange(proxy, b"again\n") == b"once more\n"
    with recording_doubles(tmp_path, "none") as doubles:  # the other order, one left over
        assert exchange(doubles.record_or_replay(upstream.address, "two"), b"again\n") == b"once more\n"
    doubles = recording_doubles(tmp_path, "none")
    replay = doubles.record_or_replay(upstream.address, "two", match="order", report_unused=True)
    assert exchange(replay, b"again\n") == b""
    with pytest.raises(sd.CheckFailed, match=r"never replayed"):
        doubles.close()


def test_a_cassette_of_another_kind_is_named(tmp_path: Path, upstream: sd.TCPServer) -> None:
    save(Cassette("unix", [RecordedConnection(0.0, [DataEvent(0.0, "client", b"x")])]), tmp_path / "c.json")
    for mode in ("none", "new_episodes"):
        doubles = recording_doubles(tmp_path, mode)
        with pytest.raises(sd.ConfigurationError, match=r"holds a 'unix' recording, not kind='tcp'"):
            doubles.record_or_replay(upstream.address, "c")
        doubles.close()


def test_cassette_names_are_file_names() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"cassette name '\.\./x'"):
        Doubles().record_or_replay(("127.0.0.1", 9), "../x")


def test_the_name_defaults_to_the_default_and_is_used_once_per_test(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    with pytest.raises(sd.ConfigurationError, match=r"pass name="):
        Doubles().record_or_replay(upstream.address)
    claimed: list[Path] = []
    doubles = recording_doubles(tmp_path, "once")
    doubles.default_cassette_name = "test_x[a%2Fb]"
    doubles.claim_cassette = claimed.append
    exchange(doubles.record_or_replay(upstream.address))
    with pytest.raises(sd.ConfigurationError, match=r"already used in this test: give each .* own name="):
        doubles.record_or_replay(upstream.address)
    doubles.close()
    assert claimed == [tmp_path / "test_x[a%2Fb].json"]
    assert (tmp_path / "test_x[a%2Fb].json").exists()


# -- nothing worse replaces a cassette ------------------------------------------------------


def recorded(tmp_path: Path, upstream: sd.TCPServer) -> str:
    with recording_doubles(tmp_path, "all") as doubles:
        exchange(doubles.record_or_replay(upstream.address, "echo"))
    return (tmp_path / "echo.json").read_text()


def test_a_failed_test_writes_no_cassette(tmp_path: Path, upstream: sd.TCPServer) -> None:
    before = recorded(tmp_path, upstream)
    doubles = recording_doubles(tmp_path, "all")
    exchange(doubles.record_or_replay(upstream.address, "echo"), b"again\n")
    doubles.close(test_failed=True)  # the test's own failure is the report: no second one
    assert (tmp_path / "echo.json").read_text() == before
    assert doubles.not_written == [
        f"cassette {tmp_path / 'echo.json'} not written: the test did not pass; "
        "the cassette on disk is unchanged"
    ]


def test_a_recording_with_problems_is_not_written(tmp_path: Path, upstream: sd.TCPServer) -> None:
    before = recorded(tmp_path, upstream)
    doubles = recording_doubles(tmp_path, "all", check=False)
    proxy = doubles.record_or_replay(upstream.address, "echo")
    upstream.stop()  # reachable at first, gone when the client comes
    exchange(proxy)
    with pytest.raises(sd.CheckFailed, match=r"echo\.json not written: TCP proxy .* had 1 problem\(s\)"):
        doubles.close()
    assert (tmp_path / "echo.json").read_text() == before


@pytest.mark.parametrize("check", [True, False])
def test_an_empty_recording_writes_nothing_and_fails(
    tmp_path: Path, upstream: sd.TCPServer, check: bool
) -> None:
    doubles = recording_doubles(tmp_path, "once", check=check)
    doubles.record_or_replay(upstream.address, "echo")
    with pytest.raises(sd.CheckFailed, match=r"not written: no connection was recorded .*none was written"):
        doubles.close()
    assert not (tmp_path / "echo.json").exists()


def refused_port() -> tuple[socket.socket, int]:
    """A port bound but not listening: connecting is refused, and nobody else gets it."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]


@pytest.mark.parametrize("mode", ["once", "new_episodes", "all"])
def test_an_unreachable_upstream_fails_at_once_and_writes_nothing(tmp_path: Path, mode: RecordMode) -> None:
    holder, port = refused_port()
    with holder, recording_doubles(tmp_path, mode) as doubles:
        with pytest.raises(
            sd.ConfigurationError,
            match=rf"cannot reach the upstream 127\.0\.0\.1:{port}: connection refused; start it, or "
            r"replay with record_mode='none'",
        ):
            doubles.record_or_replay(("127.0.0.1", port), "echo")
        for kind in ("unix", "unix_dgram"):
            with pytest.raises(sd.ConfigurationError, match=r"/nowhere\.sock: no such socket file"):
                doubles.record_or_replay(str(tmp_path / "nowhere.sock"), f"echo-{kind}", kind=kind)
        assert doubles.servers == []
    assert list(tmp_path.iterdir()) == []


def test_an_upstream_whose_certificate_fails_is_unreachable(tmp_path: Path) -> None:
    with sd.TLSServer(ca=trustme.CA()) as tls_upstream, recording_doubles(tmp_path, "all") as doubles:
        untrusting = trustme.CA()
        context = sd.TLSServer(ca=untrusting).client_ssl_context()
        with pytest.raises(
            sd.ConfigurationError, match=r"the TLS handshake failed \(CERTIFICATE_VERIFY_FAILED"
        ):
            doubles.record_or_replay(tls_upstream.address, "tls", upstream_ssl_context=context)


# -- new_episodes -----------------------------------------------------------------------------


def test_new_episodes_keeps_the_old_connections_in_place_and_adds_new_ones(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    before = recorded(tmp_path, upstream)
    with recording_doubles(tmp_path, "new_episodes") as doubles:  # nothing new: the file is untouched
        exchange(doubles.record_or_replay(upstream.address, "echo"))
    assert (tmp_path / "echo.json").read_text() == before
    with recording_doubles(tmp_path, "new_episodes") as doubles:
        proxy = doubles.record_or_replay(upstream.address, "echo")
        assert exchange(proxy, b"again\n") == b"once more\n"
        assert exchange(proxy, b"ping\n") == b"pong\n"  # as an old one: not added
        assert exchange(proxy, b"ping\n") == b"pong\n"  # a second one: new
    turns = [c.client_turns() for c in load(tmp_path / "echo.json").connections]
    assert turns == [[b"ping\n"], [b"again\n"], [b"ping\n"]]


def test_a_cassette_that_cannot_be_saved_does_not_stop_the_others(
    tmp_path: Path, upstream: sd.TCPServer
) -> None:
    (tmp_path / "first.json").mkdir()  # os.replace cannot put a file there
    doubles = recording_doubles(tmp_path, "all")
    for name in ("first", "second"):
        exchange(doubles.record_or_replay(upstream.address, name))
    with pytest.raises(IsADirectoryError):
        doubles.stop()
    assert len(load(tmp_path / "second.json").connections) == 1
    for leftover in tmp_path.glob("*.tmp"):
        leftover.unlink()


def test_a_misspelt_keyword_is_named_as_the_test_wrote_the_call() -> None:
    with Doubles() as doubles:
        with pytest.raises(
            sd.ConfigurationError, match=r"^tcp\(prot=0\): unknown keyword 'prot'; did you mean 'port'\?$"
        ):
            doubles.tcp(prot=0)
        with pytest.raises(sd.ConfigurationError, match=r"^unix_dgram\(pth='x'\): .*did you mean 'path'\?$"):
            doubles.unix_dgram(pth="x")
        assert doubles.servers == []  # nothing was made, so nothing is left to stop


def test_repr_shows_the_servers() -> None:
    with Doubles() as doubles:
        assert repr(doubles) == "<Doubles record_mode='none': no servers>"
        server = doubles.tcp(name="cache")
        assert repr(doubles) == f"<Doubles record_mode='none': {server!r}>"
        assert repr(server).startswith("<TCPServer 'cache' 127.0.0.1:") and repr(server).endswith(" running>")
