"""What stream faults do to one connection's bytes: plans of timed pieces and an ending.

Sans-IO: the socket layer hands each chunk (one write, one read) to the connection's
:class:`ConnectionFaults` with the current time and gets back a :class:`Plan`: the
:class:`Piece` s to pass on, each at its time (latency, bandwidth, slicer), the fault
events to record, and maybe an :class:`Ending` — from then on nothing more passes in
that direction, and at ``Ending.at`` the connection is closed or reset (``math.inf``:
never; a blackhole holds the connection until the peer closes or the server stops).

Faults apply in list order, each to what the one before let through, so
``[slicer(10), latency(0.1)]`` delays every slice. A change to the server's
:class:`~socketdouble.core.fault_spec.FaultList` reaches an open connection at its next
chunk; a fault that stays in the list keeps its state (bytes counted, draws made).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .fault_spec import Fault, FaultList, Flow, follow_faults

__all__ = ["ConnectionFaults", "Ending", "FlowFaults", "Piece", "Plan"]

NEVER = math.inf
#: Most bytes bandwidth() lets through at once: 0.1 s worth (no burst above it).
BURST_SECONDS = 0.1
_TOWARD = {"to_client": "to the client", "from_client": "from the client"}


@dataclass(frozen=True)
class Piece:
    """Bytes to pass on, not before ``at`` (a ``time.monotonic()`` value)."""

    at: float
    data: bytes


@dataclass(frozen=True)
class Ending:
    """The direction passes nothing more; at ``at`` the connection is closed (FIN) or reset (RST)."""

    at: float
    how: Literal["close", "reset"]


@dataclass
class Plan:
    """What to do with one chunk: pass ``pieces`` in order, record ``events``, then any ``ending``."""

    pieces: list[Piece] = field(default_factory=list)
    ending: Ending | None = None
    events: list[str] = field(default_factory=list)
    #: Bytes a fault kept from passing (after a blackhole, a close, a reset, or garbage).
    withheld: int = 0


class _State:
    """One fault acting on one direction of one connection."""

    #: Whether what it lets through, once it acts, is not the chunk's bytes (garbage).
    replaces = False

    def __init__(self, fault: Fault, rng: random.Random, flow: Flow) -> None:
        self.fault = fault
        self.rng = rng
        self.toward = _TOWARD[flow]
        self.told = False  # continuous faults are recorded once, when they first act

    def once(self, text: str, events: list[str]) -> None:
        if not self.told:
            self.told = True
            events.append(text)

    def opened(self, now: float, events: list[str]) -> Ending | None:
        return None

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        return pieces, None

    def closing_delay(self) -> float:
        return 0.0


class _Latency(_State):
    last = 0.0

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        seconds, jitter = self.fault["seconds"], self.fault["jitter"]
        out = []
        for piece in pieces:
            delay = max(0.0, seconds + self.rng.uniform(-jitter, jitter)) if jitter else seconds
            self.last = max(piece.at + delay, self.last)  # order kept
            out.append(Piece(self.last, piece.data))
        shown = f"{seconds} s" + (f" ± {jitter} s" if jitter else "")
        self.once(f"latency {shown} on data {self.toward}", events)
        return out, None


class _Bandwidth(_State):
    next_free = 0.0

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        rate = self.fault["bytes_per_second"]
        burst = max(1, int(rate * BURST_SECONDS))
        out = []
        for piece in pieces:
            for start in range(0, len(piece.data), burst):
                part = piece.data[start : start + burst]
                at = max(piece.at, self.next_free)
                out.append(Piece(at, part))
                self.next_free = at + len(part) / rate
        self.once(f"bandwidth {rate} bytes/s {self.toward}", events)
        return out, None


class _Slicer(_State):
    last = 0.0

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        size, variation, delay = self.fault["size"], self.fault["variation"], self.fault["delay"]
        out = []
        for piece in pieces:
            at = max(piece.at, self.last)
            start = 0
            while start < len(piece.data):
                length = max(1, size + (self.rng.randint(-variation, variation) if variation else 0))
                if start:
                    at += delay
                out.append(Piece(at, piece.data[start : start + length]))
                start += length
            self.last = at
        apart = f" {delay} s apart" if delay else ""
        shown = f"{size}" + (f" ± {variation}" if variation else "")
        self.once(f"slicer: pieces of {shown} bytes{apart} {self.toward}", events)
        return out, None


class _AfterBytes(_State):
    """A fault that lets ``after`` bytes through, then ends the direction."""

    after_key = "after_bytes"
    passed = 0

    def ending(self, at: float) -> Ending:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def opened(self, now: float, events: list[str]) -> Ending | None:
        if self.fault[self.after_key] == 0:
            events.append(self.text())
            return self.ending(now)
        return None

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        limit = self.fault[self.after_key]
        out = []
        for piece in pieces:
            room = limit - self.passed
            if len(piece.data) < room:
                out.append(piece)
                self.passed += len(piece.data)
                continue
            if room:
                out.append(Piece(piece.at, piece.data[:room]))
                self.passed += room
            events.append(self.text())
            return out, self.ending(piece.at)
        return out, None


class _CloseAfter(_AfterBytes):
    after_key = "nbytes"

    def ending(self, at: float) -> Ending:
        return Ending(at, "close")

    def text(self) -> str:
        return f"close after {self.fault['nbytes']} bytes {self.toward}"


class _Reset(_AfterBytes):
    def ending(self, at: float) -> Ending:
        return Ending(at + self.fault["delay"], "reset")

    def text(self) -> str:
        after, delay = self.fault["after_bytes"], self.fault["delay"]
        late = f", {delay} s later" if delay else ""
        where = "at accept" if after == 0 else f"after {after} bytes {self.toward}"
        return f"reset {where}{late}"


class _Blackhole(_AfterBytes):
    def ending(self, at: float) -> Ending:
        return Ending(NEVER, "close")

    def text(self) -> str:
        return f"blackhole after {self.fault['after_bytes']} bytes {self.toward}: nothing more passes"


class _Timeout(_AfterBytes):
    def ending(self, at: float) -> Ending:
        return Ending(at + self.fault["seconds"], "close")

    def text(self) -> str:
        return (
            f"timeout after {self.fault['after_bytes']} bytes {self.toward}: nothing more passes, "
            f"closed {self.fault['seconds']} s later"
        )


class _Garbage(_State):
    replaces = True

    def apply(self, pieces: list[Piece], events: list[str]) -> tuple[list[Piece], Ending | None]:
        if not pieces:
            return pieces, None
        nbytes = self.fault["nbytes"]
        junk = self.rng.randbytes(nbytes)
        size = sum(len(piece.data) for piece in pieces)
        events.append(f"garbage: {nbytes} random bytes instead of {size} {self.toward}, then close")
        return [Piece(pieces[0].at, junk)], Ending(pieces[0].at, "close")


class _SlowClose(_State):
    def closing_delay(self) -> float:
        return float(self.fault["seconds"])


class _Refuse(_State):
    def opened(self, now: float, events: list[str]) -> Ending | None:
        events.append("refused: reset at accept")
        return Ending(now, "reset")


_STATES: dict[str, Callable[[Fault, random.Random, Flow], _State]] = {
    "latency": _Latency,
    "bandwidth": _Bandwidth,
    "slicer": _Slicer,
    "close_after": _CloseAfter,
    "reset": _Reset,
    "blackhole": _Blackhole,
    "timeout": _Timeout,
    "garbage": _Garbage,
    "slow_close": _SlowClose,
    "refuse": _Refuse,
}
#: Faults that act on the connection, not on one direction's bytes: applied once,
#: as if they were "to_client" faults, whatever their direction says.
_WHOLE_CONNECTION = {"refuse", "slow_close"}


class FlowFaults:
    """The faults acting on one direction of one connection."""

    def __init__(self, seed: int, connection: int, flow: Flow) -> None:
        self.seed = seed
        self.connection = connection
        self.flow = flow
        self._states: dict[tuple[Fault, int], _State] = {}
        self._order: list[_State] = []
        #: Set once a fault ended this direction: nothing more passes.
        self.ended: Ending | None = None

    @property
    def active(self) -> bool:
        return bool(self._order) or self.ended is not None

    def update(self, faults: tuple[Fault, ...]) -> None:
        """Act from now on with ``faults``; a fault still in the list keeps its state."""

        def acts(fault: Fault) -> bool:
            if fault.name in _WHOLE_CONNECTION:
                return self.flow == "to_client"
            return fault.acts_on(self.flow)

        # Listener and datagram faults have no maker here: they are not about this direction's bytes.
        states = follow_faults(faults, self._states, self.seed, self.connection, self.flow, _STATES, acts)
        self._states = states
        self._order = list(states.values())

    def opened(self, now: float) -> Plan:
        """What the faults do as the connection opens (reset at accept, a blackhole from byte 0...)."""
        plan = Plan()
        for state in self._order:
            ending = state.opened(now, plan.events)
            if ending is not None:
                self.ended = plan.ending = ending
                break
        return plan

    def chunk(self, data: bytes, now: float) -> Plan:
        """What to do with ``data`` read or written ``now``."""
        plan = Plan()
        if self.ended is not None:
            plan.withheld = len(data)
            return plan
        pieces = [Piece(now, data)]
        replaced = False  # garbage went in place of the chunk: none of its bytes passed
        for state in self._order:
            pieces, ending = state.apply(pieces, plan.events)
            if ending is not None:
                replaced = replaced or state.replaces
                if plan.ending is None:
                    plan.ending = ending
        if plan.ending is not None:
            last = max((piece.at for piece in pieces), default=now)
            self.ended = plan.ending = Ending(max(plan.ending.at, last), plan.ending.how)
            passed = 0 if replaced else sum(len(piece.data) for piece in pieces)
            plan.withheld = len(data) - passed
        plan.pieces = pieces
        return plan

    def closing_delay(self) -> float:
        """Seconds the server's own close waits (slow_close)."""
        return max((state.closing_delay() for state in self._order), default=0.0)


