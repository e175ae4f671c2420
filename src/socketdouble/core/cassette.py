"""Cassettes: a recorded session, as a versioned, diff-friendly JSON file.

See ``docs/cassette-format.md`` for the specification. In short::

    {
      "socketdouble_cassette": 1,
      "kind": "tcp",
      "connections": [
        {"opened": 0.0, "events": [
          {"t": 0.000412, "from": "client", "data": "PING\\r\\n"},
          {"t": 0.000801, "from": "server", "data": "+PONG\\r\\n"},
          {"t": 0.002104, "from": "client", "close": "fin"}
        ]}
      ]
    }

A payload is ``"data"`` (text) when it is UTF-8 made of printable characters, tabs, CR
and LF, else ``"base64"``. Nothing is ever loaded with pickle or another decoder that
can run code: the file is JSON, checked field by field.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigurationError, SocketDoubleError
from .transcript import is_text

VERSION = 1
KINDS = ("tcp", "udp", "unix", "unix_dgram")
Side = Literal["client", "server"]
CloseHow = Literal["fin", "reset"]


class CassetteError(SocketDoubleError, ValueError):
    """A cassette file could not be read: the message names the file, place and problem."""


@dataclass
class Data:
    """Bytes that one side sent (one datagram, for datagram kinds)."""

    t: float
    side: Side
    payload: bytes


@dataclass
class Close:
    """One side closed its direction: ``fin`` (a clean close or half-close) or ``reset``."""

    t: float
    side: Side
    how: CloseHow


Event = Data | Close


@dataclass
class RecordedConnection:
    """One connection (datagram kinds: one peer): when it opened, and its event log."""

    opened: float
    events: list[Event] = field(default_factory=list)

    def client_turns(self) -> list[bytes]:
        return [e.payload for e in self.events if isinstance(e, Data) and e.side == "client"]


@dataclass
class Cassette:
    """A whole recording: its kind and its connections, in the order they opened."""

    kind: str
    connections: list[RecordedConnection] = field(default_factory=list)
    #: The redaction patterns applied when recording; replay applies them to clients too.
    redact: list[bytes] = field(default_factory=list)

    @property
    def datagram(self) -> bool:
        return self.kind in ("udp", "unix_dgram")

    def redactor(self) -> Redactor:
        return Redactor(self.redact)


# -- redaction -----------------------------------------------------------------


class Redactor:
    """Replaces each match of the patterns by a same-length placeholder."""

    def __init__(self, patterns: Iterable[bytes | str | re.Pattern[bytes]] = (), fill: bytes = b"*") -> None:
        self.patterns: list[re.Pattern[bytes]] = []
        for pattern in patterns:
            if isinstance(pattern, re.Pattern):
                self.patterns.append(pattern)
                continue
            try:
                self.patterns.append(re.compile(pattern.encode() if isinstance(pattern, str) else pattern))
            except (re.error, TypeError) as error:
                raise ConfigurationError(
                    f"redact pattern {pattern!r} is not a valid bytes regex: {error}"
                ) from None
        self.fill = fill

    @property
    def sources(self) -> list[bytes]:
        return [pattern.pattern for pattern in self.patterns]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, payload: bytes) -> bytes:
        for pattern in self.patterns:
            payload = pattern.sub(lambda m: self.fill * len(m.group(0)), payload)
        return payload


# -- writing -------------------------------------------------------------------


def _payload_fields(payload: bytes) -> dict[str, str]:
    if is_text(payload):
        return {"data": payload.decode("utf-8")}
    return {"base64": base64.b64encode(payload).decode("ascii")}


def _event_json(event: Event) -> str:
    fields: dict[str, Any] = {"t": round(event.t, 6), "from": event.side}
    if isinstance(event, Data):
        fields.update(_payload_fields(event.payload))
    else:
        fields["close"] = event.how
    return json.dumps(fields, ensure_ascii=False)


def dumps(cassette: Cassette) -> str:
    """The cassette as text: one event a line, the same text for the same recording."""
    lines = [
        "{",
        f'  "socketdouble_cassette": {VERSION},',
        f'  "kind": {json.dumps(cassette.kind)},',
        f'  "redact": {json.dumps([p.decode("latin-1") for p in cassette.redact])},',
        '  "connections": [',
    ]
    for number, connection in enumerate(cassette.connections):
        lines.append(f'    {{"opened": {round(connection.opened, 6)}, "events": [')
        if connection.events:
            lines.append(",\n".join(f"      {_event_json(event)}" for event in connection.events))
        closing = "    ]}" + ("," if number < len(cassette.connections) - 1 else "")
        lines.append(closing)
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def save(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write atomically: a reader (or a parallel worker) never sees half a file."""
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(dumps(cassette))
    os.replace(temporary, target)


