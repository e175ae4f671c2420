"""Datagram faults at work on one server or proxy: each peer's faults, and the datagrams due later.

The sans-IO :class:`~socketdouble.core.datagram_faults.DatagramFaults` decides what
becomes of each datagram of one peer and direction; :class:`FaultyDatagrams` carries it
out. A datagram is passed on through a *deliver* function (send it to the client, hand
it to the double, forward it upstream): at once when it is due and nothing of its peer
and direction waits before it, else it joins one timer queue that the server's serve
loop serves (the loop's wait times out when the next datagram is due, and a thread that
queues one due sooner nudges it). No thread sleeps per datagram.

At stop(), every datagram still held (delayed, or kept by a ``reorder``) is dropped
with a note on its peer's record: it had not arrived when the server stopped, as a
datagram still in flight on a real network, and stop() stays prompt. Datagrams passed
on after that (a handler thread that outlived stop()) go at once, without faults.

A server whose fault list never changed (``faults.version == 0``) never calls in here.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.datagram_faults import DatagramFaults, PeerFaults
from ..core.events import EventKind
from ..core.fault_spec import FaultList, Flow
from ..core.recording import ConnectionRecord
from ..core.stream_faults import Piece

__all__ = ["Deliver", "FaultyDatagrams", "held_note"]

Deliver = Callable[[bytes], None]
"""Where one peer's datagrams go in one direction, once the faults let them."""

_TOWARD = {"to_client": "to the client", "from_client": "from the client"}


def held_note(flow: Flow, data: bytes) -> str:
    """The note for a datagram a fault still held when the server stopped."""
    return f"a datagram {_TOWARD[flow]} ({len(data)} bytes) held by a fault was dropped at stop()"


@dataclass(eq=False)
class _Way:
    """One direction of one peer: its faults, where its datagrams go, how many wait in the queue."""

    record: ConnectionRecord
    flow: Flow
    faults: PeerFaults
    deliver: Deliver
    queued: int = 0
    last: float = 0.0  # the due time of the latest one queued: none after it may go before it


@dataclass
class _Batch:
    """What one call decided, carried out once the lock is released."""

    events: list[tuple[ConnectionRecord, list[str]]] = field(default_factory=list)
    ready: list[tuple[_Way, bytes]] = field(default_factory=list)
    dropped: list[tuple[_Way, bytes]] = field(default_factory=list)

    def carry_out(self, on_error: Callable[[BaseException], None]) -> None:
        # Fault events first: the transcript says what the network did before what passed.
        for record, texts in self.events:
            for text in texts:
                record.on_fault(text)
        for way, data in self.dropped:
            way.record.on_note(held_note(way.flow, data))
        for way, data in self.ready:
            try:
                way.deliver(data)
            except Exception as error:  # one datagram's failure does not hold back the others
                on_error(error)


