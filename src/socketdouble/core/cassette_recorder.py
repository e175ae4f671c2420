"""Builds a cassette from live traffic, in time linear in the bytes recorded.

The socket layer reports each read (``ConnectionLog.data``) and close; on stream kinds a
side's consecutive reads are one *turn*. A pump reports every chunk, so a read costs
little: three items appended to one flat list under the lock, no object made (fewer
objects also spare the garbage collector). A turn's second read turns its payload into a
list of its chunks, joined once when the cassette is taken (appending to ``bytes``
would copy the whole turn on every read: a 40 MB turn in 64 KiB reads took seconds,
200 MB minutes). The cassette's events are made only when it is taken.
"""

from __future__ import annotations

import threading
from typing import Any, cast

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


class ConnectionLog:
    """The event log of one live connection; safe to write from several threads."""

    def __init__(
        self,
        recorder: CassetteRecorder,
        opened: float,
        client: InetAddress | None = None,
        server: InetAddress | None = None,
    ) -> None:
        self._lock = recorder.lock
        self._merge = recorder.merge_turns
        self._opened = opened
        self._client = client
        self._server = server
        self._start = opened - recorder.started
        #: Flat, three items per entry: ``now, side, payload`` for a turn (datagram kinds: a
        #: datagram; payload: bytes, or a list of chunks once the turn has two), ``now, side,
        #: how`` for a close (``how`` is a str).
        self._log: list[Any] = []
        self._side: Side | None = None  # who sends the open turn, the log's last entry (None: none)

    def data(self, side: Side, payload: bytes, now: float) -> None:
        """``side`` sent ``payload``; on streams, a side's consecutive sends are one turn."""
        if type(payload) is not bytes:  # the caller's buffer may be reused: keep bytes of our own
            payload = bytes(payload)
        with self._lock:
            log = self._log
            if side != self._side:
                log += (now, side, payload)
                if self._merge:
                    self._side = side
            elif type(log[-1]) is list:
                log[-1].append(payload)
            else:
                log[-1] = [log[-1], payload]

    def close(self, side: Side, how: CloseHow, now: float) -> None:
        """``side`` closed its direction (fin) or the connection (reset)."""
        with self._lock:
            self._log += (now, side, how)
            self._side = None  # a close ends the open turn

    def snapshot(self) -> RecordedConnection:
        """The connection so far, unredacted; an open turn is copied and stays open."""
        events: list[CassetteEvent] = []
        opened = self._opened
        with self._lock:
            log = self._log
            for i in range(0, len(log), 3):
                now, side, item = log[i : i + 3]
                if type(item) is str:
                    events.append(CloseEvent(now - opened, side, cast(CloseHow, item)))
                    continue
                if type(item) is list:
                    item = log[i + 2] = b"".join(item)  # joined once: later reads join to it
                events.append(DataEvent(now - opened, side, item))
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