# -- reading -------------------------------------------------------------------


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CassetteError:
        return CassetteError(f"cassette {self.source}: {where}: {problem}")

    def cassette(self, document: Any) -> Cassette:
        if not isinstance(document, dict):
            raise self.fail("top level", "expected a JSON object")
        version = document.get("socketdouble_cassette")
        if version != VERSION:
            raise self.fail(
                "socketdouble_cassette",
                f"format version {version!r} is not supported (this socketdouble reads version {VERSION}); "
                "re-record the cassette or upgrade socketdouble",
            )
        kind = document.get("kind")
        if kind not in KINDS:
            raise self.fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        connections = document.get("connections")
        if not isinstance(connections, list):
            raise self.fail("connections", "expected a list")
        redact = document.get("redact", [])
        if not isinstance(redact, list) or not all(isinstance(p, str) for p in redact):
            raise self.fail("redact", "expected a list of regular expressions as strings")
        patterns = [p.encode("latin-1") for p in redact]
        try:
            Redactor(patterns)
        except ConfigurationError as error:
            raise self.fail("redact", str(error)) from None
        return Cassette(kind, [self.connection(i, c) for i, c in enumerate(connections, 1)], patterns)

    def connection(self, number: int, value: Any) -> RecordedConnection:
        where = f"connection {number}"
        if not isinstance(value, dict) or not isinstance(value.get("events"), list):
            raise self.fail(where, 'expected {"opened": seconds, "events": [...]}')
        opened = self.number(where, "opened", value.get("opened", 0.0))
        events = [self.event(f"{where}, event {i}", e) for i, e in enumerate(value["events"], 1)]
        return RecordedConnection(opened, events)

    def number(self, where: str, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.fail(where, f'"{name}" must be a number of seconds >= 0, not {value!r}')
        return float(value)

    def event(self, where: str, value: Any) -> Event:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a JSON object")
        t = self.number(where, "t", value.get("t"))
        side = value.get("from")
        if side not in ("client", "server"):
            raise self.fail(where, f'"from" must be "client" or "server", not {side!r}')
        if "close" in value:
            how = value["close"]
            if how not in ("fin", "reset"):
                raise self.fail(where, f'"close" must be "fin" or "reset", not {how!r}')
            return Close(t, side, how)
        if "data" in value:
            if not isinstance(value["data"], str):
                raise self.fail(where, '"data" must be a string')
            return Data(t, side, value["data"].encode("utf-8"))
        if "base64" in value:
            try:
                return Data(t, side, base64.b64decode(value["base64"], validate=True))
            except (binascii.Error, TypeError, ValueError):
                raise self.fail(where, '"base64" is not valid base64') from None
        raise self.fail(where, 'an event needs "data", "base64" or "close"')


def loads(text: str, source: str = "<string>") -> Cassette:
    """Parse a cassette; every problem is a :class:`CassetteError` naming the place."""
    reader = _Reader(source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise reader.fail(where, f"not valid JSON ({error.msg})") from None
    return reader.cassette(document)


def load(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette file."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise CassetteError(f"cassette {source}: no such file") from None
    except UnicodeDecodeError as error:
        raise CassetteError(f"cassette {source}: byte {error.start}: not UTF-8 text") from None
    return loads(text, source)


# -- recording -------------------------------------------------------------------


class ConnectionLog:
    """The event log of one live connection; safe to write from both pump threads."""

    def __init__(self, recorder: CassetteRecorder, opened: float) -> None:
        self._recorder = recorder
        self._opened = opened
        self.connection = RecordedConnection(opened - recorder.started)

    def data(self, side: Side, payload: bytes, now: float) -> None:
        """``side`` sent ``payload``; on streams, a side's consecutive sends are one turn."""
        with self._recorder.lock:
            events = self.connection.events
            last = events[-1] if events else None
            if self._recorder.merge_turns and isinstance(last, Data) and last.side == side:
                last.payload += payload
            else:
                events.append(Data(now - self._opened, side, payload))

    def close(self, side: Side, how: CloseHow, now: float) -> None:
        """``side`` closed its direction (fin) or the connection (reset)."""
        with self._recorder.lock:
            self.connection.events.append(Close(now - self._opened, side, how))


class CassetteRecorder:
    """Collects connection logs; :meth:`cassette` gives them redacted, ready to save.

    Timestamps come from the caller (seconds on any monotonic clock), so this stays pure.
    """

    def __init__(self, kind: str, redactor: Redactor | None = None, started: float = 0.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}")
        self.kind = kind
        self.redactor = redactor or Redactor()
        self.started = started
        self.merge_turns = kind not in ("udp", "unix_dgram")
        self.lock = threading.Lock()
        self._logs: list[ConnectionLog] = []

    def open(self, now: float) -> ConnectionLog:
        log = ConnectionLog(self, now)
        with self.lock:
            self._logs.append(log)
        return log

    def cassette(self) -> Cassette:
        """The recording so far, with every payload redacted."""
        with self.lock:
            connections = [
                RecordedConnection(
                    log.connection.opened,
                    [
                        Data(e.t, e.side, self.redactor(e.payload)) if isinstance(e, Data) else e
                        for e in log.connection.events
                    ],
                )
                for log in self._logs
            ]
        return Cassette(self.kind, connections, self.redactor.sources)
