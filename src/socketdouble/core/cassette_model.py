"""What a cassette holds: connections of timed events, and the redaction applied to them.

Plain data, no I/O: :mod:`.cassette_codec` writes and reads it, :mod:`.cassette_recorder`
builds it from live traffic, :mod:`.playback` plays it back.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigurationError

__all__ = [
    "DATAGRAM_KINDS",
    "KINDS",
    "Cassette",
    "CassetteEvent",
    "CloseEvent",
    "CloseHow",
    "DataEvent",
    "InetAddress",
    "RecordedConnection",
    "Redactor",
    "Side",
    "inet_address",
]

KINDS = ("tcp", "udp", "unix", "unix_dgram")
DATAGRAM_KINDS = ("udp", "unix_dgram")
Side = Literal["client", "server"]
CloseHow = Literal["fin", "reset"]


@dataclass
class DataEvent:
    """Bytes that one side sent (one datagram, for datagram kinds)."""

    t: float
    side: Side
    payload: bytes


@dataclass
class CloseEvent:
    """One side closed its direction: ``fin`` (a clean close or half-close) or ``reset``."""

    t: float
    side: Side
    how: CloseHow


CassetteEvent = DataEvent | CloseEvent
InetAddress = tuple[str, int]
"""An IP address (a literal, as :mod:`ipaddress` writes it) and a port."""


def inet_address(address: object) -> InetAddress | None:
    """``(ip, port)`` from a socket address (IPv6 ones have four fields), or None.

    None for what is not an IP literal and a port: a Unix path, an unbound peer, a host
    name (the cassette keeps addresses as seen, never looked up).
    """
    if not isinstance(address, (tuple, list)) or len(address) < 2:
        return None
    host, port = address[0], address[1]
    if not isinstance(host, str) or type(port) is not int or not 0 <= port <= 65535:
        return None
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])  # a scope ("%lo") is not part of the address
    except ValueError:
        return None
    return (str(ip), port)


@dataclass
class RecordedConnection:
    """One connection (datagram kinds: one peer): when it opened, and its event log.

    ``client`` and ``server`` are the IP endpoints when they were recorded (tcp and udp
    proxies: the client's address and the upstream's); None for Unix kinds and older
    cassettes.
    """

    opened: float
    events: list[CassetteEvent] = field(default_factory=list)
    client: InetAddress | None = None
    server: InetAddress | None = None

    def client_turns(self) -> list[bytes]:
        """What the client sent, turn by turn (datagram by datagram)."""
        return [e.payload for e in self.events if isinstance(e, DataEvent) and e.side == "client"]


@dataclass
class Cassette:
    """A whole recording: its kind and its connections, in the order they opened."""

    kind: str
    connections: list[RecordedConnection] = field(default_factory=list)
    #: The redaction patterns applied when recording; replay applies them to clients too.
    redact: list[bytes] = field(default_factory=list)

    @property
    def datagram(self) -> bool:
        """True for ``udp`` and ``unix_dgram``: each event is one datagram, not a turn."""
        return self.kind in DATAGRAM_KINDS

    def redactor(self) -> Redactor:
        """A :class:`Redactor` for this cassette's patterns."""
        return Redactor(self.redact)


class Redactor:
    """Replaces each match of the patterns by a same-length placeholder.

    Keeping the length keeps length-prefixed protocols valid after redaction.
    """

    def __init__(self, patterns: Iterable[bytes | str | re.Pattern[bytes]] = (), fill: bytes = b"*") -> None:
        self.patterns: list[re.Pattern[bytes]] = []
        for pattern in patterns:
            if isinstance(pattern, re.Pattern):
                if not isinstance(pattern.pattern, bytes):
                    raise ConfigurationError(
                        f"redact pattern {pattern!r} matches str, not bytes: compile it from a bytes "
                        f"pattern, re.compile({pattern.pattern.encode()!r})"
                    )
                self.patterns.append(pattern)
                continue
            try:
                self.patterns.append(re.compile(pattern.encode() if isinstance(pattern, str) else pattern))
            # OverflowError: a repeat count such as {99999999999}; RecursionError: deep nesting.
            except (re.error, TypeError, OverflowError, RecursionError, UnicodeError) as error:
                raise ConfigurationError(
                    f"redact pattern {pattern!r} is not a valid bytes regex: {error}"
                ) from None
        self.fill = fill

    @property
    def sources(self) -> list[bytes]:
        """The patterns' sources, as a cassette stores them."""
        return [pattern.pattern for pattern in self.patterns]

    def __repr__(self) -> str:
        fill = "" if self.fill == b"*" else f", fill={self.fill!r}"
        return f"Redactor({self.sources!r}{fill})"

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, payload: bytes) -> bytes:
        for pattern in self.patterns:
            payload = pattern.sub(lambda m: self.fill * len(m.group(0)), payload)
        return payload
