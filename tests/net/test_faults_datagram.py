"""Datagram faults on UDP and Unix datagram servers: per datagram, per peer, both directions.

Seeded outcomes (which datagram is dropped, which bits flip, the shuffled order) are
fixed by ``seed=``: each test asserts the exact events and datagrams of its seed.
"""

from __future__ import annotations

import socket
import socketserver
import time
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.events import EventKind
from socketdouble.core.fault_spec import Flow
from socketdouble.core.recording import ConnectionRecord
from tests.helpers import datagram_client

KINDS = [sd.UDPServer, sd.UnixDatagramServer]
DIRECTIONS: list[Flow] = ["to_client", "from_client"]
TOWARD = {"to_client": "to the client", "from_client": "from the client"}
SIZE = 65535


def echo(kind: type[sd.BaseServer], *faults: sd.faults.Fault, seed: int = 7, **kwargs: Any) -> Any:
    server = kind(faults=list(faults), seed=seed, **kwargs)
    server.on(sd.ANY).reply(lambda message: message)
    return server


def nothing_more(sock: socket.socket) -> bool:
    """True when no datagram waits on ``sock`` (looked at without waiting)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(SIZE)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(timeout)
    return False


def exchange(server: Any, messages: list[bytes], expect: int) -> list[bytes]:
    """Peer 1 sends ``messages``; then peer 2 sends b"end" and has its echo, so peer 1's
    datagrams have all been through the faults; returns the ``expect`` echoes peer 1 gets."""
    with datagram_client(server) as first, datagram_client(server) as second:
        for message in messages:
            first.sendto(message, server.address)
        second.sendto(b"end", server.address)
        assert second.recv(SIZE) == b"end"
        got = [first.recv(SIZE) for _ in range(expect)]
        assert nothing_more(first), got
    return got


def assert_passed(
    record: ConnectionRecord, direction: Flow, messages: list[bytes], passed: list[bytes]
) -> None:
    """The recording shows what passed: what reached the double, what the client was sent."""
    assert record.requests == (passed if direction == "from_client" else messages)
    assert record.sent == b"".join(passed)


def notes(record: ConnectionRecord) -> list[str]:
    return [event.text for event in record.events if event.kind is EventKind.NOTE]


DROPS = {  # seed 7: which of datagrams 1..10 drop(0.3, burst=2) takes, per direction
    "to_client": [1, 2, 10],
    "from_client": [4, 5, 8, 9],
}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_drop_takes_bursts_of_datagrams(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.drop(0.3, burst=2, direction=direction, connections=[1]))
    messages = [b"%d" % i for i in range(1, 11)]
    kept = [m for i, m in enumerate(messages, 1) if i not in DROPS[direction]]
    with server:
        assert exchange(server, messages, len(kept)) == kept
    first, second = server.recording.connections
    assert first.faults == [
        f"dropped datagram {i} {TOWARD[direction]} ({len(b'%d' % i)} bytes)" for i in DROPS[direction]
    ]
    assert_passed(first, direction, messages, kept)
    assert second.faults == []
    assert "(faults seeded with seed=7)" in server.recording.transcript()
    server.check()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_sends_extra_copies(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.duplicate(copies=2, direction=direction, connections=[1]))
    with server:
        assert exchange(server, [b"once"], 3) == [b"once"] * 3
    first = server.recording.connections[0]
    assert first.faults == [f"duplicated datagram 1 {TOWARD[direction]} (2 extra)"]
    assert_passed(first, direction, [b"once"], [b"once"] * 3)
    server.check()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_truncate_cuts_each_datagram(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.truncate(4, direction=direction, connections=[1]))
    with server:
        assert exchange(server, [b"hello world", b"hi"], 2) == [b"hell", b"hi"]
    first = server.recording.connections[0]
    assert first.faults == [f"truncated datagram 1 {TOWARD[direction]} from 11 to 4 bytes"]
    assert_passed(first, direction, [b"hello world", b"hi"], [b"hell", b"hi"])
    server.check()


CORRUPTED = {  # seed 7, corrupt(bits=3) on b"hello": the bits flipped and what came out
    "to_client": ("[5, 38, 39]", b"lelll"),
    "from_client": ("[8, 11, 28]", b"h\xf5ldo"),
}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_corrupt_flips_seeded_bits(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.corrupt(bits=3, direction=direction, connections=[1]))
    bits, corrupted = CORRUPTED[direction]
    with server:
        assert exchange(server, [b"hello"], 1) == [corrupted]
    first = server.recording.connections[0]
    assert first.faults == [f"corrupted datagram 1 {TOWARD[direction]}: bit(s) {bits} flipped"]
    flipped = bytearray(b"hello")
    for bit in map(int, bits.strip("[]").split(", ")):
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
    assert bytes(flipped) == corrupted
    assert_passed(first, direction, [b"hello"], [corrupted])
    server.check()


SHUFFLED = {"to_client": "2, 3, 1", "from_client": "1, 3, 2"}  # seed 7, a window of 3


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_reorder_shuffles_each_full_window(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.reorder(window=3, max_hold=30.0, direction=direction, connections=[1]))
    messages = [b"one", b"two", b"three", b"four"]  # the fourth waits for a window that never fills
    order = [messages[int(n) - 1] for n in SHUFFLED[direction].split(", ")]
    with server:
        assert exchange(server, messages, 3) == order
        first = server.recording.connections[0]
        assert first.faults == [f"reordered datagrams {TOWARD[direction]}: sent as {SHUFFLED[direction]}"]
        assert_passed(first, direction, messages[: 3 if direction == "from_client" else 4], order)
    assert notes(first) == [f"a datagram {TOWARD[direction]} (4 bytes) held by a fault was dropped at stop()"]
    server.check()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_reorder_lets_a_window_go_after_max_hold(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.reorder(window=3, max_hold=0.2, direction=direction, connections=[1]))
    with server:
        started = time.monotonic()
        assert exchange(server, [b"one", b"two"], 2) == [b"one", b"two"]  # as they came
        assert time.monotonic() - started >= 0.2
    first = server.recording.connections[0]
    assert first.faults == []  # held, not reordered
    assert_passed(first, direction, [b"one", b"two"], [b"one", b"two"])
    server.check()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_latency_delays_each_datagram_in_order(kind: type[sd.BaseServer], direction: Flow) -> None:
    server = echo(kind, sd.faults.latency(0.2, direction=direction, connections=[1]))
    with server:
        started = time.monotonic()
        assert exchange(server, [b"a", b"b", b"c"], 3) == [b"a", b"b", b"c"]
        assert time.monotonic() - started >= 0.2
    first = server.recording.connections[0]
    assert first.faults == [f"latency 0.2 s on datagrams {TOWARD[direction]}"]
    assert_passed(first, direction, [b"a", b"b", b"c"], [b"a", b"b", b"c"])
    server.check()


def test_faults_in_both_directions_add_up() -> None:
    server = echo(sd.UDPServer, sd.faults.latency(0.15, direction="both"))
    with server, datagram_client(server) as client:
        started = time.monotonic()
        client.sendto(b"ping", server.address)
        assert client.recv(SIZE) == b"ping"
        assert time.monotonic() - started >= 0.3
    assert server.recording.connections[0].faults == [
        "latency 0.15 s on datagrams from the client",
        "latency 0.15 s on datagrams to the client",
    ]


def test_connections_picks_peers_by_their_number() -> None:
    server = echo(sd.UDPServer, sd.faults.drop(connections=[2]))
    with server:
        clients = [datagram_client(server) for _ in range(3)]
        try:
            for number, client in enumerate(clients, 1):
                client.sendto(b"peer %d" % number, server.address)
                if number != 2:
                    assert client.recv(SIZE) == b"peer %d" % number
            assert nothing_more(clients[1])
        finally:
            for client in clients:
                client.close()
    first, second, third = server.recording.connections
    assert (first.faults, third.faults) == ([], [])
    assert second.faults == ["dropped datagram 1 to the client (6 bytes)"]
    assert server.recording.requests == [b"peer 1", b"peer 2", b"peer 3"]


def toxic_run(seed: int) -> list[tuple[list[str], list[bytes]]]:
    """Six peers send eight datagrams each through drop(0.5, toxicity=0.5); a seventh ends it."""
    fault = sd.faults.drop(0.5, direction="from_client", connections=range(1, 7), toxicity=0.5)
    server = echo(sd.UDPServer, fault, seed=seed)
    with server:
        clients = [datagram_client(server) for _ in range(7)]
        try:
            for round_ in range(8):
                for client in clients[:6]:  # numbered in this order by their first datagram
                    client.sendto(b"round %d" % round_, server.address)
            clients[6].sendto(b"end", server.address)
            assert clients[6].recv(SIZE) == b"end"
        finally:
            for client in clients:
                client.close()
    server.check()
    return [(record.faults, record.requests) for record in server.recording.connections[:6]]


def test_toxicity_and_drops_repeat_exactly_with_the_same_seed() -> None:
    first = toxic_run(11)
    assert toxic_run(11) == first
    hit = [bool(faults) for faults, _ in first]
    assert True in hit and False in hit  # toxicity chose some peers, not all
    assert all(len(requests) + len(faults) == 8 for faults, requests in first)
    assert toxic_run(12) != first  # the seed decides


def test_faults_added_and_removed_while_running_act_from_the_next_datagram() -> None:
    server = echo(sd.UDPServer)
    with server, datagram_client(server) as client:
        client.sendto(b"1", server.address)
        assert client.recv(SIZE) == b"1"
        server.faults.append(sd.faults.duplicate())
        client.sendto(b"2", server.address)
        assert [client.recv(SIZE), client.recv(SIZE)] == [b"2", b"2"]
        server.faults.clear()
        client.sendto(b"3", server.address)
        assert client.recv(SIZE) == b"3"
        assert nothing_more(client)
    # Numbered as the peer saw them, though the peer's faults were made at datagram 2.
    assert server.recording.connections[0].faults == ["duplicated datagram 2 to the client (1 extra)"]


def test_a_removed_reorder_lets_what_it_held_go_with_the_next_datagram() -> None:
    server = echo(sd.UDPServer, sd.faults.reorder(window=3, max_hold=30.0, connections=[1]))
    with server, datagram_client(server) as first, datagram_client(server) as second:
        first.sendto(b"held", server.address)
        second.sendto(b"x", server.address)  # answered once the echo of "held" is held
        assert second.recv(SIZE) == b"x"
        assert nothing_more(first)
        server.faults.clear()
        first.sendto(b"next", server.address)
        assert [first.recv(SIZE), first.recv(SIZE)] == [b"held", b"next"]
    assert server.recording.connections[0].faults == []


def test_a_removed_latency_never_lets_a_later_datagram_overtake() -> None:
    server = echo(sd.UDPServer, sd.faults.latency(0.3, connections=[1]))
    with server, datagram_client(server) as client, datagram_client(server) as other:
        client.sendto(b"slow", server.address)
        other.sendto(b"x", server.address)  # answered once the echo of "slow" waits
        assert other.recv(SIZE) == b"x"
        server.faults.clear()
        client.sendto(b"fast", server.address)
        assert [client.recv(SIZE), client.recv(SIZE)] == [b"slow", b"fast"]  # order kept per peer


def test_an_unbound_unix_client_gets_no_fault_only_the_note_that_it_cannot_be_answered() -> None:
    server = echo(sd.UnixDatagramServer, sd.faults.duplicate())
    with server, datagram_client(server, bind=False) as client:
        client.sendto(b"who", server.address)
        server.wait_for_requests(1)
    [record] = server.recording.connections
    assert record.faults == []
    assert notes(record) == ["reply to an unbound peer dropped: b'who'"]


def test_no_faults_means_no_fault_work() -> None:
    server = echo(sd.UDPServer)  # faults=[]: an empty list is no fault
    assert server.faults.version == 0
    with server, datagram_client(server) as client:
        client.sendto(b"x", server.address)
        assert client.recv(SIZE) == b"x"
        assert server._faulty._peers == {}  # nothing made while the list never changed
        server.faults.append(sd.faults.truncate(100))
        client.sendto(b"y", server.address)
        assert client.recv(SIZE) == b"y"
        assert list(server._faulty._peers) == [1]


@pytest.mark.parametrize("kind", KINDS)
def test_stop_is_prompt_and_notes_each_held_datagram(kind: type[sd.BaseServer]) -> None:
    server = echo(
        kind,
        sd.faults.latency(30.0, connections=[1]),
        sd.faults.reorder(window=5, max_hold=30.0, direction="from_client", connections=[2]),
    )
    server.start()
    try:
        with datagram_client(server) as first, datagram_client(server) as second:
            first.sendto(b"delayed", server.address)
            server.wait_for_requests(1)
            second.sendto(b"held", server.address)
            second.sendto(b"held too", server.address)
            server.wait_for_connections(2)
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 1.0
            assert nothing_more(first) and nothing_more(second)
    finally:
        server.stop()
    delayed, held = server.recording.connections
    assert notes(delayed) == ["a datagram to the client (7 bytes) held by a fault was dropped at stop()"]
    assert notes(held) == [
        "a datagram from the client (4 bytes) held by a fault was dropped at stop()",
        "a datagram from the client (8 bytes) held by a fault was dropped at stop()",
    ]
    assert held.requests == []
    server.check()


def test_a_push_passes_the_faults_and_wakes_the_serve_loop() -> None:
    server = echo(sd.UDPServer, sd.faults.latency(0.2))
    with server, datagram_client(server) as client:
        client.sendto(b"hello", server.address)
        # Delivered by the serve loop's timer, which found nothing more to wait for: the
        # loop's next wait has no timeout, and only a nudge can wake it for the push.
        assert client.recv(SIZE) == b"hello"
        started = time.monotonic()
        server.send(b"pushed", connection=1)
        assert client.recv(SIZE) == b"pushed"
        assert time.monotonic() - started >= 0.2
    assert server.recording.connections[0].faults == ["latency 0.2 s on datagrams to the client"]
    assert server.recording.connections[0].sent == b"hellopushed"


class Echo(socketserver.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"got " + self.rfile.read())


@pytest.mark.parametrize("concurrency", ["thread", "serial"])
@pytest.mark.parametrize("kind", KINDS)
def test_socketserver_handlers_reply_through_the_faults(
    kind: type[sd.BaseServer], concurrency: sd.Concurrency
) -> None:
    faults = [sd.faults.truncate(5, direction="from_client"), sd.faults.latency(0.2)]
    server = kind(handler=Echo, concurrency=concurrency, faults=faults)
    with server, datagram_client(server) as client:
        started = time.monotonic()
        client.sendto(b"hello world", server.address)
        assert client.recv(SIZE) == b"got hello"
        assert time.monotonic() - started >= 0.2
    [record] = server.recording.connections
    assert record.requests == [b"hello"]
    assert record.faults == [
        "truncated datagram 1 from the client from 11 to 5 bytes",
        "latency 0.2 s on datagrams to the client",
    ]
    server.check()


pytestmark_fork = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@pytestmark_fork
def test_forked_handlers_take_from_client_faults_and_refuse_to_client_ones() -> None:
    with pytest.raises(sd.ConfigurationError, match="forked child sends its replies itself"):
        sd.UDPServer(handler=Echo, concurrency="fork", faults=[sd.faults.drop(direction="both")])
    faults = [sd.faults.truncate(5, direction="from_client")]
    server = sd.UDPServer(handler=Echo, concurrency="fork", faults=faults)
    with server, datagram_client(server) as c:
        c.sendto(b"hello world", server.address)
        assert c.recv(SIZE) == b"got hello"
        server.faults.append(sd.faults.latency(0.5))  # cannot act on a child's reply: said, not ignored
        c.sendto(b"again", server.address)
        assert c.recv(SIZE) == b"got again"
        c.sendto(b"and again", server.address)
        assert c.recv(SIZE) == b"got and a"
    [problem] = server.problems()  # said once for the peer, not per datagram
    assert "to_client faults (latency(0.5, jitter=0.0)) cannot act on the replies of forked" in problem


def test_a_stream_fault_given_to_a_udp_server_is_a_configuration_error() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"given to UDPServer: reset\(\) acts on TCP"):
        sd.UDPServer(faults=[sd.faults.reset()])
    with sd.UnixDatagramServer() as server, pytest.raises(sd.ConfigurationError, match="drop, duplicate"):
        server.faults.append(sd.faults.slicer(10))
