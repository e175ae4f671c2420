"""Record pg8000 against a real PostgreSQL once, then replay it with the server gone.

A throwaway cluster (examples/pg_cluster.py) is the upstream; ``Doubles.record_or_replay``
records a cassette in mode ``all`` and replays it in mode ``none``, with the same client
code. The close handshake (the client's Terminate message, then its FIN) must be in every
cassette: a cassette without it replays a connection that never ends.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pg8000.native  # type: ignore[import-untyped]  # pg8000 ships no type information
import pytest

from examples import pg_cluster
from examples.pg_cluster import Cluster, throwaway_cluster
from socketdouble.core.cassette import CassetteEvent, CloseEvent, DataEvent, load
from socketdouble.doubles import Doubles, RecordMode
from socketdouble.errors import CheckFailed

TERMINATE = b"X\x00\x00\x00\x04"  # the frontend's Terminate message: 'X', length 4
FRUIT = [(1, "apple"), (2, "banana"), (3, "cherry")]
CYCLES = 20
PASSWORD = "s3cret"
MD5_HASH = rb"md5[0-9a-f]{32}"  # the client's answer to an MD5 password request


@pytest.fixture
def postgres() -> Iterator[Cluster]:
    """A running throwaway cluster with trust auth (stopped and removed afterwards)."""
    with throwaway_cluster() as cluster:
        cluster.start()
        yield cluster


def session(port: int) -> list[Any]:
    """What an application does: make a table, fill it, read it back, close."""
    connection = pg8000.native.Connection("postgres", host="127.0.0.1", port=port, timeout=5)
    try:
        # A temporary table is the session's own: every recording starts from the same state.
        connection.run("CREATE TEMP TABLE fruit (id integer PRIMARY KEY, name text NOT NULL)")
        for number, name in FRUIT:
            connection.run("INSERT INTO fruit VALUES (:number, :name)", number=number, name=name)
        return [
            connection.run("SELECT id, name FROM fruit ORDER BY id"),
            connection.run("SELECT count(*) FROM fruit WHERE name LIKE :pattern", pattern="%an%"),
        ]
    finally:
        connection.close()


def run_session(mode: RecordMode, folder: Path, name: str, upstream_port: int) -> list[Any]:
    """``session`` through ``record_or_replay`` in ``mode``; the doubles are stopped and checked."""
    doubles = Doubles()
    doubles.cassette_dir = folder
    doubles.record_mode = mode
    with doubles:  # leaving stops every server, saves the recording and runs check()
        server = doubles.record_or_replay(("127.0.0.1", upstream_port), name)
        assert server.port is not None
        return session(server.port)


def run_session_with(client: Callable[[int], list[Any]], folder: Path, name: str) -> list[Any]:
    """Replay cassette ``name`` to ``client``; the replay is stopped and checked."""
    doubles = Doubles()
    doubles.cassette_dir = folder
    with doubles:  # record_mode "none": replay only
        replay = doubles.record_or_replay(("127.0.0.1", 1), name)
        assert replay.port is not None
        try:
            return client(replay.port)
        except (pg8000.native.InterfaceError, pg8000.native.DatabaseError):
            return []  # the replay closed the connection; check() at the end says why


def missing_close(events: list[CassetteEvent]) -> str | None:
    """What the client's close handshake lacks (None: whole): it is Terminate, then FIN."""
    client = [event for event in events if event.side == "client"]
    closes = [event for event in client if isinstance(event, CloseEvent)]
    data = [event for event in client if isinstance(event, DataEvent)]
    if not data or not data[-1].payload.endswith(TERMINATE):
        return f"no Terminate (last client bytes {data[-1].payload[-12:] if data else b''!r})"
    if not closes:
        return "Terminate but no client FIN"
    if closes != [client[-1]] or closes[0].how != "fin":
        return f"the client's close is {closes[0].how!r}, not a FIN after Terminate"
    return None


