"""Choosing a recorded connection for a live one: ReplayBook.choose and first_request replay."""

from __future__ import annotations

from socketdouble.core.actions import Close, Send, ShutdownWrite
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, Redactor
from socketdouble.core.playback import Chosen, NoMatch, ReplayBook, StreamReplay, Undecided
from socketdouble.core.recording import Recording


def exchange(request: bytes, answer: bytes) -> list[DataEvent | CloseEvent]:
    return [DataEvent(0, "client", request), DataEvent(0.1, "server", answer)]


def book(*connections: list[DataEvent | CloseEvent], redact: list[bytes] | None = None) -> ReplayBook:
    cassette = Cassette("tcp", [RecordedConnection(float(i), list(c)) for i, c in enumerate(connections)])
    return ReplayBook(cassette, Redactor(redact or []), "first_request")


def player(b: ReplayBook) -> tuple[StreamReplay, Recording]:
    recording = Recording("r")
    return StreamReplay(recording.open_connection(None), b), recording


GET_A = exchange(b"GET /a\n", b"A\n")
GET_B = exchange(b"GET /b\n", b"B\n")


def test_the_choice_does_not_depend_on_how_the_client_splits_its_first_write() -> None:
    b = book(GET_A, GET_B)
    live, recording = player(b)
    assert live.open() == []
    assert live.receive(b"GET /") == []  # fits both: do not choose yet
    assert b.unused() == [1, 2]
    assert live.receive(b"b\n") == [Send(b"B\n")]
    assert b.unused() == [1]
    assert recording.unmatched == []


def test_the_choice_is_made_as_soon_as_one_distinct_first_turn_fits() -> None:
    b = book(GET_A, exchange(b"PUT /a\n", b"P\n"))
    live, _ = player(b)
    live.open()
    assert live.receive(b"P") == []  # chosen: the rest of the turn is compared as it comes
    assert b.unused() == [1]
    assert live.receive(b"UT /a\n") == [Send(b"P\n")]


def test_identical_first_turns_are_taken_in_recorded_order() -> None:
    b = book(exchange(b"GET /a\n", b"first\n"), exchange(b"GET /a\n", b"second\n"))
    first, _ = player(b)
    second, _ = player(b)
    first.open(), second.open()
    assert first.receive(b"GET") == []  # one distinct first turn fits: chosen, the earliest
    assert b.unused() == [2]
    assert first.receive(b" /a\n") == [Send(b"first\n")]
    assert second.receive(b"GET /a\n") == [Send(b"second\n")]


def test_a_whole_recorded_first_turn_is_chosen_though_a_longer_one_still_fits() -> None:
    b = book(exchange(b"LIST", b"short\n"), exchange(b"LIST ALL\n", b"long\n"))
    live, _ = player(b)
    live.open()
    assert live.receive(b"LIST") == [Send(b"short\n")]  # the client may be waiting for this answer


def test_a_first_turn_that_fits_no_recorded_one_is_closed_with_the_nearest_beside_it() -> None:
    b = book(GET_A, exchange(b"GET /bcd\n", b"B\n"))
    live, recording = player(b)
    live.open()
    assert live.receive(b"GET /bx") == [Close()]
    [(_, got, report)] = recording.unmatched_details
    assert got == b"GET /bx"
    assert report.startswith(
        "no unused recorded connection begins with this client turn; "
        "nearest: connection 2, client turn 1: first difference at byte 6"
    )
    assert b.unused() == [1, 2]


def test_patterns_apply_to_the_choice() -> None:
    secret = [rb"(?<=USER )\w+"]
    b = book(exchange(b"USER *****\n", b"secret\n"), exchange(b"USER bob\n", b"bob\n"), redact=secret)
    assert b.choose(b"USER bo") == Undecided((1, 2))  # 'bo' may be a redacted name
    assert b.choose(b"USER alice") == Chosen(1, b.cassette.connections[0])  # 'a' rules out bob at once
    b = book(exchange(b"USER *****\n", b"secret\n"), exchange(b"USER bob\n", b"bob\n"), redact=secret)
    live, _ = player(b)
    live.open()
    assert live.receive(b"USER bo") == []
    assert live.receive(b"b\n") == [Send(b"bob\n")]  # a whole turn of connection 2


