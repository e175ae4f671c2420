from __future__ import annotations

from collections.abc import Sequence

from socketdouble.core.actions import Close, Reset, Send, ShutdownWrite, Sleep
from socketdouble.core.cassette import Cassette, Data, RecordedConnection, Redactor
from socketdouble.core.cassette import Close as CloseEvent
from socketdouble.core.recording import Recording
from socketdouble.core.replay import DatagramReplay, ReplayBook, StreamReplay, first_difference


def book(*connections: Sequence[object], redact: list[bytes] | None = None, **kw: object) -> ReplayBook:
    logs = [[e for e in c if isinstance(e, (Data, CloseEvent))] for c in connections]
    cassette = Cassette("tcp", [RecordedConnection(float(i), log) for i, log in enumerate(logs)])
    return ReplayBook(cassette, Redactor(redact or []), **kw)  # type: ignore[arg-type]


SESSION = [
    Data(0.0, "server", b"hello\n"),
    Data(0.1, "client", b"PING\n"),
    Data(0.3, "server", b"PONG\n"),
    Data(0.4, "client", b"QUIT\n"),
    Data(0.5, "server", b"bye\n"),
    CloseEvent(0.6, "server", "fin"),
]


def replay(b: ReplayBook, timing: bool = False) -> tuple[StreamReplay, Recording]:
    recording = Recording("r")
    return StreamReplay(recording.open_connection(None), b, timing=timing), recording


def test_the_recording_is_played_turn_by_turn_however_the_client_splits_it() -> None:
    player, recording = replay(book(SESSION))
    assert player.open() == [Send(b"hello\n")]
    assert player.receive(b"PI") == []
    assert player.receive(b"NG\nQU") == [Send(b"PONG\n")]
    assert player.receive(b"IT\n") == [Send(b"bye\n"), ShutdownWrite()]
    assert recording.requests == [b"PING\n", b"QUIT\n"]
    assert recording.unmatched == []


def test_a_difference_is_caught_at_its_first_byte() -> None:
    player, recording = replay(book(SESSION))
    player.open()
    assert player.receive(b"PO") == [Close()]
    [(_, got, hint)] = recording.unmatched_details
    assert got == b"PO"
    assert hint.splitlines() == [
        "connection 1, client turn 1: first difference at byte 1 (client sent 2 byte(s), recorded 5)",
        "      recorded [0:5]  'PING\\n'",
        "      client   [0:2]  'PO'",
        "                        ^",
    ]
    assert player.over


def test_redacted_turns_compare_after_redaction() -> None:
    player, recording = replay(
        book([Data(0, "client", b"AUTH ******\n"), Data(0, "server", b"+OK\n")], redact=[rb"(?<=AUTH )\w+"])
    )
    player.open()
    assert player.receive(b"AUTH sec") == []  # the secret is not complete yet: wait
    assert player.receive(b"ret\n") == [Send(b"+OK\n")]
    assert recording.unmatched == []


def test_data_beyond_the_recording_is_unmatched() -> None:
    player, _ = replay(book([Data(0, "client", b"A"), CloseEvent(0.1, "server", "reset")]))
    player.open()
    assert player.receive(b"A") == [Reset()]
    player2, recording2 = replay(book([Data(0, "client", b"A")]))
    player2.open()
    assert player2.receive(b"AB") == [Close()]
    assert (
        "beyond the recording: connection 1 ended after 1 client turn(s)"
        in recording2.unmatched_details[0][2]
    )


def test_a_connection_beyond_the_recorded_ones_is_closed_at_once() -> None:
    b = book(SESSION)
    replay(b)[0].open()
    player, recording = replay(b)
    assert player.open() == [Close()]
    assert "no recorded connection is left" in recording.unmatched_details[0][2]
    assert b.unused() == []


def test_first_request_matching_picks_the_recorded_connection() -> None:
    b = book(
        [Data(0, "client", b"GET a\n"), Data(0, "server", b"A\n")],
        [Data(0, "client", b"GET b\n"), Data(0, "server", b"B\n")],
        match="first_request",
    )
    player, _ = replay(b)
    assert player.open() == []
    assert player.receive(b"GET b\n") == [Send(b"B\n")]
    assert b.unused() == [1]


def test_timing_replays_the_recorded_delays() -> None:
    player, _ = replay(book(SESSION), timing=True)
    assert player.open() == [Send(b"hello\n")]
    actions = player.receive(b"PING\n")
    assert isinstance(actions[0], Sleep) and abs(actions[0].seconds - 0.2) < 1e-9


def test_a_client_closing_early_is_noted() -> None:
    player, recording = replay(book(SESSION))
    player.open()
    player.end()
    assert "client closed before recorded turn 1" in recording.transcript()


def test_datagrams_match_in_recorded_order_whatever_the_peer() -> None:
    cassette = Cassette(
        "udp",
        [
            RecordedConnection(0.0, [Data(0.0, "client", b"q1"), Data(0.1, "server", b"a1")]),
            RecordedConnection(0.05, [Data(0.0, "client", b"q2"), Data(0.1, "server", b"a2")]),
        ],
    )
    shared = ReplayBook(cassette, Redactor())
    recording = Recording("d")
    peer = DatagramReplay(recording.open_connection(("127.0.0.1", 5)), shared)
    assert peer.datagram(b"q1") == [Send(b"a1")]
    assert shared.unused() == [2]
    assert peer.datagram(b"q3") == []
    assert "first difference at byte 1" in recording.unmatched_details[0][2]
    assert peer.datagram(b"q2") == [Send(b"a2")]
    assert peer.datagram(b"q4") == []
    assert recording.unmatched_details[1][2] == "the recording has no more datagrams"


def test_first_difference() -> None:
    assert first_difference(b"abc", b"abd") == 2
    assert first_difference(b"ab", b"abc") is None
    assert first_difference(b"abcd", b"abc") == 3
