"""Mistakes a test can make when it sets a double up: refused at once, with the fix named."""

from __future__ import annotations

import socketserver
from pathlib import Path
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, DataEvent, RecordedConnection, save
from socketdouble.net.keywords import accepted_keywords
from tests.helpers import connect, recv_exactly


def tcp_cassette() -> Cassette:
    return Cassette(
        "tcp",
        [RecordedConnection(0.0, [DataEvent(0.0, "client", b"PING\n"), DataEvent(0.1, "server", b"PONG\n")])],
    )


# -- a replay answers from its cassette: rules, greetings, scripts and fork make no sense --


@pytest.mark.parametrize(
    "configure",
    [
        lambda server: server.on(b"PING\n"),
        lambda server: server.on_connect(),
        lambda server: server.script(sd.Script().send(b"hi\n")),
    ],
    ids=["on", "on_connect", "script"],
)
def test_a_replay_refuses_rules_greetings_and_scripts(configure: Any) -> None:
    replay = sd.ReplayServer(tcp_cassette())
    with pytest.raises(sd.ConfigurationError, match="a ReplayServer answers from its cassette"):
        configure(replay)


def test_a_replay_refuses_fork_and_handlers_when_made(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save(tcp_cassette(), path)
    with pytest.raises(
        sd.ConfigurationError, match=r"answers from its cassette: concurrency='fork'.*'thread'"
    ):
        sd.ReplayServer(path, concurrency="fork")
    with pytest.raises(sd.ConfigurationError, match="answers from its cassette: it takes no handler="):
        sd.ReplayServer(path, handler=socketserver.StreamRequestHandler)


def test_a_replay_still_serves_with_thread_and_serial() -> None:
    for concurrency in ("thread", "serial"):
        with sd.ReplayServer(tcp_cassette(), concurrency=concurrency) as replay, connect(replay) as client:
            client.sendall(b"PING\n")
            assert recv_exactly(client, 5) == b"PONG\n"
        replay.check()


# -- a misspelt keyword names the closest valid one ---------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: sd.TCPServer(prot=0), r"TCPServer\(prot=0\): unknown keyword 'prot'; did you mean 'port'\?"),
        (lambda: sd.UDPServer(hots="::1"), "unknown keyword 'hots'; did you mean 'host'"),
        (lambda: sd.UnixStreamServer(pahth="x"), "unknown keyword 'pahth'; did you mean 'path'"),
        (lambda: sd.UnixDatagramServer(framming=None), "did you mean 'framing'"),
        (lambda: sd.TLSServer(client_auht=True), "unknown keyword 'client_auht'; did you mean 'client_auth'"),
        (
            lambda: sd.RecordingProxy(("127.0.0.1", 9), redcat=[b"x"]),
            r"RecordingProxy\(redcat=\[b'x'\]\): unknown keyword 'redcat'; did you mean 'redact'\?",
        ),
        (
            lambda: sd.RecordingProxy("/nowhere", kind="unix", upstream_ssl_contxt=None),
            "'upstream_ssl_context'",
        ),
        (
            lambda: sd.ReplayServer(tcp_cassette(), igonre=[b"x"]),
            "unknown keyword 'igonre'; did you mean 'ignore'",
        ),
    ],
    ids=["tcp", "udp", "unix", "unix_dgram", "tls", "proxy", "unix_proxy", "replay"],
)
def test_a_misspelt_keyword_is_named_with_the_closest_valid_one(make: Any, expected: str) -> None:
    with pytest.raises(sd.ConfigurationError, match=expected):
        make()


def test_a_keyword_like_no_other_lists_the_valid_ones() -> None:
    with pytest.raises(
        sd.ConfigurationError, match=r"unknown keyword 'zzz'; none is close \(TCPServer takes: allow_remote, "
    ):
        sd.TCPServer(zzz=1)


def test_every_keyword_of_the_init_chain_is_accepted() -> None:
    accepted = accepted_keywords(sd.TLSServer)
    assert accepted is not None
    assert {"handler", "port", "framing", "ca", "client_auth", "stop_timeout"} <= accepted
    proxy = accepted_keywords(type(sd.RecordingProxy(("127.0.0.1", 9), kind="udp")))
    assert proxy is not None and {"upstream", "kind", "redact", "port"} <= proxy


def test_a_user_subclass_taking_any_keyword_is_not_second_guessed() -> None:
    class Mine(sd.TCPServer):
        def __init__(self, **kwargs: Any) -> None:
            self.colour = kwargs.pop("colour", None)
            super().__init__(**kwargs)

    assert accepted_keywords(Mine) is None
    assert Mine(colour="red").colour == "red"
