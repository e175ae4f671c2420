"""What datagram faults do to one peer's datagrams: drop, duplicate, truncate, corrupt, reorder, delay.

Sans-IO, like :mod:`~socketdouble.core.stream_faults`: the socket layer hands each
datagram of one peer and direction to :meth:`PeerFaults.datagram` with the current time
and sends (or feeds to the double) the :class:`~socketdouble.core.stream_faults.Piece` s
it gets back, each at its time. ``reorder`` may hold datagrams: :meth:`PeerFaults.due`
says when held ones must go, and :meth:`PeerFaults.release` gives them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from .fault_spec import Fault, FaultList, Flow, follow_faults
from .stream_faults import Piece

__all__ = ["DatagramFaults", "PeerFaults"]

_TOWARD = {"to_client": "to the client", "from_client": "from the client"}


class _State:
    """One fault acting on one direction of one peer's datagrams."""

    def __init__(self, fault: Fault, rng: random.Random, flow: Flow) -> None:
        self.fault = fault
        self.rng = rng
        self.toward = _TOWARD[flow]

    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        raise NotImplementedError

    def due(self) -> float:
        return math.inf

    def release(self, now: float, events: list[str]) -> list[Piece]:
        return []

    def hit(self, probability: float) -> bool:
        return probability >= 1.0 or self.rng.random() < probability


class _Drop(_State):
    burst_left = 0

    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        kept = []
        for piece in pieces:
            if self.burst_left == 0 and self.hit(self.fault["probability"]):
                self.burst_left = self.fault["burst"]
            if self.burst_left:
                self.burst_left -= 1
                events.append(f"dropped datagram {number} {self.toward} ({len(piece.data)} bytes)")
            else:
                kept.append(piece)
        return kept


class _Duplicate(_State):
    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        out = []
        for piece in pieces:
            out.append(piece)
            if self.hit(self.fault["probability"]):
                copies = self.fault["copies"]
                out.extend([piece] * copies)
                events.append(f"duplicated datagram {number} {self.toward} ({copies} extra)")
        return out


class _Truncate(_State):
    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        keep = self.fault["nbytes"]
        out = []
        for piece in pieces:
            if len(piece.data) > keep:
                events.append(
                    f"truncated datagram {number} {self.toward} from {len(piece.data)} to {keep} bytes"
                )
                piece = Piece(piece.at, piece.data[:keep])
            out.append(piece)
        return out


