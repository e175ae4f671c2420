"""Replaying a cassette: conversations that answer as the upstream did.

:class:`ReplayBook` hands recorded connections to new connections (in recorded order,
or by first request) and keeps what is unused. :class:`StreamReplay` plays one stream
connection, comparing each client turn as its bytes arrive; :class:`DatagramReplay`
matches datagrams against the recorded ones in recorded order, whatever the peer.
"""

from __future__ import annotations

import threading
from typing import Literal

from .actions import Action, Close, Reset, Send, ShutdownWrite, Sleep
from .cassette import Cassette, Data, RecordedConnection, Redactor
from .cassette import Close as CloseEvent
from .recording import EventSink

Match = Literal["order", "first_request"]


def first_difference(got: bytes, expected: bytes) -> int | None:
    """Offset of the first differing byte of ``got`` against ``expected``'s start."""
    for offset, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return offset
    return None if len(got) <= len(expected) else len(expected)


def describe_mismatch(got: bytes, expected: bytes, where: str) -> str:
    offset = first_difference(got, expected)
    at = "" if offset is None else f"; first difference at byte {offset}"
    return f"recorded {where}: {expected!r}{at}"


class ReplayBook:
    """The recorded connections of one replay server, shared by its connections."""

    def __init__(self, cassette: Cassette, redactor: Redactor, match: Match = "order") -> None:
        # Recorded client turns pass through the same patterns as live ones, so patterns
        # added at replay (bytes to ignore) apply to both sides of the comparison.
        self.cassette = _normalized(cassette, redactor) if redactor else cassette
        self.redactor = redactor
        self.match = match
        self._lock = threading.Lock()
        self._unused = list(range(len(cassette.connections)))
        self._exchanges = _exchanges(cassette) if cassette.datagram else []
        self._next_exchange = 0

    def take(self, first_request: bytes | None = None) -> tuple[int, RecordedConnection] | None:
        """The next unused recorded connection (by first request if asked), or None."""
        with self._lock:
            for index in self._unused:
                if first_request is not None:
                    turns = self.cassette.connections[index].client_turns()
                    probe = self.redactor(first_request)
                    size = min(len(probe), len(turns[0])) if turns else 0
                    if not turns or probe[:size] != turns[0][:size]:
                        continue
                self._unused.remove(index)
                return index + 1, self.cassette.connections[index]
        return None

    def unused(self) -> list[int]:
        """Numbers (from 1) of recorded connections no client used."""
        with self._lock:
            if self.cassette.datagram:
                return sorted({number for number, *_ in self._exchanges[self._next_exchange :]})
            return [index + 1 for index in self._unused]

    def next_exchange(self, request: bytes) -> tuple[bool, list[bytes], str]:
        """Datagrams: (matched, responses, hint) for the next recorded exchange."""
        with self._lock:
            if self._next_exchange >= len(self._exchanges):
                return False, [], "the recording has no more datagrams"
            number, expected, responses = self._exchanges[self._next_exchange]
            if self.redactor(request) == expected:
                self._next_exchange += 1
                return True, responses, ""
            return False, [], describe_mismatch(self.redactor(request), expected, f"datagram (peer {number})")


def _normalized(cassette: Cassette, redactor: Redactor) -> Cassette:
    def client_side(event: Data | CloseEvent) -> Data | CloseEvent:
        if isinstance(event, Data) and event.side == "client":
            return Data(event.t, event.side, redactor(event.payload))
        return event

    connections = [
        RecordedConnection(c.opened, [client_side(e) for e in c.events]) for c in cassette.connections
    ]
    return Cassette(cassette.kind, connections, cassette.redact)


