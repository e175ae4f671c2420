from __future__ import annotations

from collections.abc import Sequence

import pytest

from socketdouble.core.actions import Close, Reset, Send, ShutdownWrite, Sleep
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, Redactor
from socketdouble.core.playback import DatagramReplay, ReplayBook, StreamReplay, first_difference
from socketdouble.core.recording import Recording


def book(*connections: Sequence[object], redact: list[bytes] | None = None, **kw: object) -> ReplayBook:
    logs = [[e for e in c if isinstance(e, (DataEvent, CloseEvent))] for c in connections]
    cassette = Cassette("tcp", [RecordedConnection(float(i), log) for i, log in enumerate(logs)])
    return ReplayBook(cassette, Redactor(redact or []), **kw)  # type: ignore[arg-type]


SESSION = [
    DataEvent(0.0, "server", b"hello\n"),
    DataEvent(0.1, "client", b"PING\n"),
    DataEvent(0.3, "server", b"PONG\n"),
    DataEvent(0.4, "client", b"QUIT\n"),
    DataEvent(0.5, "server", b"bye\n"),
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
        book(
            [DataEvent(0, "client", b"AUTH ******\n"), DataEvent(0, "server", b"+OK\n")],
            redact=[rb"(?<=AUTH )\w+"],
        )
    )
    player.open()
    assert player.receive(b"AUTH sec") == []  # the secret is not complete yet: wait
    assert player.receive(b"ret\n") == [Send(b"+OK\n")]
    assert recording.unmatched == []


def test_data_beyond_the_recording_is_unmatched() -> None:
    player, _ = replay(book([DataEvent(0, "client", b"A"), CloseEvent(0.1, "server", "reset")]))
    player.open()
    assert player.receive(b"A") == [Reset()]
    player2, recording2 = replay(book([DataEvent(0, "client", b"A")]))
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
        [DataEvent(0, "client", b"GET a\n"), DataEvent(0, "server", b"A\n")],
        [DataEvent(0, "client", b"GET b\n"), DataEvent(0, "server", b"B\n")],
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
            RecordedConnection(0.0, [DataEvent(0.0, "client", b"q1"), DataEvent(0.1, "server", b"a1")]),
            RecordedConnection(0.05, [DataEvent(0.0, "client", b"q2"), DataEvent(0.1, "server", b"a2")]),
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


class CountingBytes(bytes):
    """A recorded turn that counts how many of its bytes a comparison touched."""

    touched = 0

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        result = super().__getitem__(key)
        CountingBytes.touched += len(result) if isinstance(key, slice) else 1
        return result

    def startswith(self, prefix, *args):  # type: ignore[no-untyped-def]
        CountingBytes.touched += len(prefix)
        return super().startswith(prefix, *args)

    def __iter__(self):  # type: ignore[no-untyped-def]
        CountingBytes.touched += len(self)
        return super().__iter__()

    def __eq__(self, other: object) -> bool:
        CountingBytes.touched += len(self)
        return super().__eq__(other)

    __hash__ = bytes.__hash__


def test_a_long_turn_is_compared_in_linear_time() -> None:
    size = 4 * 1024 * 1024
    recorded = CountingBytes(bytes(range(256)) * (size // 256))
    player, recording = replay(book([DataEvent(0, "client", recorded), DataEvent(0, "server", b"done")]))
    player.open()
    CountingBytes.touched = 0
    answers = [player.receive(recorded[start : start + 65536]) for start in range(0, size, 65536)]
    assert answers[-1] == [Send(b"done")] and not any(answers[:-1])
    slicing = size  # the test's own slices above
    assert CountingBytes.touched - slicing <= size  # each live byte compared once, not once per read
    assert recording.requests == [bytes(recorded)]


@pytest.mark.parametrize("ignore", [[], [rb"id=\d+"]])
def test_a_short_wrong_turn_is_closed_at_once_with_or_without_patterns(ignore: list[bytes]) -> None:
    player, recording = replay(
        book(
            [DataEvent(0, "client", b"HELLO id=1700000000\n"), DataEvent(0, "server", b"welcome\n")],
            redact=ignore,
        )
    )
    player.open()
    assert player.receive(b"HELP") == [Close()]  # 4 of 20 bytes: the client would wait for an answer
    [(_, got, report)] = recording.unmatched_details
    assert got == b"HELP"
    assert report.startswith("connection 1, client turn 1: first difference at byte 3 (client sent 4 byte(s)")


def test_a_difference_after_redacted_bytes_is_still_caught_at_once() -> None:
    player, recording = replay(
        book(
            [DataEvent(0, "client", b"AUTH ******\nQUIT\n"), DataEvent(0, "server", b"+OK\n")],
            redact=[rb"(?<=AUTH )\w+"],
        )
    )
    player.open()
    assert player.receive(b"AUTH hunter\nQUIZ") == [Close()]
    report = recording.unmatched_details[0][2]
    assert "first difference at byte 15" in report
    assert "hunter" not in report  # the report shows the client's bytes redacted, as the recording was


def test_a_wrong_value_where_the_recording_is_redacted_is_judged_with_the_whole_turn() -> None:
    player, recording = replay(
        book(
            [DataEvent(0, "client", b"AUTH ******\n"), DataEvent(0, "server", b"+OK\n")],
            redact=[rb"(?<=AUTH )\w+"],
        )
    )
    player.open()
    assert player.receive(b"AUTH ab-") == []  # may still be a secret: wait for the turn
    assert player.receive(b"def\n") == [Close()]
    assert "first difference at byte 7" in recording.unmatched_details[0][2]


def test_a_client_leaving_mid_turn_is_reported() -> None:
    player, recording = replay(book(SESSION))
    player.open()
    assert player.receive(b"PI") == []
    assert player.end() == []
    [(_, got, report)] = recording.unmatched_details
    assert got == b"PI"
    assert report.startswith(
        "client closed mid-turn: connection 1, client turn 1: first difference at byte 2"
    )


def test_a_datagram_with_extra_trailing_bytes_is_unmatched() -> None:
    cassette = Cassette(
        "udp", [RecordedConnection(0.0, [DataEvent(0.0, "client", b"abc"), DataEvent(0.1, "server", b"A")])]
    )
    shared = ReplayBook(cassette, Redactor())
    recording = Recording("d")
    peer = DatagramReplay(recording.open_connection(("127.0.0.1", 5)), shared)
    assert peer.datagram(b"abcd") == []
    assert peer.datagram(b"ab") == []
    first, second = (report for _, _, report in recording.unmatched_details)
    assert first.startswith(
        "recorded datagram 1 (peer 1): first difference at byte 3 (client sent 4 byte(s), recorded 3)"
    )
    assert second.startswith("recorded datagram 1 (peer 1): first difference at byte 2")
    assert peer.datagram(b"abc") == [Send(b"A")]
