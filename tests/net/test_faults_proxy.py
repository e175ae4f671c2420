"""Stream faults in the RecordingProxy: between the client and a real upstream, both ways.

The upstream is this project's own TCPServer echoing each read (``raw()`` framing: one
read, one message), so what the upstream received is its recording's requests. Timing
is asserted by lower bounds and loose upper bounds only (two noisy cores).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trustme

import socketdouble as sd
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection
from socketdouble.core.events import EventKind
from socketdouble.core.fault_spec import Direction, fault_random
from socketdouble.net import pump
from socketdouble.net.episodes import EpisodesProxying, episodes_server
from socketdouble.net.tls import client_context, server_context
from tests.helpers import connect, recv_exactly, recv_until_closed


def echo_upstream(**kwargs: Any) -> sd.TCPServer:
    upstream = sd.TCPServer(framing=sd.raw(), **kwargs)
    upstream.on(sd.ANY).reply(lambda message: message)
    return upstream


@contextmanager
def proxied(*faults: sd.Fault, upstream: sd.BaseServer | None = None, **kwargs: Any) -> Iterator[Any]:
    """A started proxy with ``faults`` in front of ``upstream`` (an echo by default)."""
    server = upstream if upstream is not None else echo_upstream()
    with server:
        if faults:  # none: the proxy starts as one that never had a fault (version 0)
            kwargs["faults"] = list(faults)
        proxy: Any = sd.RecordingProxy(server.address, **kwargs)
        proxy.upstream_server = server
        with proxy:
            yield proxy


def cassette_events(proxy: Any) -> list[tuple[str, str, bytes]]:
    """The cassette's events without their times: ("data", side, bytes) or ("close", side, how)."""
    [connection] = proxy.cassette().connections
    return [
        ("data", e.side, bytes(e.payload)) if isinstance(e, DataEvent) else ("close", e.side, e.how.encode())
        for e in connection.events
    ]


def sent_pieces(record: sd.ConnectionRecord) -> list[bytes]:
    """Each write to the client as the recording shows it."""
    return [event.data for event in record.events if event.kind is EventKind.SEND]


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    """Poll ``condition`` (bounded): for a state the proxy gives no notice of."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def upstream_closed(proxy: Any) -> bool:
    """Has the upstream's (first) connection closed? (It may not be accepted yet.)"""
    [connection] = proxy.upstream_server.wait_for_connections(1)
    return bool(connection.closed)


def bytes_read(proxy: Any, side: str) -> int:
    """How many bytes the proxy has read from ``side`` ("client" or "server") so far."""
    connections = proxy.cassette().connections
    return sum(
        len(event.payload)
        for connection in connections
        for event in connection.events
        if isinstance(event, DataEvent) and event.side == side
    )


def round_trip(client: socket.socket, data: bytes) -> float:
    started = time.monotonic()
    client.sendall(data)
    assert recv_exactly(client, len(data)) == data
    return time.monotonic() - started