def refused(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_record_then_replay_postgres(postgres: Cluster, tmp_path: Path) -> None:
    live = run_session("all", tmp_path, "fruit", postgres.port)
    assert live == [[[1, "apple"], [2, "banana"], [3, "cherry"]], [[1]]]
    postgres.stop()  # no upstream from here on
    assert refused(postgres.port)
    [connection] = load(tmp_path / "fruit.json").connections
    # The client's Terminate and FIN reach the cassette even when stop() comes right after
    # them (they are in the kernel's buffers, and the proxy drains those at stop).
    assert missing_close(connection.events) is None, missing_close(connection.events)

    assert run_session("none", tmp_path, "fruit", postgres.port) == live


def test_the_close_handshake_is_recorded_every_time(postgres: Cluster, tmp_path: Path) -> None:
    for cycle in range(CYCLES):
        run_session("all", tmp_path, f"cycle-{cycle}", postgres.port)
    postgres.stop()
    # A recording that lost the Terminate or the FIN is reported, not replayed: its replay
    # would wait for a close that the cassette does not have.
    lost = {}
    for cycle in range(CYCLES):
        [connection] = load(tmp_path / f"cycle-{cycle}.json").connections
        problem = missing_close(connection.events)
        if problem is not None:
            lost[cycle] = problem
    assert lost == {}, f"{len(lost)} of {CYCLES} recordings lost the close handshake: {lost}"
    for cycle in range(CYCLES):
        assert run_session("none", tmp_path, f"cycle-{cycle}", postgres.port)[0][2] == [3, "cherry"]


def password_session(port: int) -> list[Any]:
    connection = pg8000.native.Connection(
        "postgres", host="127.0.0.1", port=port, password=PASSWORD, timeout=5
    )
    try:
        rows: list[Any] = connection.run("SELECT 1 + 1")
        return rows
    finally:
        connection.close()


def test_md5_auth_replays_with_the_hash_redacted(tmp_path: Path) -> None:
    # The server's salt is random per connection, but the replay sends the recorded salt,
    # so the client computes the recorded hash again; redact= keeps it out of the cassette.
    with throwaway_cluster(host_auth="md5") as cluster:
        cluster.start()
        cluster.set_password(PASSWORD, "md5")
        doubles = Doubles()
        doubles.cassette_dir = tmp_path
        doubles.record_mode = "all"
        with doubles:
            proxy = doubles.record_or_replay(("127.0.0.1", cluster.port), "md5", redact=[MD5_HASH])
            assert proxy.port is not None
            assert password_session(proxy.port) == [[2]]
    [connection] = load(tmp_path / "md5.json").connections
    payloads = [event.payload for event in connection.events if isinstance(event, DataEvent)]
    assert b"R\x00\x00\x00\x0c\x00\x00\x00\x05" in [p[:9] for p in payloads]  # AuthenticationMD5Password
    assert not any(re.search(MD5_HASH, payload) for payload in payloads)
    # This replay's check() would also fail if the recording had lost the Terminate
    # ("unmatched 5 bytes ... X").
    assert run_session_with(password_session, tmp_path, "md5") == [[2]]


def test_scram_auth_cannot_be_replayed(tmp_path: Path) -> None:
    with throwaway_cluster(host_auth="scram-sha-256") as cluster:
        cluster.start()
        cluster.set_password(PASSWORD, "scram-sha-256")
        doubles = Doubles()
        doubles.cassette_dir = tmp_path
        doubles.record_mode = "all"
        with doubles:
            proxy = doubles.record_or_replay(("127.0.0.1", cluster.port), "scram")
            assert proxy.port is not None
            assert password_session(proxy.port) == [[2]]
    # The client's first SCRAM message carries a nonce of its own, new on every run.
    with pytest.raises(CheckFailed) as failure:
        run_session_with(password_session, tmp_path, "scram")
    assert "Pn,,n=postgres,r=" in str(failure.value)
    # The nonce starts at byte 39; both nonces are random hex, so they share their first
    # k digits one run in 16**k: the difference is somewhere in the nonce's first 20 bytes.
    found = re.search(r"first difference at byte (\d+)", str(failure.value))
    assert found is not None, str(failure.value)
    assert 39 <= int(found.group(1)) < 59, str(failure.value)


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_missing_server_skips_locally_and_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(pg_cluster, "find_bindir", lambda: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="PostgreSQL server binaries"), throwaway_cluster():
        pass
