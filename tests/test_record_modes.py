"""record_or_replay's rules on their own: keywords, and how new episodes are merged."""

from __future__ import annotations

from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, DataEvent, RecordedConnection
from socketdouble.record_modes import describe_upstream, merge_episodes, recorded_episodes, split_keywords


def connection(*turns: bytes) -> RecordedConnection:
    return RecordedConnection(0.0, [DataEvent(0.0, "client", turn) for turn in turns])


def test_keywords_split_by_who_uses_them() -> None:
    replay, record = split_keywords(dict(ignore=[b"x"], redact=[b"y"], connect_timeout=1, host="::1"))
    assert replay == dict(ignore=[b"x"], host="::1")
    assert record == dict(redact=[b"y"], connect_timeout=1, host="::1")


def test_upstreams_are_named_as_reports_name_them() -> None:
    assert describe_upstream(("127.0.0.1", 6379)) == "127.0.0.1:6379"
    assert describe_upstream(("::1", 6379)) == "[::1]:6379"
    assert describe_upstream("/run/redis.sock") == "/run/redis.sock"


class FakeEpisodes(sd.TCPServer):
    """What EpisodesServer will provide: new_cassette(), only what it recorded."""

    def __init__(self, recorded: Cassette, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorded = recorded

    def new_cassette(self) -> Cassette:
        return self.recorded


def test_the_merge_keeps_every_old_connection_in_place_then_the_new_ones() -> None:
    old = Cassette("tcp", [connection(b"a"), connection(b"b")], [b"s1"])
    # an episodes server recorded a connection identical to an old one: it was not replayed, so it is new
    recorded = Cassette("tcp", [connection(b"c"), connection(b"a")], [b"s1", b"s2"])
    merged = merge_episodes(old, recorded_episodes(FakeEpisodes(recorded), old))
    assert [c.client_turns() for c in merged.connections] == [[b"a"], [b"b"], [b"c"], [b"a"]]
    assert merged.connections[:2] == old.connections
    assert merged.redact == [b"s1", b"s2"]
    with pytest.raises(sd.ConfigurationError, match=r"cannot add a 'udp' recording to a 'tcp' cassette"):
        merge_episodes(old, Cassette("udp"))