@pytest.mark.parametrize("given", [None, []])
def test_a_proxy_that_never_had_a_fault_does_no_fault_work(
    given: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fault work on a proxy with no faults")

    monkeypatch.setattr(pump, "PumpFaults", never)
    upstream = echo_upstream()
    with upstream, sd.RecordingProxy(upstream.address, faults=given) as proxy, connect(proxy) as client:
        assert round_trip(client, b"plain") < 5
    proxy.check()


# -- latency, bandwidth, slicer: what passes, and when ------------------------------------


@pytest.mark.parametrize("direction", ["to_client", "from_client"])
def test_latency_delays_each_chunk(direction: Direction) -> None:
    with proxied(sd.faults.latency(0.3, direction=direction)) as proxy, connect(proxy) as client:
        assert round_trip(client, b"PING\r\n") >= 0.3
        assert round_trip(client, b"PING\r\n") >= 0.3
    [record] = proxy.recording.connections
    toward = "to the client" if direction == "to_client" else "from the client"
    assert record.faults == [f"latency 0.3 s on data {toward}"]


def test_latency_both_ways_adds_up() -> None:
    with (
        proxied(sd.faults.latency(0.2, direction="both")) as proxy,
        connect(proxy) as client,
    ):
        assert round_trip(client, b"x") >= 0.4
    assert proxy.recording.connections[0].faults == [
        "latency 0.2 s on data from the client",
        "latency 0.2 s on data to the client",
    ]


@pytest.mark.parametrize("direction", ["to_client", "from_client"])
def test_bandwidth_is_a_lower_bound_on_the_time_a_known_size_takes(direction: Direction) -> None:
    size, rate = 60_000, 100_000.0  # 0.6 s; the first 0.1 s worth may go at once
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with proxied(sd.faults.bandwidth(rate, direction=direction)) as proxy, connect(proxy) as client:
        elapsed = round_trip(client, payload)
    assert elapsed >= (size - rate * 0.1) / rate
    assert elapsed < 5
    toward = "to the client" if direction == "to_client" else "from the client"
    assert proxy.recording.connections[0].faults == [f"bandwidth 100000.0 bytes/s {toward}"]


def test_slicer_sends_a_reply_in_pieces_apart() -> None:
    with proxied(sd.faults.slicer(3, delay=0.15)) as proxy, connect(proxy) as client:
        client.sendall(b"0123456789")
        reads: list[bytes] = []
        while sum(len(read) for read in reads) < 10:
            reads.append(client.recv(100))
    # Each piece goes 0.15 s after the one before: the client reads them one by one.
    assert reads == [b"012", b"345", b"678", b"9"]
    [record] = proxy.recording.connections
    assert sent_pieces(record) == [b"012", b"345", b"678", b"9"]  # what went out, piece by piece
    assert record.faults == ["slicer: pieces of 3 bytes 0.15 s apart to the client"]


def test_slicer_from_the_client_reaches_the_upstream_in_pieces() -> None:
    with proxied(sd.faults.slicer(4, delay=0.15, direction="from_client")) as proxy, connect(proxy) as client:
        client.sendall(b"0123456789")
        assert recv_exactly(client, 10) == b"0123456789"
    assert proxy.upstream_server.recording.requests == [b"0123", b"4567", b"89"]
    assert proxy.recording.requests == [b"0123456789"]  # what the client sent, as it sent it


# -- endings: close, reset, blackhole, timeout, garbage, slow close ------------------------


def test_close_after_to_the_client_passes_n_bytes_then_fin() -> None:
    with proxied(sd.faults.close_after(4)) as proxy, connect(proxy) as client:
        client.sendall(b"0123456789")
        assert recv_until_closed(client) == b"0123"
        # The upstream heard the client's close (the proxy's FIN) and closed too.
        wait_for(lambda: upstream_closed(proxy))
    [record] = proxy.recording.connections
    assert record.faults == ["close after 4 bytes to the client"]
    assert record.sent == b"0123"
    # The upstream's traffic as it was: all ten bytes, then the client's close as it saw it.
    assert cassette_events(proxy) == [
        ("data", "client", b"0123456789"),
        ("data", "server", b"0123456789"),
        ("close", "client", b"fin"),
        ("close", "server", b"fin"),
    ]


def test_close_after_from_the_client_lets_the_upstream_see_n_bytes() -> None:
    with (
        proxied(sd.faults.close_after(3, direction="from_client")) as proxy,
        connect(proxy) as client,
    ):
        client.sendall(b"0123456789")
        # The connection closes once the three bytes passed: the echo comes too late.
        assert recv_until_closed(client) == b""
    assert proxy.upstream_server.recording.requests == [b"012"]
    assert proxy.recording.connections[0].faults == ["close after 3 bytes from the client"]


def read_until_reset(client: socket.socket) -> bytes:
    """What the client reads before its connection is reset (the reset is asserted)."""
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            chunk = client.recv(100)
            assert chunk, f"a FIN after {got!r}, not a reset"
            got += chunk
    return got


def test_reset_after_bytes_to_the_client_is_a_real_rst() -> None:
    with proxied(sd.faults.reset(after_bytes=4)) as proxy, connect(proxy) as client:
        client.sendall(b"0123456789")
        assert read_until_reset(client) == b"0123"
    [record] = proxy.recording.connections
    assert record.faults == ["reset after 4 bytes to the client"]
    assert record.close_reason == "fault: reset"
    assert cassette_events(proxy) == [
        ("data", "client", b"0123456789"),
        ("data", "server", b"0123456789"),
        ("close", "client", b"reset"),  # the upstream was reset too
    ]


def test_reset_after_bytes_from_the_client() -> None:
    with (
        proxied(sd.faults.reset(after_bytes=3, direction="from_client")) as proxy,
        connect(proxy) as client,
    ):
        client.sendall(b"0123456789")
        read_until_reset(client)
        proxy.upstream_server.wait_for_requests(1)
    assert proxy.upstream_server.recording.requests[0] == b"012"
    assert proxy.recording.connections[0].faults == ["reset after 3 bytes from the client"]
    assert proxy.recording.connections[0].received == b"0123456789"  # what the client sent


def test_a_reset_with_a_delay_comes_that_much_later() -> None:
    with proxied(sd.faults.reset(after_bytes=2, delay=0.3)) as proxy, connect(proxy) as client:
        started = time.monotonic()
        client.sendall(b"abcd")
        assert read_until_reset(client) == b"ab"
        assert time.monotonic() - started >= 0.3
    assert proxy.recording.connections[0].faults == ["reset after 2 bytes to the client, 0.3 s later"]


@pytest.mark.parametrize("fault", [sd.faults.reset(), sd.faults.refuse()])
def test_a_reset_at_accept_resets_before_anything_passes(fault: sd.Fault) -> None:
    with proxied(fault) as proxy:
        # The reset may come as early as connect() (a busy client sees the handshake end late).
        with pytest.raises(ConnectionResetError), connect(proxy) as client:
            client.sendall(b"hello")
            client.recv(100)
        proxy.wait_for_connections(1)
    text = "reset at accept" if fault.name == "reset" else "refused: reset at accept"
    assert proxy.recording.connections[0].faults == [text]
    assert proxy.upstream_server.recording.requests == []


def test_refuse_added_while_a_connection_is_open_refuses_only_new_ones() -> None:
    with proxied() as proxy, connect(proxy) as client:
        assert round_trip(client, b"one") < 5
        proxy.faults.append(sd.faults.refuse())
        assert round_trip(client, b"two") < 5  # the open connection goes on
        with pytest.raises(ConnectionResetError), connect(proxy) as late:
            late.sendall(b"three")
            late.recv(100)
        proxy.wait_for_connections(2)
    assert [record.faults for record in proxy.recording.connections] == [[], ["refused: reset at accept"]]


def test_a_reset_added_while_the_connection_is_open_is_still_an_rst() -> None:
    with proxied() as proxy, connect(proxy) as client:
        assert round_trip(client, b"one") < 5
        proxy.faults.append(sd.faults.reset(after_bytes=1))
        client.sendall(b"two")
        assert read_until_reset(client) == b"t"
    assert proxy.recording.connections[0].faults == ["reset after 1 bytes to the client"]


def test_blackhole_to_the_client_holds_the_connection_until_the_client_closes() -> None:
    with proxied(sd.faults.blackhole(after_bytes=2)) as proxy, connect(proxy) as client:
        client.sendall(b"abcd")
        assert recv_exactly(client, 2) == b"ab"
        proxy.upstream_server.wait_for_requests(1)
        client.sendall(b"efgh")  # still reaches the upstream
        assert proxy.upstream_server.wait_for_requests(2)[1] == b"efgh"
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):  # nothing more comes, and no close either
            client.recv(100)
        client.shutdown(socket.SHUT_WR)
        [record] = proxy.wait_for_connections(1)
        client.settimeout(5)
        assert client.recv(100) == b""  # the proxy closes once the client did
    assert record.faults == ["blackhole after 2 bytes to the client: nothing more passes"]
    assert record.sent == b"ab"
    assert record.close_reason == "client closed"
    assert [event.text for event in record.events if event.kind is EventKind.NOTE] == [
        "withheld by a fault: 2 byte(s) to the client",  # what came with the two that passed
        "withheld by a fault: 4 byte(s) to the client",
    ]
    data = [(side, payload) for kind, side, payload in cassette_events(proxy) if kind == "data"]
    assert data == [("client", b"abcd"), ("server", b"abcd"), ("client", b"efgh"), ("server", b"efgh")]


