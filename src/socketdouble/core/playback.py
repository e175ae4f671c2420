"""Replaying a cassette: conversations that answer as the upstream did.

:class:`StreamReplay` plays one stream connection, comparing each client turn as its
bytes arrive (each byte once: linear time) and deciding at the first byte that can
never match; :class:`DatagramReplay` matches datagrams against the recorded ones in
recorded order, whatever the peer. Which recorded connection a live one plays is the
:class:`~.playback_book.ReplayBook`'s decision.
"""

from __future__ import annotations

from .actions import Action, Close, Reset, Send, ShutdownWrite, Sleep
from .cassette import CassetteEvent, CloseEvent, DataEvent
from .events import EventSink
from .mismatch import describe, describe_extra, first_difference
from .playback_book import Chosen, Decision, FirstTurnChoice, Match, NoMatch, ReplayBook, Undecided
from .turncheck import TurnCheck

__all__ = [
    "Chosen",
    "DatagramReplay",
    "Decision",
    "FirstTurnChoice",
    "Match",
    "NoMatch",
    "ReplayBook",
    "StreamReplay",
    "Undecided",
    "first_difference",
]


class StreamReplay:
    """One stream connection replayed from its recording; fed bytes, returns actions.

    ``chosen`` binds it to a recorded connection the caller already chose with
    :meth:`ReplayBook.choose` (a ``new_episodes`` server): call :meth:`open`, then
    :meth:`receive` with the same bytes the choice was made on.
    """

    def __init__(
        self, sink: EventSink, book: ReplayBook, *, timing: bool = False, chosen: Chosen | None = None
    ) -> None:
        self.sink = sink
        self.book = book
        self.timing = timing
        #: The recorded connection's number (from 1); 0 while none is chosen.
        self.number = 0
        self.events: list[CassetteEvent] = []
        self.position = 0
        self.turn = 0
        #: The client's bytes of the current turn not yet matched to a whole turn.
        self.buffer = bytearray()
        self.over = False
        self._clock = 0.0
        self._check: TurnCheck | None = None
        self._choice: FirstTurnChoice | None = None
        self._undecided: Undecided | None = None
        if chosen is not None:
            self._bind(chosen)
        elif book.match == "first_request":
            self._choice = book.chooser()

    def _bind(self, chosen: Chosen) -> None:
        self.number, self.events = chosen.number, chosen.connection.events

    def open(self) -> list[Action]:
        """The connection opened: play what the server said first, if it spoke first."""
        if self.number:
            return self._play_server()
        if self._choice is not None:
            return self._decided(self._choice.feed(b""))
        chosen = self.book.take()
        if chosen is None:
            return self._beyond_recording(b"")
        self._bind(chosen)
        return self._play_server()

    def receive(self, data: bytes) -> list[Action]:
        """Client bytes arrived: compare them, answer each whole turn as recorded."""
        self.sink.on_received(data)
        if self.over:
            self.sink.on_message(data)
            return []
        self.buffer += data
        actions: list[Action] = []
        if not self.number:
            assert self._choice is not None  # dropped only once decided: chosen, or over
            actions = self._decided(self._choice.feed(data))
            if not self.number:
                return actions
        while self.buffer and not self.over:
            event = self._current()
            if not (isinstance(event, DataEvent) and event.side == "client"):
                return actions + self._beyond_recording(bytes(self.buffer))
            check = self._check
            if check is None or check.recorded is not event.payload:
                check = self._check = TurnCheck(event.payload, self.book.redactor)
            if check.advance(self.buffer) is not None:
                return actions + self._mismatch(check)
            size = len(event.payload)
            if len(self.buffer) < size:
                break
            if not check.finish(self.buffer):
                return actions + self._mismatch(check)
            self.sink.on_message(bytes(self.buffer[:size]))
            del self.buffer[:size]  # cheap: bytearray drops its head without moving the rest
            self._check = None
            self._clock = max(self._clock, event.t)
            self.position += 1
            self.turn += 1
            actions.extend(self._play_server())
        return actions

    def end(self) -> list[Action]:
        """The client closed its side: play what the server did after that, if recorded."""
        if self.over:
            return []
        if not self.number:
            return self._end_unchosen()
        if self.buffer:
            upcoming = self._current()
            expected = upcoming.payload if isinstance(upcoming, DataEvent) else b""
            where = f"client closed mid-turn: connection {self.number}, client turn {self.turn + 1}"
            self.sink.on_unmatched(
                bytes(self.buffer), describe(where, self.book.shown(self.buffer), expected)
            )
            return []
        recorded = self.events[self.position] if self.position < len(self.events) else None
        if isinstance(recorded, CloseEvent) and recorded.side == "client":
            self.position += 1
            return self._play_server()
        upcoming = self._current()
        if isinstance(upcoming, DataEvent) and upcoming.side == "client":
            self.sink.on_note(
                f"client closed before recorded turn {self.turn + 1} of connection {self.number} "
                f"({len(upcoming.payload)} bytes)"
            )
        return []

    def _end_unchosen(self) -> list[Action]:
        """first_request: the client closed before a recorded connection was chosen."""
        if self.buffer:
            fitting = ", ".join(map(str, self._undecided.candidates if self._undecided else ()))
            self.sink.on_unmatched(
                bytes(self.buffer),
                f"the client closed after {len(self.buffer)} byte(s), before its first turn matched "
                f"a whole recorded one (it fits the first turns of connection(s) {fitting})",
            )
            return []
        chosen = self.book.take_silent()
        if chosen is None:
            self.sink.on_note("client closed without sending anything; no recorded connection was chosen")
            return []
        self._bind(chosen)
        return self.end()

    def _decided(self, decision: Decision) -> list[Action]:
        if isinstance(decision, Undecided):
            self._undecided = decision
            return []
        self._choice = None  # decided: drop its copy of the first bytes
        if isinstance(decision, NoMatch):
            self.sink.on_unmatched(bytes(self.buffer), decision.report)
            self.over = True
            return [Close()]
        self._bind(decision)
        return self._play_server()

    def _current(self) -> CassetteEvent | None:
        while self.position < len(self.events):
            event = self.events[self.position]
            if isinstance(event, CloseEvent) and event.side == "client":
                self.position += 1  # the client's own close is not something to answer
                continue
            return event
        return None

    def _play_server(self) -> list[Action]:
        actions: list[Action] = []
        while self.position < len(self.events):
            event = self.events[self.position]
            if event.side != "server":
                break
            self.position += 1
            if self.timing and event.t > self._clock:
                actions.append(Sleep(event.t - self._clock))
            self._clock = max(self._clock, event.t)
            if isinstance(event, DataEvent):
                actions.append(Send(event.payload))
            elif event.how == "reset":
                self.over = True
                actions.append(Reset())
                break
            else:
                actions.append(ShutdownWrite())
        return actions

    def _mismatch(self, check: TurnCheck) -> list[Action]:
        where = f"connection {self.number}, client turn {self.turn + 1}"
        shown = self.book.shown(self.buffer)
        self.sink.on_unmatched(bytes(self.buffer), describe(where, shown, check.recorded, check.difference))
        self.over = True
        return [Close()]

    def _beyond_recording(self, got: bytes) -> list[Action]:
        where = (
            f"beyond the recording: connection {self.number} ended after {self.turn} client turn(s)"
            if self.number
            else "beyond the recording: no recorded connection is left for this one"
        )
        self.sink.on_unmatched(got, describe_extra(where, self.book.shown(got)))
        self.over = True
        return [Close()]


class DatagramReplay:
    """One datagram peer: each datagram is checked against the next recorded one."""

    def __init__(self, sink: EventSink, book: ReplayBook) -> None:
        self.sink = sink
        self.book = book
        self.over = False

    def open(self) -> list[Action]:
        return []

    def datagram(self, data: bytes) -> list[Action]:
        self.sink.on_received(data)
        self.sink.on_message(data)
        matched, responses, report = self.book.next_exchange(data)
        if not matched:
            self.sink.on_unmatched(data, report)
            return []
        return [Send(response) for response in responses]