def test_a_server_that_speaks_first_is_chosen_at_open() -> None:
    greeting = [DataEvent(0, "server", b"220 ready\r\n"), *exchange(b"QUIT\r\n", b"221 bye\r\n")]
    b = book(greeting, GET_A)
    live, _ = player(b)
    assert live.open() == [Send(b"220 ready\r\n")]  # the client waits for it and never speaks first
    assert b.unused() == [2]


def test_a_client_first_connection_comes_first_so_the_client_must_speak() -> None:
    b = book(GET_A, [DataEvent(0, "server", b"220 ready\r\n")])
    live, _ = player(b)
    assert live.open() == []
    assert live.receive(b"GET /a\n") == [Send(b"A\n")]
    assert b.unused() == [2]


def test_a_client_that_closes_without_a_word_takes_a_silent_recorded_connection() -> None:
    b = book(GET_A, [CloseEvent(0, "client", "fin"), CloseEvent(0, "server", "fin")])
    live, _ = player(b)
    assert live.open() == []
    assert live.end() == [ShutdownWrite()]
    assert b.unused() == [1]


def test_a_connection_beyond_the_recording_is_closed_at_open() -> None:
    b = book(GET_A)
    assert isinstance(b.choose(b"GET /a\n"), Chosen)
    live, recording = player(b)
    assert live.open() == [Close()]
    assert "no recorded connection is left for this one" in recording.unmatched_details[0][2]


# -- the API for a new_episodes server --------------------------------------------------


def test_choose_tells_chosen_undecided_or_no_match() -> None:
    b = book(GET_A, GET_B)
    assert b.choose(b"") == Undecided((1, 2))
    assert b.choose(b"GET /") == Undecided((1, 2))
    assert b.unused() == [1, 2]  # nothing is used until chosen
    no_match = b.choose(b"POST")
    assert isinstance(no_match, NoMatch) and no_match.nearest == 1
    assert "first difference at byte 0" in no_match.report
    chosen = b.choose(b"GET /b\n")
    assert chosen == Chosen(2, b.cassette.connections[1])
    assert b.unused() == [1]


def test_whole_turn_chooses_only_a_whole_recorded_first_turn() -> None:
    b = book(GET_A)
    assert b.choose(b"GET /", whole_turn=True) == Undecided((1,))  # the only candidate, but not whole yet
    assert isinstance(b.choose(b"GET /ab", whole_turn=True), NoMatch)  # longer: goes upstream
    assert isinstance(b.choose(b"GET /a\nmore", whole_turn=True), NoMatch)
    assert b.choose(b"GET /a\n", whole_turn=True) == Chosen(1, b.cassette.connections[0])
    assert b.choose(b"GET /a\n", whole_turn=True) == NoMatch(
        "beyond the recording: no recorded connection is left for this one"
    )


def test_a_chooser_fed_as_bytes_arrive_then_a_replay_of_the_chosen_connection() -> None:
    b = book(GET_A, GET_B)
    choice = b.chooser(whole_turn=True)
    first_bytes = b""
    for piece in (b"GE", b"T /", b"b", b"\n"):
        first_bytes += piece
        decision = choice.feed(piece)
    assert isinstance(decision, Chosen) and decision.number == 2
    recording = Recording("r")
    live = StreamReplay(recording.open_connection(None), b, chosen=decision)
    assert live.open() == []
    assert live.receive(first_bytes) == [Send(b"B\n")]
    assert recording.requests == [b"GET /b\n"]
    assert b.unused() == [1]


def test_a_client_that_closes_while_undecided_is_reported() -> None:
    b = book(GET_A, GET_B)
    live, recording = player(b)
    live.open()
    assert live.receive(b"GET /") == []
    assert live.end() == []
    [(_, got, report)] = recording.unmatched_details
    assert got == b"GET /"
    assert report == (
        "the client closed after 5 byte(s), before its first turn matched a whole recorded one "
        "(it fits the first turns of connection(s) 1, 2)"
    )