def test_blackhole_from_the_client_keeps_the_upstream_from_hearing_more() -> None:
    with (
        proxied(sd.faults.blackhole(after_bytes=3, direction="from_client")) as proxy,
        connect(proxy) as client,
    ):
        client.sendall(b"abcdef")
        assert recv_exactly(client, 3) == b"abc"
        client.sendall(b"ghi")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(100)
    assert proxy.upstream_server.recording.requests == [b"abc"]
    [record] = proxy.recording.connections
    assert record.received == b"abcdefghi"
    assert record.faults == ["blackhole after 3 bytes from the client: nothing more passes"]


def test_timeout_closes_a_blackholed_connection_after_its_seconds() -> None:
    with proxied(sd.faults.timeout(0.3, after_bytes=1)) as proxy, connect(proxy) as client:
        started = time.monotonic()
        client.sendall(b"xyz")
        assert recv_until_closed(client) == b"x"
        assert time.monotonic() - started >= 0.3
    [record] = proxy.recording.connections
    assert record.faults == ["timeout after 1 bytes to the client: nothing more passes, closed 0.3 s later"]
    assert record.close_reason == "fault: closed"


def test_timeout_from_the_client_closes_after_its_seconds() -> None:
    with (
        proxied(sd.faults.timeout(0.3, after_bytes=2, direction="from_client")) as proxy,
        connect(proxy) as client,
    ):
        started = time.monotonic()
        client.sendall(b"xyz")
        assert recv_exactly(client, 2) == b"xy"  # the echo of what passed
        assert recv_until_closed(client) == b""
        assert time.monotonic() - started >= 0.3
    assert proxy.upstream_server.recording.requests == [b"xy"]
    [record] = proxy.recording.connections
    assert record.faults == ["timeout after 2 bytes from the client: nothing more passes, closed 0.3 s later"]
    assert record.close_reason == "fault: closed"