class ConnectionFaults:
    """Both directions of one connection, following the server's live fault list.

    ``refresh()`` is the one call per chunk a connection makes: an integer comparison
    when nothing changed.
    """

    def __init__(self, faults: FaultList, seed: int, connection: int) -> None:
        self._faults = faults
        self._version = -1
        self.to_client = FlowFaults(seed, connection, "to_client")
        self.from_client = FlowFaults(seed, connection, "from_client")
        self.refresh()

    def refresh(self) -> bool:
        """Follow a change of the server's faults; True when any fault acts on this connection."""
        if self._faults.version != self._version:
            self._version, faults = self._faults.snapshot()
            self.to_client.update(faults)
            self.from_client.update(faults)
        return self.to_client.active or self.from_client.active

    def flow(self, flow: Flow) -> FlowFaults:
        return self.to_client if flow == "to_client" else self.from_client

    def opened(self, now: float) -> Plan:
        """The opening plans of both directions, the earlier ending kept."""
        first = self.to_client.opened(now)
        second = self.from_client.opened(now)
        first.events.extend(second.events)
        if second.ending is not None and (first.ending is None or second.ending.at < first.ending.at):
            first.ending = second.ending
        return first

    def ending(self) -> Ending | None:
        """The earliest close or reset a fault scheduled (``at`` is ``math.inf`` for a blackhole)."""
        endings = [ending for ending in (self.to_client.ended, self.from_client.ended) if ending is not None]
        return min(endings, key=lambda ending: ending.at, default=None)

    def closing_delay(self) -> float:
        """Seconds the server's own close waits (slow_close)."""
        return self.to_client.closing_delay()
