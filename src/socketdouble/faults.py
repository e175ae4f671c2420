"""Faults: make a server, proxy or replay misbehave like a real network, the same way every run.

``TCPServer(faults=[sd.faults.latency(0.2)])``, or ``server.faults.append(...)`` while it
runs. Every function returns a :class:`~socketdouble.core.fault_spec.Fault`; every fault
takes ``direction`` ("to_client": what the double or upstream sends, the default;
"from_client": what the client sends, before the double or upstream sees it; "both"),
``connections`` (None for all, or the 1-based numbers of connections or datagram peers,
as in the recording) and ``toxicity`` (the fraction of connections it applies to).
Random choices come from the server's ``seed=``: the same seed, the same run.

Stream faults (TCP, Unix stream, TLS): :func:`latency`, :func:`bandwidth`, :func:`slicer`,
:func:`close_after`, :func:`reset`, :func:`blackhole`, :func:`timeout`, :func:`slow_close`,
:func:`garbage`, :func:`refuse`, :func:`connect_timeout`. Datagram faults (UDP, Unix
datagram): :func:`drop`, :func:`duplicate`, :func:`truncate`, :func:`corrupt`,
:func:`reorder`, and :func:`latency`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .core.fault_spec import DATAGRAM_FAULTS, DIRECTIONS, STREAM_FAULTS, Direction, Fault, Medium
from .errors import ConfigurationError

__all__ = [
    "DATAGRAM_FAULTS",
    "STREAM_FAULTS",
    "Fault",
    "bandwidth",
    "blackhole",
    "close_after",
    "connect_timeout",
    "corrupt",
    "drop",
    "duplicate",
    "garbage",
    "latency",
    "refuse",
    "reorder",
    "reset",
    "slicer",
    "slow_close",
    "timeout",
    "truncate",
]

Connections = Iterable[int] | None


def _make(
    name: str,
    medium: Medium,
    params: dict[str, Any],
    direction: object = "to_client",
    connections: object = None,
    toxicity: object = 1.0,
) -> Fault:
    if direction not in DIRECTIONS:
        raise ConfigurationError(
            f"{name}(direction={direction!r}): direction is one of "
            "'to_client' (what the double or upstream sends; the default), "
            "'from_client' (what the client sends) or 'both'"
        )
    return Fault(
        name=name,
        params=tuple(params.items()),
        direction=direction,
        connections=_connections(name, connections),
        toxicity=_fraction(name, "toxicity", toxicity),
        medium=medium,
    )


def _connections(name: str, connections: object) -> frozenset[int] | None:
    if connections is None:
        return None
    example = f"e.g. {name}(..., connections=[1, 3]) for the first and third connection"
    if isinstance(connections, (str, bytes)) or not isinstance(connections, Iterable):
        raise ConfigurationError(
            f"{name}(connections={connections!r}): give a list of connection numbers (1-based, as in "
            f"the recording), {example}; or None for all"
        )
    numbers = list(connections)
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ConfigurationError(
                f"{name}(connections={numbers!r}): {number!r} is not a connection number; numbers are "
                f"whole numbers from 1 (the first connection), {example}"
            )
    return frozenset(numbers)


def _number(name: str, key: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name}({key}={value!r}): {key} must be a finite number")
    if value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigurationError(f"{name}({key}={value!r}): {key} must be {bound}")
    return float(value)


def _count(name: str, key: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name}({key}={value!r}): {key} must be a whole number >= {minimum}")
    if value < minimum:
        raise ConfigurationError(f"{name}({key}={value!r}): {key} must be >= {minimum}")
    return value


def _fraction(name: str, key: str, value: object) -> float:
    number = _number(name, key, value)
    if number > 1.0:
        raise ConfigurationError(f"{name}({key}={value!r}): {key} is a fraction between 0 and 1")
    return number


# -- stream faults (latency also acts on datagrams) ------------------------------------


def latency(
    seconds: float,
    jitter: float = 0.0,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Each chunk (each datagram) delayed by ``seconds`` ± ``jitter``; order kept."""
    seconds = _number("latency", "seconds", seconds)
    jitter = _number("latency", "jitter", jitter)
    return _make("latency", "any", {"seconds": seconds, "jitter": jitter}, direction, connections, toxicity)