def test_garbage_from_the_client_reaches_the_upstream_instead_of_its_bytes() -> None:
    with (
        proxied(sd.faults.garbage(12, direction="from_client"), seed=1) as proxy,
        connect(proxy) as client,
    ):
        client.sendall(b"PING\r\n")
        assert recv_until_closed(client) == b""  # closed as the garbage went: the echo is too late
        wait_for(lambda: upstream_closed(proxy))
    [junk] = proxy.upstream_server.recording.requests
    assert len(junk) == 12 and junk != b"PING\r\n"
    [record] = proxy.recording.connections
    assert record.faults == ["garbage: 12 random bytes instead of 6 from the client, then close"]
    assert record.received == b"PING\r\n"  # what the client sent
    # The cassette holds what was read from each side: the client's bytes, the upstream's answer.
    assert cassette_events(proxy) == [
        ("data", "client", b"PING\r\n"),
        ("close", "client", b"fin"),
        ("data", "server", junk),
        ("close", "server", b"fin"),
    ]


def test_garbage_replaces_the_reply_then_closes_and_repeats_with_the_seed() -> None:
    got = []
    for _ in range(2):
        with proxied(sd.faults.garbage(16), seed=7) as proxy, connect(proxy) as client:
            client.sendall(b"PING\r\n")
            got.append(recv_until_closed(client))
        [record] = proxy.recording.connections
        assert record.faults == ["garbage: 16 random bytes instead of 6 to the client, then close"]
        assert record.sent == got[-1]  # the recording shows what was sent: the garbage
        notes = [event.text for event in record.events if event.kind is EventKind.NOTE]
        assert notes == ["withheld by a fault: 6 byte(s) to the client"]
    assert len(got[0]) == 16 and got[0] == got[1] and got[0] != b"PING\r\n"