class _Corrupt(_State):
    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        out = []
        for piece in pieces:
            size = len(piece.data) * 8
            if size and self.hit(self.fault["probability"]):
                flipped = bytearray(piece.data)
                positions = sorted(self.rng.sample(range(size), min(self.fault["bits"], size)))
                for bit in positions:
                    flipped[bit // 8] ^= 0x80 >> (bit % 8)
                events.append(f"corrupted datagram {number} {self.toward}: bit(s) {positions} flipped")
                piece = Piece(piece.at, bytes(flipped))
            out.append(piece)
        return out


class _Reorder(_State):
    def __init__(self, fault: Fault, rng: random.Random, flow: Flow) -> None:
        super().__init__(fault, rng, flow)
        self.held: list[tuple[int, Piece]] = []
        self.since = math.inf

    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        out = []
        for piece in pieces:
            if not self.held:
                self.since = piece.at
            self.held.append((number, piece))
            if len(self.held) >= self.fault["window"]:
                out.extend(self._let_go(piece.at, shuffle=True, events=events))
        return out

    def due(self) -> float:
        return self.since + self.fault["max_hold"] if self.held else math.inf

    def release(self, now: float, events: list[str]) -> list[Piece]:
        if not self.held or now < self.due():
            return []
        return self._let_go(now, shuffle=False, events=events)

    def _let_go(self, now: float, *, shuffle: bool, events: list[str]) -> list[Piece]:
        held, self.held, self.since = self.held, [], math.inf
        if shuffle:
            self.rng.shuffle(held)
            order = ", ".join(str(number) for number, _ in held)
            events.append(f"reordered datagrams {self.toward}: sent as {order}")
        return [Piece(max(now, piece.at), piece.data) for _, piece in held]


class _Latency(_State):
    last = 0.0
    told = False

    def apply(self, number: int, pieces: list[Piece], events: list[str]) -> list[Piece]:
        seconds, jitter = self.fault["seconds"], self.fault["jitter"]
        out = []
        for piece in pieces:
            delay = max(0.0, seconds + self.rng.uniform(-jitter, jitter)) if jitter else seconds
            self.last = max(piece.at + delay, self.last)  # order kept
            out.append(Piece(self.last, piece.data))
        if pieces and not self.told:
            self.told = True
            shown = f"{seconds} s" + (f" ± {jitter} s" if jitter else "")
            events.append(f"latency {shown} on datagrams {self.toward}")
        return out


_STATES: dict[str, Callable[[Fault, random.Random, Flow], _State]] = {
    "drop": _Drop,
    "duplicate": _Duplicate,
    "truncate": _Truncate,
    "corrupt": _Corrupt,
    "reorder": _Reorder,
    "latency": _Latency,
}


class PeerFaults:
    """The faults acting on one direction of one peer's datagrams."""

    def __init__(self, seed: int, peer: int, flow: Flow) -> None:
        self.seed = seed
        self.peer = peer
        self.flow = flow
        self._states: dict[tuple[Fault, int], _State] = {}
        self._order: list[_State] = []
        self.count = 0  # datagrams seen in this direction, numbered from 1 in events

    @property
    def active(self) -> bool:
        return bool(self._order)

    def update(self, faults: tuple[Fault, ...]) -> list[Piece]:
        """Act from now on with ``faults``; returns datagrams a removed reorder was holding."""
        flow = self.flow
        states = follow_faults(
            faults, self._states, self.seed, self.peer, flow, _STATES, lambda fault: fault.acts_on(flow)
        )
        orphans = [
            piece
            for key, state in self._states.items()
            if key not in states and isinstance(state, _Reorder)
            for _, piece in state.held
        ]
        self._states = states
        self._order = list(states.values())
        return orphans

    def datagram(self, data: bytes, now: float, events: list[str]) -> list[Piece]:
        """The datagrams to pass on for ``data`` (none, one, several), each at its time."""
        self.count += 1
        pieces = [Piece(now, data)]
        for state in self._order:
            pieces = state.apply(self.count, pieces, events)
        return pieces

    def due(self) -> float:
        """When held datagrams must go (``math.inf``: none held)."""
        return min((state.due() for state in self._order), default=math.inf)

    def release(self, now: float, events: list[str]) -> list[Piece]:
        """Held datagrams whose time came, passed through the faults after their holder."""
        out: list[Piece] = []
        for index, state in enumerate(self._order):
            freed = state.release(now, events)
            for later in self._order[index + 1 :]:
                freed = later.apply(self.count, freed, events) if freed else freed
            out.extend(freed)
        return out


class DatagramFaults:
    """Both directions of one peer, following the server's live fault list."""

    def __init__(self, faults: FaultList, seed: int, peer: int) -> None:
        self._faults = faults
        self._version = -1
        self.to_client = PeerFaults(seed, peer, "to_client")
        self.from_client = PeerFaults(seed, peer, "from_client")
        #: Datagrams a removed reorder fault held, per direction: to pass on at once.
        self.orphans: dict[Flow, list[Piece]] = {"to_client": [], "from_client": []}
        self.refresh()

    def refresh(self) -> bool:
        """Follow a change of the server's faults; True when any fault acts on this peer."""
        if self._faults.version != self._version:
            self._version, faults = self._faults.snapshot()
            self.orphans["to_client"] += self.to_client.update(faults)
            self.orphans["from_client"] += self.from_client.update(faults)
        return self.to_client.active or self.from_client.active

    def flow(self, flow: Flow) -> PeerFaults:
        return self.to_client if flow == "to_client" else self.from_client