class FaultyDatagrams:
    """A datagram server's faults at work; see the module docstring.

    ``nudge()`` wakes the serve loop (work due sooner than it expects); ``on_error``
    records an error no connection owns.
    """

    def __init__(
        self,
        faults: FaultList,
        seed: int,
        nudge: Callable[[], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._faults = faults
        self._seed = seed
        self._nudge = nudge
        self._on_error = on_error
        self._lock = threading.Lock()
        self._peers: dict[int, DatagramFaults] = {}  # by record number, made when first needed
        self._ways: dict[tuple[int, Flow], _Way] = {}
        self._queue: list[tuple[float, int, _Way, bytes]] = []  # a heap by (due time, arrival)
        self._arrival = itertools.count()
        self._holding: set[_Way] = set()  # ways whose reorder holds datagrams
        self._armed = math.inf  # when the serve loop calls run_due() next, as far as it knows
        self._stopped = False

    def pass_on(self, record: ConnectionRecord, flow: Flow, data: bytes, deliver: Deliver) -> None:
        """Send ``data`` (``flow`` of ``record``'s peer) through the faults to ``deliver``."""
        if self._stopped:  # a handler thread that outlived stop(): nothing serves a queue any more
            deliver(data)
            return
        batch = _Batch()
        with self._lock:
            now = time.monotonic()
            peer = self._peer(record)
            way = self._way(record, flow, peer, deliver)
            self._orphans(record, peer, now, batch)
            events: list[str] = []
            self._place(way, way.faults.datagram(data, now, events), now, batch)
            batch.events.append((record, events))
            if way.faults.due() < math.inf:
                self._holding.add(way)
            nudge = self._rearm()
        batch.carry_out(self._on_error)
        if nudge:
            self._nudge()

    def acts_on(self, record: ConnectionRecord, flow: Flow) -> bool:
        """True when a fault acts on ``flow`` of ``record``'s peer now."""
        with self._lock:
            peer = self._peer(record)
            peer.refresh()
            return peer.flow(flow).active

    def run_due(self) -> float | None:
        """Pass on what came due; the seconds until more is (None: nothing waits). The serve loop's timer."""
        batch = _Batch()
        with self._lock:
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, way, data = heapq.heappop(self._queue)
                way.queued -= 1
                batch.ready.append((way, data))
            for way in list(self._holding):
                peer = self._peers[way.record.number]
                self._orphans(way.record, peer, now, batch)  # a reorder removed: what it held goes now
                events: list[str] = []
                self._place(way, way.faults.release(now, events), now, batch)
                batch.events.append((way.record, events))
                if way.faults.due() == math.inf:
                    self._holding.discard(way)
            self._armed = self._next()
            wait = None if self._armed == math.inf else max(0.0, self._armed - now)
        batch.carry_out(self._on_error)
        return wait

    def stop(self) -> None:
        """Drop what is still held, with a note each; from now on nothing is held."""
        batch = _Batch()
        with self._lock:
            self._stopped = True
            batch.dropped = [(way, data) for _, _, way, data in sorted(self._queue, key=lambda e: e[:2])]
            self._queue.clear()
            for way in self._ways.values():
                held = way.faults.update(())  # every fault gone: the held datagrams come back
                held += self._peers[way.record.number].orphans[way.flow]
                batch.dropped += [(way, piece.data) for piece in held]
            self._holding.clear()
        batch.carry_out(self._on_error)

    # -- under the lock --------------------------------------------------------------

    def _peer(self, record: ConnectionRecord) -> DatagramFaults:
        peer = self._peers.get(record.number)
        if peer is None:
            peer = self._peers[record.number] = DatagramFaults(self._faults, self._seed, record.number)
            # Made when first needed: the datagrams before passed untouched, and are counted
            # here so that events number datagrams as the peer saw them.
            peer.from_client.count = len(record.requests)
            peer.to_client.count = sum(1 for event in list(record.events) if event.kind is EventKind.SEND)
        return peer

    def _way(self, record: ConnectionRecord, flow: Flow, peer: DatagramFaults, deliver: Deliver) -> _Way:
        way = self._ways.get((record.number, flow))
        if way is None:
            way = self._ways[record.number, flow] = _Way(record, flow, peer.flow(flow), deliver)
        way.deliver = deliver  # the latest: a proxy's link to the upstream may be new
        return way

    def _orphans(self, record: ConnectionRecord, peer: DatagramFaults, now: float, batch: _Batch) -> None:
        """Follow a change of the fault list; datagrams a removed reorder held go at once."""
        peer.refresh()
        for flow, pieces in peer.orphans.items():
            way = self._ways.get((record.number, flow))
            if pieces and way is not None:  # only a way that passed datagrams can have held some
                self._place(way, [Piece(now, piece.data) for piece in pieces], now, batch)
                pieces.clear()

    def _place(self, way: _Way, pieces: list[Piece], now: float, batch: _Batch) -> None:
        """Each piece to pass on now, or to queue for its time (in order within its way)."""
        for piece in pieces:
            if piece.at <= now and way.queued == 0:
                batch.ready.append((way, piece.data))
            else:
                way.last = max(piece.at, way.last) if way.queued else piece.at
                heapq.heappush(self._queue, (way.last, next(self._arrival), way, piece.data))
                way.queued += 1

    def _next(self) -> float:
        head = self._queue[0][0] if self._queue else math.inf
        return min([head, *(way.faults.due() for way in self._holding)])

    def _rearm(self) -> bool:
        """True when the serve loop must be woken: something is due before it would look."""
        due = self._next()
        if due < self._armed:
            self._armed = due
            return True
        return False