def test_slow_close_delays_the_upstreams_close() -> None:
    upstream = sd.TCPServer(framing=sd.raw())
    upstream.on(b"QUIT").reply(b"bye").close()
    with proxied(sd.faults.slow_close(0.4), upstream=upstream) as proxy:
        with connect(proxy) as client:
            client.sendall(b"QUIT")
            assert recv_exactly(client, 3) == b"bye"
            started = time.monotonic()
            assert client.recv(10) == b""
            assert time.monotonic() - started >= 0.3  # the bye came some time before the close
        [record] = proxy.wait_for_connections(1)
        wait_for(lambda: record.closed)
    assert record.faults == ["slow close: the server's close comes 0.4 s late"]  # once, not twice
    assert record.close_reason == "client closed"


# -- the live list, seeds ------------------------------------------------------------------


def test_faults_added_and_removed_on_an_open_connection_act_from_its_next_chunk() -> None:
    with proxied() as proxy, connect(proxy) as client:
        assert round_trip(client, b"a") < 0.4
        slow = sd.faults.latency(0.4)
        proxy.faults.append(slow)
        assert round_trip(client, b"b") >= 0.4
        proxy.faults.remove(slow)
        assert round_trip(client, b"c") < 0.4
        proxy.faults.append(sd.faults.slicer(1, delay=0.1))
        assert round_trip(client, b"def") >= 0.2
        proxy.faults.clear()
        assert round_trip(client, b"g") < 0.4
    [record] = proxy.recording.connections
    assert record.faults == [
        "latency 0.4 s on data to the client",
        "slicer: pieces of 1 bytes 0.1 s apart to the client",
    ]
    assert record.sent == b"abcdefg"


def test_toxicity_picks_the_same_connections_with_the_same_seed() -> None:
    fault = sd.faults.latency(0.0, toxicity=0.5)
    expected = [fault.chosen(1234, 0, number) for number in range(1, 9)]
    assert True in expected and False in expected  # the seed picks some, not all
    for _ in range(2):
        with proxied(fault, seed=1234) as proxy:
            for _ in range(8):
                with connect(proxy) as client:
                    round_trip(client, b"x")
        picked = [bool(record.faults) for record in proxy.recording.connections]
        assert picked == expected


def test_jitter_draws_each_connections_delay_from_the_seed() -> None:
    # Seed 3 draws 0.507, 0.052 and 0.229 s for connections 1, 2 and 3: far apart.
    fault = sd.faults.latency(0.3, jitter=0.25)
    with proxied(fault, seed=3) as proxy:
        for number in (1, 2, 3):
            expected = 0.3 + fault_random(3, fault, 0, number, "to_client").uniform(-0.25, 0.25)
            with connect(proxy) as client:
                elapsed = round_trip(client, b"x")
            assert expected - 0.01 <= elapsed < expected + 0.2, (number, expected, elapsed)
    assert [record.faults for record in proxy.recording.connections] == [
        ["latency 0.3 s ± 0.25 s on data to the client"]
    ] * 3


# -- stop() with faults in flight ------------------------------------------------------------