def _exchanges(cassette: Cassette) -> list[tuple[int, bytes, list[bytes]]]:
    timed = []
    for number, connection in enumerate(cassette.connections, 1):
        current: tuple[float, int, bytes, list[bytes]] | None = None
        for event in connection.events:
            if not isinstance(event, Data):
                continue
            if event.side == "client":
                current = (connection.opened + event.t, number, event.payload, [])
                timed.append(current)
            elif current is not None:
                current[3].append(event.payload)
    timed.sort(key=lambda exchange: exchange[0])
    return [(number, request, responses) for _, number, request, responses in timed]


class StreamReplay:
    """One stream connection replayed from its recording; fed bytes, returns actions."""

    def __init__(self, sink: EventSink, book: ReplayBook, *, timing: bool = False) -> None:
        self.sink = sink
        self.book = book
        self.timing = timing
        self.number = 0
        self.events: list[Data | CloseEvent] = []
        self.position = 0
        self.turn = 0
        self.buffer = b""
        self.over = False
        self._clock = 0.0
        self._chosen = False

    def _choose(self, first_request: bytes | None) -> bool:
        self._chosen = True
        taken = self.book.take(first_request)
        if taken is None:
            return False
        self.number, connection = taken
        self.events = connection.events
        return True

    def open(self) -> list[Action]:
        if self.book.match == "first_request":
            return []
        if not self._choose(None):
            return self._beyond_recording(b"")
        return self._play_server()

    def receive(self, data: bytes) -> list[Action]:
        self.sink.on_received(data)
        if self.over:
            self.sink.on_message(data)
            return []
        self.buffer += data
        if not self._chosen and not self._choose(self.buffer):
            return self._beyond_recording(self.buffer)
        actions: list[Action] = []
        while self.buffer and not self.over:
            event = self._current()
            if not (isinstance(event, Data) and event.side == "client"):
                return actions + self._beyond_recording(self.buffer)
            expected = event.payload
            got = self.buffer[: len(expected)]
            compared = self.book.redactor(got) if self.book.redactor else got
            if first_difference(compared, expected) is not None:
                if self.book.redactor and len(self.buffer) < len(expected):
                    break  # a secret may still be completing: judge the whole turn
                return actions + self._mismatch(expected)
            if len(self.buffer) < len(expected):
                break
            self.sink.on_message(got)
            self.buffer = self.buffer[len(expected) :]
            self._clock = max(self._clock, event.t)
            self.position += 1
            self.turn += 1
            actions.extend(self._play_server())
        return actions

    def end(self) -> list[Action]:
        """The client closed its side: play what the server did after that, if recorded."""
        if self.over:
            return []
        if self.buffer:
            self.sink.on_unmatched(self.buffer, "an incomplete client turn at close")
            return []
        recorded = self.events[self.position] if self.position < len(self.events) else None
        if isinstance(recorded, CloseEvent) and recorded.side == "client":
            self.position += 1
            return self._play_server()
        upcoming = self._current()
        if isinstance(upcoming, Data) and upcoming.side == "client":
            self.sink.on_note(
                f"client closed before recorded turn {self.turn + 1} of connection {self.number}: "
                f"{upcoming.payload!r}"
            )
        return []

    def _current(self) -> Data | CloseEvent | None:
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
            if isinstance(event, Data):
                actions.append(Send(event.payload))
            elif event.how == "reset":
                self.over = True
                actions.append(Reset())
                break
            else:
                actions.append(ShutdownWrite())
        return actions

    def _mismatch(self, expected: bytes) -> list[Action]:
        got = self.buffer
        self.sink.on_unmatched(
            got, describe_mismatch(got, expected, f"connection {self.number}, client turn {self.turn + 1}")
        )
        self.over = True
        return [Close()]

    def _beyond_recording(self, got: bytes) -> list[Action]:
        where = (
            f"connection {self.number} ended after {self.turn} client turn(s)"
            if self.number
            else "no recorded connection is left for this one"
        )
        self.sink.on_unmatched(got, f"beyond the recording: {where}")
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
        matched, responses, hint = self.book.next_exchange(data)
        if not matched:
            self.sink.on_unmatched(data, hint)
            return []
        return [Send(response) for response in responses]
