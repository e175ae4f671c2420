"""Datagram faults on the recording proxy: between the client and the real upstream.

The client sees what the faults let through; the upstream sees what the from_client
faults let through; the cassette keeps both sides' datagrams as they were sent, before
faults; the proxy's recording shows what passed, with the fault events beside it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import DataEvent
from socketdouble.core.events import EventKind
from tests.helpers import datagram_client

KINDS = {"udp": sd.UDPServer, "unix_dgram": sd.UnixDatagramServer}
SIZE = 65535


def echo_upstream(kind: str) -> Any:
    upstream = KINDS[kind]()
    upstream.on(sd.ANY).reply(lambda message: message)
    return upstream


def cassette_data(proxy: Any, number: int = 1) -> list[tuple[str, bytes]]:
    connection = proxy.cassette().connections[number - 1]
    return [(event.side, event.payload) for event in connection.events if isinstance(event, DataEvent)]


@pytest.mark.parametrize("kind", KINDS)
def test_to_client_faults_act_on_the_upstreams_answers(kind: str) -> None:
    faults = [sd.faults.truncate(4), sd.faults.duplicate()]
    with echo_upstream(kind) as upstream:
        proxy = sd.RecordingProxy(upstream.address, kind=kind, faults=faults, seed=7)
        with proxy, datagram_client(proxy) as client:
            client.sendto(b"hello world", proxy.address)
            assert [client.recv(SIZE), client.recv(SIZE)] == [b"hell", b"hell"]
    [record] = proxy.recording.connections
    assert record.faults == [
        "truncated datagram 1 to the client from 11 to 4 bytes",
        "duplicated datagram 1 to the client (1 extra)",
    ]
    assert (record.requests, record.sent) == ([b"hello world"], b"hellhell")
    assert cassette_data(proxy) == [("client", b"hello world"), ("server", b"hello world")]
    proxy.check()
    upstream.check()


DROPPED = [4, 5, 8, 9]  # seed 7: drop(0.3, burst=2, direction="from_client", connections=[1]) of 1..10


@pytest.mark.parametrize("kind", KINDS)
def test_from_client_faults_act_before_the_upstream_and_the_cassette_keeps_what_the_client_sent(
    kind: str,
) -> None:
    fault = sd.faults.drop(0.3, burst=2, direction="from_client", connections=[1])
    messages = [b"%d" % i for i in range(1, 11)]
    kept = [m for i, m in enumerate(messages, 1) if i not in DROPPED]
    with echo_upstream(kind) as upstream:
        proxy = sd.RecordingProxy(upstream.address, kind=kind, faults=[fault], seed=7)
        with proxy, datagram_client(proxy) as first, datagram_client(proxy) as second:
            for message in messages:
                first.sendto(message, proxy.address)
            second.sendto(b"end", proxy.address)  # forwarded after all of peer 1's
            assert second.recv(SIZE) == b"end"
            assert [first.recv(SIZE) for _ in kept] == kept
    assert upstream.recording.requests == [*kept, b"end"]
    record = proxy.recording.connections[0]
    assert record.faults == [f"dropped datagram {i} from the client (1 bytes)" for i in DROPPED]
    assert record.requests == kept  # what was forwarded
    logged = cassette_data(proxy)  # the answers interleave with later requests as they came
    assert [payload for side, payload in logged if side == "client"] == messages  # as the client sent them
    assert [payload for side, payload in logged if side == "server"] == kept
    proxy.check()


def test_latency_both_ways_through_the_proxy() -> None:
    with echo_upstream("udp") as upstream:
        fault = sd.faults.latency(0.15, direction="both")
        proxy = sd.RecordingProxy(upstream.address, kind="udp", faults=[fault])
        with proxy, datagram_client(proxy) as client:
            started = time.monotonic()
            client.sendto(b"ping", proxy.address)
            assert client.recv(SIZE) == b"ping"
            assert time.monotonic() - started >= 0.3
    assert proxy.recording.connections[0].faults == [
        "latency 0.15 s on datagrams from the client",
        "latency 0.15 s on datagrams to the client",
    ]
    assert cassette_data(proxy) == [("client", b"ping"), ("server", b"ping")]


def test_reorder_shuffles_the_upstreams_answers() -> None:
    fault = sd.faults.reorder(window=3, max_hold=30.0, connections=[1])  # seed 7: sent as 2, 3, 1
    with echo_upstream("udp") as upstream:
        proxy = sd.RecordingProxy(upstream.address, kind="udp", faults=[fault], seed=7)
        with proxy, datagram_client(proxy) as client:
            for message in (b"one", b"two", b"three"):
                client.sendto(message, proxy.address)
            assert [client.recv(SIZE) for _ in range(3)] == [b"two", b"three", b"one"]
    assert proxy.recording.connections[0].faults == ["reordered datagrams to the client: sent as 2, 3, 1"]
    answers = [payload for side, payload in cassette_data(proxy) if side == "server"]
    assert answers == [b"one", b"two", b"three"]  # as the upstream sent them


def test_faults_added_and_removed_while_the_proxy_runs() -> None:
    with echo_upstream("udp") as upstream:
        proxy = sd.RecordingProxy(upstream.address, kind="udp")
        with proxy, datagram_client(proxy) as first, datagram_client(proxy) as second:
            first.sendto(b"1", proxy.address)
            assert first.recv(SIZE) == b"1"
            proxy.faults.append(sd.faults.drop(direction="from_client", connections=[1]))
            first.sendto(b"2", proxy.address)
            second.sendto(b"x", proxy.address)  # answered once "2" went through the faults
            assert second.recv(SIZE) == b"x"
            proxy.faults.clear()
            first.sendto(b"3", proxy.address)
            assert first.recv(SIZE) == b"3"
    assert proxy.recording.connections[0].faults == ["dropped datagram 2 from the client (1 bytes)"]
    assert upstream.recording.requests == [b"1", b"x", b"3"]
    assert [payload for side, payload in cassette_data(proxy) if side == "client"] == [b"1", b"2", b"3"]


def test_stop_is_prompt_with_datagrams_held_in_the_proxy() -> None:
    fault = sd.faults.latency(30.0, direction="from_client", connections=[1])
    with echo_upstream("udp") as upstream:
        proxy = sd.RecordingProxy(upstream.address, kind="udp", faults=[fault]).start()
        try:
            with datagram_client(proxy) as first, datagram_client(proxy) as second:
                first.sendto(b"held", proxy.address)
                second.sendto(b"ping", proxy.address)  # forwarded once "held" was through the faults
                assert second.recv(SIZE) == b"ping"
                started = time.monotonic()
                proxy.stop()
                assert time.monotonic() - started < 1.0
        finally:
            proxy.stop()
    assert upstream.recording.requests == [b"ping"]
    held = proxy.recording.connections[0]
    assert [e.text for e in held.events if e.kind is EventKind.NOTE] == [
        "a datagram from the client (4 bytes) held by a fault was dropped at stop()"
    ]
    assert cassette_data(proxy) == [("client", b"held")]
    proxy.check()


def test_a_datagram_replay_takes_faults_too() -> None:
    upstream = echo_upstream("udp").start()
    proxy = sd.RecordingProxy(upstream.address, kind="udp")
    with upstream, proxy, datagram_client(proxy) as client:
        client.sendto(b"question", proxy.address)
        assert client.recv(SIZE) == b"question"
    replay = sd.ReplayServer(proxy.cassette(), faults=[sd.faults.duplicate(copies=2)], seed=1)
    with replay, datagram_client(replay) as client:
        client.sendto(b"question", replay.address)
        assert [client.recv(SIZE) for _ in range(3)] == [b"question"] * 3
    assert replay.recording.connections[0].faults == ["duplicated datagram 1 to the client (2 extra)"]
    replay.check()