def test_stop_is_prompt_with_a_blackholed_and_a_delayed_connection() -> None:
    upstream = echo_upstream().start()
    proxy = sd.RecordingProxy(
        upstream.address,
        faults=[sd.faults.blackhole(connections=[1]), sd.faults.latency(30, connections=[2])],
    ).start()
    try:
        with connect(proxy) as hung, connect(proxy) as slow:
            hung.sendall(b"one")
            slow.sendall(b"two")
            upstream.wait_for_requests(2)
            wait_for(
                lambda: (
                    len(proxy.cassette().connections) == 2
                    and all(len(c.events) >= 2 for c in proxy.cassette().connections)
                )
            )
            started = time.monotonic()
            proxy.stop()
            assert time.monotonic() - started < 1.0
            assert hung.recv(10) == b"" and slow.recv(10) == b""
    finally:
        proxy.stop()
        upstream.stop()
    proxy.check()
    assert [record.close_reason for record in proxy.recording.connections] == ["server stopped"] * 2
    notes = [
        e.text for record in proxy.recording.connections for e in record.events if e.kind is EventKind.NOTE
    ]
    assert sorted(notes) == [
        "not sent (3 byte(s)): the connection ended while a fault held them",  # the delayed one
        "withheld by a fault: 3 byte(s) to the client",  # the blackholed one
    ]


def test_stop_is_prompt_when_both_directions_hold_delayed_bytes_over_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Neither socket is read (both directions are over the bound) nor written (nothing is
    # due): only the wake socket stop() shuts down ends the wait for the next piece.
    monkeypatch.setattr(pump, "QUEUE_LIMIT", 4096)
    monkeypatch.setattr(pump, "READ_SIZE", 4096)
    upstream = sd.TCPServer(framing=sd.raw())
    upstream.on_connect().reply(b"d" * 65536)
    with upstream:
        proxy = sd.RecordingProxy(upstream.address, faults=[sd.faults.latency(30, direction="both")]).start()
        try:
            with connect(proxy) as client:
                client.sendall(b"u" * 65536)

                wait_for(lambda: min(bytes_read(proxy, "client"), bytes_read(proxy, "server")) >= 4096)
                started = time.monotonic()
                proxy.stop()
                assert time.monotonic() - started < 1.0
        finally:
            proxy.stop()
    proxy.check()


# -- the cassette keeps the upstream's traffic as it was --------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        sd.faults.slicer(2, variation=1, delay=0.01),
        sd.faults.latency(0.1, jitter=0.05, direction="both"),
        sd.faults.garbage(16),
        sd.faults.slicer(3, direction="from_client"),
        sd.faults.bandwidth(2000, direction="both"),
    ],
)
def test_the_cassette_is_the_same_with_and_without_a_fault(fault: sd.Fault) -> None:
    def record(*faults: sd.Fault) -> list[tuple[str, str, bytes]]:
        with proxied(*faults) as proxy:
            with connect(proxy) as client:
                client.sendall(b"PING hello\r\n")
                if faults and faults[0].name == "garbage":
                    recv_until_closed(client)
                else:
                    recv_exactly(client, 12)
            wait_for(lambda: upstream_closed(proxy))
        return cassette_events(proxy)

    plain = record()
    assert plain == [
        ("data", "client", b"PING hello\r\n"),
        ("data", "server", b"PING hello\r\n"),
        ("close", "client", b"fin"),
        ("close", "server", b"fin"),
    ]
    assert record(fault) == plain


