"""What a fault is: its name, parameters, direction, connections and toxicity; seeded draws.

A :class:`Fault` is a frozen description (made by the functions in
:mod:`socketdouble.faults`); what it does to bytes lives in
:mod:`~socketdouble.core.stream_faults` and :mod:`~socketdouble.core.datagram_faults`.
A server holds its faults in a :class:`FaultList`, a live list a test may change while
the server runs; each connection notices a change by its :attr:`FaultList.version`.

Determinism: every random choice a fault makes on a connection comes from
:func:`fault_random`, one generator per (seed, fault, its occurrence in the list,
connection, direction). Threads never share a generator, so timing never changes an
outcome: the same seed and the same traffic give the same run.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, overload

from ..errors import ConfigurationError

__all__ = [
    "DATAGRAM_FAULTS",
    "DIRECTIONS",
    "STREAM_FAULTS",
    "Direction",
    "Fault",
    "FaultList",
    "Flow",
    "Medium",
    "check_seed",
    "fault_random",
    "follow_faults",
    "new_seed",
]

Direction = Literal["to_client", "from_client", "both"]
"""Which bytes a fault acts on: what the double or upstream sends, what the client sends, or both."""
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
Flow = Literal["to_client", "from_client"]
"""One direction of a connection, as a fault sees it."""
Medium = Literal["stream", "datagram", "any", "listener"]
"""What a fault acts on: stream chunks, datagrams, either, or the listening socket itself."""

#: The faults each kind of server takes, by name (the functions of :mod:`socketdouble.faults`).
STREAM_FAULTS = (
    "latency", "bandwidth", "slicer", "close_after", "reset", "blackhole", "timeout",
    "slow_close", "garbage", "refuse", "connect_timeout",
)  # fmt: skip
DATAGRAM_FAULTS = ("drop", "duplicate", "truncate", "corrupt", "reorder", "latency")
_STREAM_KINDS = "TCP, Unix stream and TLS servers, stream proxies and replays"
_DATAGRAM_KINDS = "UDP and Unix datagram servers and proxies"


@dataclass(frozen=True)
class Fault:
    """One fault: made by :mod:`socketdouble.faults` (``sd.faults.latency(0.2)``)."""

    name: str
    #: The fault's own parameters, in signature order: ``(("seconds", 0.2), ("jitter", 0.0))``.
    params: tuple[tuple[str, Any], ...]
    direction: Direction = "to_client"
    #: Connection (datagram servers: peer) numbers it applies to, 1-based; None: all.
    connections: frozenset[int] | None = None
    #: The fraction of connections it applies to (each decided once, seeded).
    toxicity: float = 1.0
    medium: Medium = "stream"

    def __getitem__(self, key: str) -> Any:
        """A parameter by name: ``fault["seconds"]``."""
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(f"{self.name}() has no parameter {key!r}; it has {[n for n, _ in self.params]}")

    def acts_on(self, flow: Flow) -> bool:
        """True when this fault acts on ``flow`` ("to_client" or "from_client")."""
        return self.direction == "both" or self.direction == flow

    def chosen(self, seed: int, occurrence: int, connection: int) -> bool:
        """Whether the fault applies to ``connection`` (its number, toxicity, seeded)."""
        if self.connections is not None and connection not in self.connections:
            return False
        if self.toxicity >= 1.0:
            return True
        if self.toxicity <= 0.0:
            return False
        return fault_random(seed, self, occurrence, connection, "toxicity").random() < self.toxicity

    def describe(self) -> str:
        """The fault with its parameters, as the transcript names it: ``latency(0.2, jitter=0.05)``."""
        shown = [
            _number(value) if i == 0 else f"{name}={_number(value)}"
            for i, (name, value) in enumerate(self.params)
        ]
        if self.direction != "to_client" and self.medium != "listener":
            shown.append(f"direction={self.direction!r}")
        if self.connections is not None:
            shown.append(f"connections={sorted(self.connections)}")
        if self.toxicity != 1.0:
            shown.append(f"toxicity={_number(self.toxicity)}")
        return f"{self.name}({', '.join(shown)})"

    def __repr__(self) -> str:
        return f"<Fault {self.describe()}>"

    def check_medium(self, medium: Literal["stream", "datagram"], where: str) -> None:
        """Refuse this fault on a server of the wrong kind, naming the faults that fit."""
        if self.medium in ("any", medium) or (self.medium == "listener" and medium == "stream"):
            return
        fitting = STREAM_FAULTS if medium == "stream" else DATAGRAM_FAULTS
        kinds = _STREAM_KINDS if self.medium in ("stream", "listener") else _DATAGRAM_KINDS
        raise ConfigurationError(
            f"{self.describe()} given to {where}: {self.name}() acts on {kinds} only; "
            f"faults for {where}: {', '.join(fitting)}"
        )


def _number(value: Any) -> str:
    return repr(value)


def new_seed() -> int:
    """A fresh random seed (what a server uses when none is given)."""
    return secrets.randbits(32)


def check_seed(seed: object) -> int:
    """A valid ``seed=`` value as an int; None draws a fresh one."""
    if seed is None:
        return new_seed()
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigurationError(
            f"seed={seed!r}: give a whole number >= 0 (the transcript prints the seed of every run; "
            "pass it back to repeat a run exactly), or None for a random one"
        )
    return seed


S = TypeVar("S")
StateKey = tuple["Fault", int]
"""A fault and its occurrence among equal faults in one list: what a kept state is found by."""


def follow_faults(
    faults: tuple[Fault, ...],
    kept: dict[StateKey, S],
    seed: int,
    number: int,
    flow: Flow,
    makers: Mapping[str, Callable[[Fault, random.Random, Flow], S]],
    acts: Callable[[Fault], bool],
) -> dict[StateKey, S]:
    """The states of the faults acting on one direction of connection (peer) ``number``, in list order.

    A fault still in the list keeps its state from ``kept``; a new one gets a state from
    ``makers[fault.name]`` with its own seeded generator. Faults with no maker, that do
    not ``acts`` on this direction, or that were not chosen for this connection are left out.
    """
    seen: dict[Fault, int] = {}
    states: dict[StateKey, S] = {}
    for fault in faults:
        occurrence = seen.get(fault, 0)
        seen[fault] = occurrence + 1
        maker = makers.get(fault.name)
        if maker is None or not acts(fault) or not fault.chosen(seed, occurrence, number):
            continue
        key = (fault, occurrence)
        state = kept.get(key)
        if state is None:
            state = maker(fault, fault_random(seed, fault, occurrence, number, flow), flow)
        states[key] = state
    return states


def fault_random(seed: int, fault: Fault, occurrence: int, connection: int, stream: str) -> random.Random:
    """The generator of one (fault, connection, stream of draws): the same inputs, the same draws.

    ``occurrence`` tells equal faults in one list apart; ``stream`` is a flow
    ("to_client", "from_client") or a purpose ("toxicity").
    """
    return random.Random(f"{seed}|{fault.describe()}#{occurrence}|{connection}|{stream}")


class FaultList(MutableSequence[Fault]):
    """A server's faults: a live list (append, remove, clear, ...) checked as it changes.

    A change applies to new connections at once and to open ones from their next chunk
    (or datagram): each compares :attr:`version` with the one it last saw, one integer
    comparison per chunk, which is all a server without faults pays.
    """

    def __init__(
        self, medium: Literal["stream", "datagram"], where: str, faults: Iterable[Fault] | None = None
    ) -> None:
        self._medium: Literal["stream", "datagram"] = medium
        self._where = where
        self._items: list[Fault] = []
        self._lock = threading.Lock()
        #: Bumped on every change; connections compare it with the last one they saw.
        self.version = 0
        #: Called (outside the lock, in the changing thread) after every change: a server
        #: that must act at once on some faults (connect_timeout holds its listener) sets it.
        self.on_change: Callable[[], None] | None = None
        if faults is not None:
            self.replace(faults)
            if not self._items:
                self.version = 0  # faults=[]: still nothing was ever added, and servers pay nothing

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def replace(self, faults: Iterable[Fault]) -> None:
        """Put ``faults`` in place of the list's contents (``server.faults = [...]``)."""
        if isinstance(faults, Fault) or not isinstance(faults, Iterable):
            raise ConfigurationError(
                f"faults={faults!r}: give a list of faults, e.g. faults=[sd.faults.latency(0.2)]"
            )
        checked = [self._checked(fault) for fault in faults]
        with self._lock:
            self._items[:] = checked
            self.version += 1
        self._changed()

    def _checked(self, fault: object) -> Fault:
        if not isinstance(fault, Fault):
            raise ConfigurationError(
                f"{fault!r} is not a fault: make one with socketdouble.faults, e.g. sd.faults.latency(0.2)"
            )
        fault.check_medium(self._medium, self._where)
        return fault

    def snapshot(self) -> tuple[int, tuple[Fault, ...]]:
        """(version, faults) read together, for a connection to act on."""
        with self._lock:
            return self.version, tuple(self._items)

    def of_medium(self, medium: Medium) -> list[Fault]:
        """The faults of one medium ("listener": connect_timeout)."""
        with self._lock:
            return [fault for fault in self._items if fault.medium == medium]

    @overload
    def __getitem__(self, index: int) -> Fault: ...
    @overload
    def __getitem__(self, index: slice) -> list[Fault]: ...
    def __getitem__(self, index: int | slice) -> Fault | list[Fault]:
        with self._lock:
            return self._items[index]

    @overload
    def __setitem__(self, index: int, value: Fault) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Fault]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        checked: Any = [self._checked(f) for f in value] if isinstance(index, slice) else self._checked(value)
        with self._lock:
            self._items[index] = checked
            self.version += 1
        self._changed()

    def __delitem__(self, index: int | slice) -> None:
        with self._lock:
            del self._items[index]
            self.version += 1
        self._changed()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._items))

    def insert(self, index: int, value: Fault) -> None:
        checked = self._checked(value)
        with self._lock:
            self._items.insert(index, checked)
            self.version += 1
        self._changed()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.version += 1
        self._changed()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FaultList):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like list

    def __repr__(self) -> str:
        return "[" + ", ".join(fault.describe() for fault in self) + "]"
