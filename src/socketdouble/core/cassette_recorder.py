"""Builds a cassette from live traffic, in time linear in the bytes recorded.

The socket layer reports each read (``ConnectionLog.data``) and close; on stream kinds a
side's consecutive reads are one *turn*. The open turn grows in place in a ``bytearray``
(amortised O(1) per read) and becomes ``bytes`` once, when the other side speaks or
closes, or in a copy when the cassette is taken: appending to ``bytes`` would copy the
whole turn on every read (a 40 MB turn in 64 KiB reads took seconds; 200 MB, minutes).
"""

from __future__ import annotations

import threading

from ..errors import ConfigurationError
from .cassette_model import (
    DATAGRAM_KINDS,
    KINDS,
    Cassette,
    CassetteEvent,
    CloseEvent,
    CloseHow,
    DataEvent,
    InetAddress,
    RecordedConnection,
    Redactor,
    Side,
    inet_address,
)

__all__ = ["CassetteRecorder", "ConnectionLog"]


class _OpenTurn:
    """The turn a side is still sending: its chunks so far, joined once when it is taken.

    A list of the chunks as they came, not one growing buffer: a growing buffer copies
    itself each time it outgrows its allocation (several times the turn's size in all),
    where the join copies each byte once.
    """

    __slots__ = ("chunks", "side", "t")

    def __init__(self, t: float, side: Side, payload: bytes) -> None:
        self.t = t
        self.side = side
        self.chunks = [_frozen(payload)]

    def add(self, payload: bytes) -> None:
        self.chunks.append(_frozen(payload))

    def freeze(self) -> DataEvent:
        joined = b"".join(self.chunks)
        self.chunks = [joined]  # a later snapshot of a still-open turn joins nothing again
        return DataEvent(self.t, self.side, joined)


def _frozen(payload: bytes) -> bytes:
    # The caller's buffer may be reused (a bytearray, a memoryview): keep bytes of our own.
    return payload if type(payload) is bytes else bytes(payload)


class ConnectionLog:
    """The event log of one live connection; safe to write from both pump threads."""

    def __init__(
        self,
        recorder: CassetteRecorder,
        opened: float,
        client: InetAddress | None = None,
        server: InetAddress | None = None,
    ) -> None:
        self._recorder = recorder
        self._opened = opened
        self._client = client
        self._server = server
        self._start = opened - recorder.started
        self._events: list[CassetteEvent] = []  # finished events; the open turn is kept apart
        self._turn: _OpenTurn | None = None

    def data(self, side: Side, payload: bytes, now: float) -> None:
        """``side`` sent ``payload``; on streams, a side's consecutive sends are one turn."""
        with self._recorder.lock:
            turn = self._turn
            if turn is not None and turn.side == side:
                turn.add(payload)
                return
            self._end_turn()
            if self._recorder.merge_turns:
                self._turn = _OpenTurn(now - self._opened, side, payload)
            else:
                self._events.append(DataEvent(now - self._opened, side, bytes(payload)))

    def close(self, side: Side, how: CloseHow, now: float) -> None:
        """``side`` closed its direction (fin) or the connection (reset)."""
        with self._recorder.lock:
            self._end_turn()
            self._events.append(CloseEvent(now - self._opened, side, how))

    def _end_turn(self) -> None:
        # The caller holds the recorder's lock.
        if self._turn is not None:
            self._events.append(self._turn.freeze())
            self._turn = None

    def snapshot(self) -> RecordedConnection:
        """The connection so far, unredacted; an open turn is copied and stays open."""
        with self._recorder.lock:
            events = list(self._events)
            if self._turn is not None:
                events.append(self._turn.freeze())
        return RecordedConnection(self._start, events, self._client, self._server)


class CassetteRecorder:
    """Collects connection logs; :meth:`cassette` gives them redacted, ready to save.

    Timestamps come from the caller (seconds on any monotonic clock), so this stays pure.
    """

    def __init__(self, kind: str, redactor: Redactor | None = None, started: float = 0.0) -> None:
        if kind not in KINDS:
            raise ConfigurationError(f"kind={kind!r} is not a cassette kind; use one of {', '.join(KINDS)}")
        self.kind = kind
        self.redactor = redactor or Redactor()
        self.started = started
        self.merge_turns = kind not in DATAGRAM_KINDS
        self.lock = threading.Lock()
        self._logs: list[ConnectionLog] = []

    def open(self, now: float, client: object = None, server: object = None) -> ConnectionLog:
        """A new connection (datagram kinds: a new peer) opened at ``now``.

        ``client`` and ``server`` are socket addresses as the socket layer has them (the
        client's peer address, the upstream's); only IP ones are kept (see
        :func:`~.cassette_model.inet_address`), for ``socketdouble export --pcap``.
        """
        log = ConnectionLog(self, now, inet_address(client), inet_address(server))
        with self.lock:
            self._logs.append(log)
        return log

    def cassette(self) -> Cassette:
        """The recording so far, with every payload redacted (``bytes`` payloads)."""
        with self.lock:
            logs = list(self._logs)
        # Redaction runs outside the lock, so the pump threads are not held up by it.
        connections = [log.snapshot() for log in logs]
        for connection in connections:
            connection.events = [
                DataEvent(e.t, e.side, self.redactor(e.payload)) if isinstance(e, DataEvent) else e
                for e in connection.events
            ]
        return Cassette(self.kind, connections, self.redactor.sources)