@pytest.mark.parametrize("direction", ["to_client", "from_client"])
def test_a_delayed_direction_still_holds_back_its_source(
    direction: Direction, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pieces a fault holds count against the direction's bound: once it is over, the
    # proxy reads no more from that side, however much the side has to send.
    monkeypatch.setattr(pump, "QUEUE_LIMIT", 8192)
    monkeypatch.setattr(pump, "READ_SIZE", 4096)
    total = 2 << 20
    upstream = sd.TCPServer(framing=sd.raw())
    if direction == "to_client":
        upstream.on_connect().reply(b"d" * total)
    fault = sd.faults.bandwidth(200_000, direction=direction)
    with proxied(fault, upstream=upstream) as proxy, connect(proxy) as client:
        if direction == "from_client":
            sender = threading.Thread(target=lambda: client.sendall(b"u" * total))
            sender.start()
            wait_for(lambda: len(b"".join(upstream.recording.requests)) >= 50_000)
            passed, read = len(b"".join(upstream.recording.requests)), bytes_read(proxy, "client")
        else:
            got = bytearray()
            while len(got) < 50_000:
                got += client.recv(65536)
            passed, read = len(got), bytes_read(proxy, "server")
        # Read: what passed, the bound, a read, and what passed meanwhile (0.1 s worth).
        assert read <= passed + 8192 + 4096 + 20_000
        proxy.stop()
        if direction == "from_client":
            sender.join(10)


# -- TLS to the client; new_episodes ----------------------------------------------------------

CLIENT_CA = trustme.CA()


def test_faults_act_on_the_plaintext_of_a_tls_client() -> None:
    with (
        proxied(
            sd.faults.slicer(2, delay=0.1),
            sd.faults.reset(after_bytes=5),
            ssl_context=server_context(CLIENT_CA),
        ) as proxy,
        connect(proxy, client_context(CLIENT_CA)) as client,
    ):
        client.sendall(b"abcdefgh")
        reads = [client.recv(100), client.recv(100), client.recv(100)]
        # Python's ssl reads an RST under TLS as an unexpected EOF (suppressed: b"").
        assert client.recv(100) == b""
    assert reads == [b"ab", b"cd", b"e"]  # each piece its own TLS record
    [record] = proxy.recording.connections
    assert record.close_reason == "fault: reset"
    assert record.faults == [
        "slicer: pieces of 2 bytes 0.1 s apart to the client",
        "reset after 5 bytes to the client",
    ]
    assert cassette_events(proxy)[:2] == [("data", "client", b"abcdefgh"), ("data", "server", b"abcdefgh")]


def test_new_episodes_applies_faults_to_the_connections_it_forwards() -> None:
    old = Cassette(
        "tcp",
        [RecordedConnection(0.0, [DataEvent(0.0, "client", b"old\n"), DataEvent(0.0, "server", b"OLD\n")])],
    )
    upstream = echo_upstream().start()
    try:
        server = episodes_server(old, upstream.address, faults=[sd.faults.latency(0.3)], seed=5)
        with server, connect(server) as client:
            assert round_trip(client, b"new\n") >= 0.3
    finally:
        upstream.stop()
    [record] = server.recording.connections
    assert record.faults == ["latency 0.3 s on data to the client"]
    assert isinstance(server, EpisodesProxying)
    [new] = server.new_cassette().connections
    assert [(e.side, bytes(e.payload)) for e in new.events if isinstance(e, DataEvent)] == [
        ("client", b"new\n"),
        ("server", b"new\n"),
    ]


def test_faults_through_a_unix_stream_proxy() -> None:
    upstream = sd.UnixStreamServer(framing=sd.raw())
    upstream.on(sd.ANY).reply(lambda message: message)
    faults = [sd.faults.slicer(2, delay=0.1), sd.faults.close_after(5)]
    with proxied(*faults, upstream=upstream, kind="unix") as proxy, connect(proxy) as client:
        client.sendall(b"abcdefgh")
        reads = [client.recv(100) for _ in range(4)]
    assert reads == [b"ab", b"cd", b"e", b""]
    assert proxy.recording.connections[0].faults == [
        "slicer: pieces of 2 bytes 0.1 s apart to the client",
        "close after 5 bytes to the client",
    ]


def test_down_resets_a_proxied_connection_a_fault_is_holding_and_up_serves_again() -> None:
    with proxied(sd.faults.latency(0.3)) as proxy:
        with connect(proxy) as client:
            client.sendall(b"held")
            wait_for(lambda: bytes_read(proxy, "server") == 4)  # its echo is in the proxy's hands
            proxy.down()
            with pytest.raises(ConnectionResetError):
                client.recv(10)
        proxy.up()
        with connect(proxy) as client:
            assert round_trip(client, b"again") >= 0.3
        first, _ = proxy.wait_for_connections(2)
        wait_for(lambda: first.closed)
    assert first.faults == ["latency 0.3 s on data to the client", "server down: connection reset"]
    assert first.close_reason == "fault: reset"
    last = proxy.cassette().connections[0].events[-1]
    assert isinstance(last, CloseEvent) and (last.side, last.how) == ("client", "reset")