def bandwidth(
    bytes_per_second: float,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """The direction's throughput capped at ``bytes_per_second`` (no burst above 0.1 s worth)."""
    rate = _number("bandwidth", "bytes_per_second", bytes_per_second, strict=True)
    return _make("bandwidth", "stream", {"bytes_per_second": rate}, direction, connections, toxicity)


def slicer(
    size: int,
    variation: int = 0,
    delay: float = 0.0,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Each chunk sent in pieces of ``size`` ± ``variation`` bytes, ``delay`` seconds apart."""
    size = _count("slicer", "size", size, minimum=1)
    variation = _count("slicer", "variation", variation)
    delay = _number("slicer", "delay", delay)
    params = {"size": size, "variation": variation, "delay": delay}
    return _make("slicer", "stream", params, direction, connections, toxicity)


def close_after(
    nbytes: int, *, direction: Direction = "to_client", connections: Connections = None, toxicity: float = 1.0
) -> Fault:
    """After ``nbytes`` bytes in the direction the connection is closed (FIN); 0: at accept."""
    nbytes = _count("close_after", "nbytes", nbytes)
    return _make("close_after", "stream", {"nbytes": nbytes}, direction, connections, toxicity)


def reset(
    after_bytes: int = 0,
    delay: float = 0.0,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """A real RST (SO_LINGER 0) after ``after_bytes`` bytes (0: at accept), ``delay`` seconds later."""
    after_bytes = _count("reset", "after_bytes", after_bytes)
    delay = _number("reset", "delay", delay)
    return _make(
        "reset", "stream", {"after_bytes": after_bytes, "delay": delay}, direction, connections, toxicity
    )


def blackhole(
    after_bytes: int = 0,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """After ``after_bytes`` bytes nothing more passes; open until the peer closes or the server stops."""
    after_bytes = _count("blackhole", "after_bytes", after_bytes)
    return _make("blackhole", "stream", {"after_bytes": after_bytes}, direction, connections, toxicity)


def timeout(
    seconds: float,
    after_bytes: int = 0,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Like :func:`blackhole`, then the connection is closed ``seconds`` later."""
    seconds = _number("timeout", "seconds", seconds)
    after_bytes = _count("timeout", "after_bytes", after_bytes)
    params = {"seconds": seconds, "after_bytes": after_bytes}
    return _make("timeout", "stream", params, direction, connections, toxicity)


def slow_close(seconds: float, *, connections: Connections = None, toxicity: float = 1.0) -> Fault:
    """The server's (or upstream's) close reaches the client ``seconds`` late."""
    seconds = _number("slow_close", "seconds", seconds)
    return _make("slow_close", "stream", {"seconds": seconds}, "to_client", connections, toxicity)


def garbage(
    nbytes: int, *, direction: Direction = "to_client", connections: Connections = None, toxicity: float = 1.0
) -> Fault:
    """``nbytes`` random bytes instead of the next chunk, then a close."""
    nbytes = _count("garbage", "nbytes", nbytes, minimum=1)
    return _make("garbage", "stream", {"nbytes": nbytes}, direction, connections, toxicity)


def refuse(*, connections: Connections = None, toxicity: float = 1.0) -> Fault:
    """Every connection reset as soon as it is accepted (clients see ECONNRESET)."""
    return _make("refuse", "stream", {}, "to_client", connections, toxicity)


def connect_timeout() -> Fault:
    """Clients' connect() times out: the listen backlog is held full and never accepted.

    The port stays this server's; remove the fault and connections are accepted again.
    """
    return _make("connect_timeout", "listener", {})


# -- datagram faults ----------------------------------------------------------------------


def drop(
    probability: float = 1.0,
    burst: int = 1,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Drop datagrams with ``probability``; once a drop starts, ``burst`` datagrams in a row go."""
    probability = _fraction("drop", "probability", probability)
    burst = _count("drop", "burst", burst, minimum=1)
    params = {"probability": probability, "burst": burst}
    return _make("drop", "datagram", params, direction, connections, toxicity)


def duplicate(
    probability: float = 1.0,
    copies: int = 1,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Send a datagram ``copies`` extra times, with ``probability``."""
    probability = _fraction("duplicate", "probability", probability)
    copies = _count("duplicate", "copies", copies, minimum=1)
    params = {"probability": probability, "copies": copies}
    return _make("duplicate", "datagram", params, direction, connections, toxicity)


def truncate(
    nbytes: int, *, direction: Direction = "to_client", connections: Connections = None, toxicity: float = 1.0
) -> Fault:
    """Cut each datagram to its first ``nbytes`` bytes."""
    nbytes = _count("truncate", "nbytes", nbytes)
    return _make("truncate", "datagram", {"nbytes": nbytes}, direction, connections, toxicity)


def corrupt(
    probability: float = 1.0,
    bits: int = 1,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Flip ``bits`` random bits of a datagram, with ``probability``."""
    probability = _fraction("corrupt", "probability", probability)
    bits = _count("corrupt", "bits", bits, minimum=1)
    params = {"probability": probability, "bits": bits}
    return _make("corrupt", "datagram", params, direction, connections, toxicity)


def reorder(
    window: int = 2,
    max_hold: float = 0.1,
    *,
    direction: Direction = "to_client",
    connections: Connections = None,
    toxicity: float = 1.0,
) -> Fault:
    """Release each ``window`` datagrams shuffled; a window not full after ``max_hold`` s goes as it is."""
    window = _count("reorder", "window", window, minimum=2)
    max_hold = _number("reorder", "max_hold", max_hold)
    params = {"window": window, "max_hold": max_hold}
    return _make("reorder", "datagram", params, direction, connections, toxicity)
