"""The recorded connections of one replay, and which live connection gets which.

:class:`ReplayBook` is shared by every connection of a replay server. In ``"order"``
mode a new connection takes the next unused recorded connection. In ``"first_request"``
mode it is chosen by the client's first bytes — by :meth:`ReplayBook.choose` (or a
:class:`FirstTurnChoice` fed as bytes arrive), the one place that decides:

- the earliest unused recorded connection begins with *server* data (a greeting:
  SMTP, FTP): it is taken before the client says anything — the client is waiting;
- else, among unused connections that begin with a client turn, the choice waits
  while the bytes so far fit more than one *distinct* first turn; it is made when one
  distinct turn is left, or when the bytes are exactly a whole recorded first turn
  (the client may be waiting for its answer); identical first turns go in recorded
  order; no fitting turn at all is :class:`NoMatch`, with the nearest one in its report.

Fitting follows the redaction rule of :mod:`.turncheck`: where a recorded turn holds
fill bytes, a difference waits for the whole turn; anywhere else it rules a turn out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from .cassette import Cassette, CassetteEvent, DataEvent, RecordedConnection, Redactor
from .mismatch import describe
from .turncheck import TurnCheck

__all__ = ["Chosen", "Decision", "FirstTurnChoice", "Match", "NoMatch", "ReplayBook", "Start", "Undecided"]

Match = Literal["order", "first_request"]
Start = Literal["server", "client", "silent"]


@dataclass(frozen=True)
class Chosen:
    """A recorded connection was chosen for a live one; it is used from now on.

    ``connection`` has its client turns passed through the replay's patterns (as
    compared). Build its player with ``StreamReplay(sink, book, chosen=this)``.
    """

    number: int  # from 1, as in the cassette and in reports
    connection: RecordedConnection


@dataclass(frozen=True)
class Undecided:
    """More bytes are needed: the bytes so far fit these recorded connections (numbers)."""

    candidates: tuple[int, ...]


@dataclass(frozen=True)
class NoMatch:
    """No unused recorded connection can match; ``report`` says why, nearest one beside."""

    report: str
    nearest: int | None = None  # the number of the nearest recorded connection, if any


Decision = Chosen | Undecided | NoMatch


class ReplayBook:
    """The recorded connections of one replay server, shared by its connections.

    Thread-safe: every decision that marks a recorded connection used holds one lock.
    """

    def __init__(self, cassette: Cassette, redactor: Redactor, match: Match = "order") -> None:
        # Recorded client turns pass through the same patterns as live ones, so patterns
        # added at replay (bytes to ignore) apply to both sides of the comparison.
        self.cassette = _normalized(cassette, redactor) if redactor else cassette
        self.redactor = redactor
        self.match = match
        self._lock = threading.Lock()
        self._unused = list(range(len(cassette.connections)))
        self._starts = [_start(c.events) for c in self.cassette.connections]
        self._exchanges = _exchanges(self.cassette) if cassette.datagram else []
        self._next_exchange = 0

    # -- choosing a recorded connection --------------------------------------------

    def take(self) -> Chosen | None:
        """``"order"`` mode: the next unused recorded connection (now used), or None."""
        with self._lock:
            return self._take(self._unused[0]) if self._unused else None

    def take_silent(self) -> Chosen | None:
        """The earliest unused connection whose client sent nothing (for a client that
        closed without a word), or None."""
        with self._lock:
            for index in self._unused:
                if self._starts[index] == "silent":
                    return self._take(index)
        return None

    def choose(self, first_bytes: bytes, *, whole_turn: bool = False) -> Decision:
        """Choose a recorded connection for a new one from all the client sent so far.

        ``first_bytes`` is every byte the client sent on the new connection before it
        was answered (``b""`` at open). :class:`Chosen` marks the connection used;
        :class:`Undecided` asks for more bytes; :class:`NoMatch` means none can match.
        With ``whole_turn=True`` (a ``new_episodes`` server, which must not replay a
        connection whose first turn merely begins like a recorded one) a client-first
        connection is chosen only when the bytes are a whole recorded first turn.

        One call compares all of ``first_bytes``; to feed bytes as they arrive in
        linear time use :meth:`chooser`.
        """
        return self.chooser(whole_turn=whole_turn).feed(first_bytes)

    def chooser(self, *, whole_turn: bool = False) -> FirstTurnChoice:
        """A :class:`FirstTurnChoice` for one new connection (see :meth:`choose`)."""
        return FirstTurnChoice(self, whole_turn=whole_turn)

    def _decide(self, choice: FirstTurnChoice) -> Decision:
        live = choice.live
        with self._lock:
            if not live and self._unused and self._starts[self._unused[0]] == "server":
                return self._take(self._unused[0])
            fitting: dict[bytes, int] = {}  # distinct first turn -> earliest unused index
            whole: list[int] = []
            ruled_out: set[bytes] = set()
            nearest: tuple[int, int] | None = None  # (-difference, index): the best miss
            for index in self._unused:
                if self._starts[index] != "client":
                    continue
                turn = self._first_turn(index)
                if turn in fitting or turn in ruled_out:
                    continue
                check = choice.checks.get(turn)
                if check is None:
                    check = choice.checks[turn] = TurnCheck(turn, self.redactor)
                miss = check.misfit(live)
                if miss is None:
                    fitting[turn] = index
                    if len(live) == len(turn):
                        whole.append(index)
                    continue
                ruled_out.add(turn)
                if nearest is None or (-miss, index) < nearest:
                    nearest = (-miss, index)
            if whole:
                return self._take(min(whole))
            if len(fitting) == 1 and live and not choice.whole_turn:
                return self._take(next(iter(fitting.values())))
            if fitting or (not live and "silent" in (self._starts[i] for i in self._unused)):
                return Undecided(tuple(sorted(i + 1 for i in fitting.values())))
            if nearest is None:
                if not self._unused:
                    return NoMatch("beyond the recording: no recorded connection is left for this one")
                left = ", ".join(str(i + 1) for i in self._unused)
                return NoMatch(f"no unused recorded connection begins with a client turn (unused: {left})")
            offset, index = -nearest[0], nearest[1]
            where = f"nearest: connection {index + 1}, client turn 1"
            report = describe(where, self.shown(live), self._first_turn(index), offset)
            return NoMatch(f"no unused recorded connection begins with this client turn; {report}", index + 1)

    def shown(self, live: bytes | bytearray) -> bytes:
        """Live bytes as a report shows them: through the patterns, as the recording was."""
        return self.redactor(bytes(live)) if self.redactor else bytes(live)

    def _first_turn(self, index: int) -> bytes:
        event = self.cassette.connections[index].events[0]
        assert isinstance(event, DataEvent)
        return event.payload

    def _take(self, index: int) -> Chosen:
        self._unused.remove(index)
        return Chosen(index + 1, self.cassette.connections[index])

    # -- what is left ------------------------------------------------------------------

    def unused(self) -> list[int]:
        """Numbers (from 1) of recorded connections (datagram kinds: peers) no client used."""
        with self._lock:
            if self.cassette.datagram:
                return sorted({number for number, *_ in self._exchanges[self._next_exchange :]})
            return [index + 1 for index in self._unused]

    # -- datagrams -----------------------------------------------------------------------

    def next_exchange(self, request: bytes) -> tuple[bool, list[bytes], str]:
        """Datagrams: (matched, responses, report) for the next recorded exchange.

        A datagram matches only as a whole: neither a prefix nor extra bytes do.
        """
        with self._lock:
            if self._next_exchange >= len(self._exchanges):
                return False, [], "the recording has no more datagrams"
            number, expected, responses = self._exchanges[self._next_exchange]
            compared = self.redactor(request) if self.redactor else request
            if compared == expected:
                self._next_exchange += 1
                return True, responses, ""
            where = f"recorded datagram {self._next_exchange + 1} (peer {number})"
            return False, [], describe(where, compared, expected)


class FirstTurnChoice:
    """Choosing a recorded connection for one new connection, fed bytes as they arrive.

    Each live byte is compared once per distinct recorded first turn, so a long first
    turn costs linear time. :meth:`feed` returns the book's decision; after
    :class:`Chosen` or :class:`NoMatch` the choice is over (do not feed it again).
    """

    def __init__(self, book: ReplayBook, *, whole_turn: bool = False) -> None:
        self.book = book
        self.whole_turn = whole_turn
        #: Every byte fed so far.
        self.live = bytearray()
        #: Comparison state per distinct recorded first turn.
        self.checks: dict[bytes, TurnCheck] = {}

    def feed(self, data: bytes = b"") -> Decision:
        """Add ``data`` (the client's newest bytes, ``b""`` at open) and decide."""
        self.live += data
        return self.book._decide(self)


def _start(events: list[CassetteEvent]) -> Start:
    """Who speaks first on a recorded connection: the server, the client, or nobody."""
    if not events or (events[0].side == "client" and not isinstance(events[0], DataEvent)):
        return "silent"
    return "server" if events[0].side == "server" else "client"


def _normalized(cassette: Cassette, redactor: Redactor) -> Cassette:
    def client_side(event: CassetteEvent) -> CassetteEvent:
        if isinstance(event, DataEvent) and event.side == "client":
            return DataEvent(event.t, event.side, redactor(event.payload))
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
            if not isinstance(event, DataEvent):
                continue
            if event.side == "client":
                current = (connection.opened + event.t, number, event.payload, [])
                timed.append(current)
            elif current is not None:
                current[3].append(event.payload)
    timed.sort(key=lambda exchange: exchange[0])
    return [(number, request, responses) for _, number, request, responses in timed]
