"""Writing and reading cassette files: deterministic JSON, one event a line.

See ``docs/cassette-format.md``. Reading never evaluates anything and never lets a
Python exception through: every problem is a :class:`CassetteError` that names the file
and, where it applies, the line, the connection and the event.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import os
import re
import secrets
import threading
from typing import Any

from ..errors import CassetteError, ConfigurationError
from .cassette_model import (
    KINDS,
    Cassette,
    CassetteEvent,
    CloseEvent,
    DataEvent,
    InetAddress,
    RecordedConnection,
    Redactor,
)
from .payload import escape, is_mostly_printable, is_text, unescape

__all__ = ["MAX_SECONDS", "VERSION", "dumps", "load", "loads", "payload_field", "save"]

VERSION = 3
#: Versions this module reads, with the payload fields each one knows.
_PAYLOAD_FIELDS = {1: ("data", "base64"), 2: ("data", "escaped", "base64"), 3: ("data", "escaped", "base64")}
#: The fields of a connection, by version: version 3 adds its IP endpoints.
_CONNECTION_FIELDS = {
    1: ("opened", "events"),
    2: ("opened", "events"),
    3: ("opened", "client", "server", "events"),
}
#: The version that brought a field, for the error that meets it in an older file.
_SINCE = {"escaped": 2, "client": 3, "server": 3}
#: Times beyond this (about 115 days) are a mistake, not a recording; replay would wait that long.
MAX_SECONDS = 1e7

_TOP_FIELDS = ("socketdouble_cassette", "kind", "redact", "connections")
_Path = tuple[str | int, ...]

# -- writing -------------------------------------------------------------------


def payload_field(payload: bytes) -> tuple[str, str]:
    """The field that stores ``payload`` and its value: the most readable that fits."""
    if is_text(payload):
        return "data", payload.decode("utf-8")
    if is_mostly_printable(payload):
        return "escaped", escape(payload)
    return "base64", base64.b64encode(payload).decode("ascii")


def _seconds(value: float, what: str) -> float:
    if not 0 <= value <= MAX_SECONDS:  # also false for NaN and infinities
        raise CassetteError(f"cannot write a cassette with {what} = {value!r}: times are seconds >= 0")
    return round(value, 6)


def _event_json(event: CassetteEvent) -> str:
    fields: dict[str, Any] = {"t": _seconds(event.t, "t"), "from": event.side}
    if isinstance(event, DataEvent):
        name, value = payload_field(event.payload)
        fields[name] = value
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
        endpoints = "".join(
            f', "{name}": {json.dumps([address[0], address[1]])}'
            for name, address in (("client", connection.client), ("server", connection.server))
            if address is not None
        )
        lines.append(f'    {{"opened": {_seconds(connection.opened, "opened")}{endpoints}, "events": [')
        if connection.events:
            lines.append(",\n".join(f"      {_event_json(event)}" for event in connection.events))
        closing = "    ]}" + ("," if number < len(cassette.connections) - 1 else "")
        lines.append(closing)
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def _create_temporary(target: str) -> tuple[int, str]:
    """A new file beside ``target`` whose name no other process or thread can be using."""
    folder, name = os.path.split(target)
    for _ in range(100):
        unique = f"{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}"
        temporary = os.path.join(folder, f".{name}.{unique}.tmp")
        try:
            # O_EXCL: never write into another writer's file; 0o666 lets the umask decide.
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue  # a random clash: astronomically rare, so try another name
    raise FileExistsError(f"cannot create a temporary file beside {target}: every name tried exists")


def save(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write atomically: a reader (or a parallel writer) only ever sees a whole file.

    The text goes to a uniquely named temporary file in the same folder, which then
    replaces ``path``; on any error the temporary file is removed and ``path`` is untouched.
    """
    target = os.fspath(path)
    text = dumps(cassette)  # before touching the disk, so a bad cassette leaves nothing behind
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    descriptor, temporary = _create_temporary(target)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the first error is the one to report
            os.unlink(temporary)
        raise


# -- reading -------------------------------------------------------------------

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]', re.DOTALL)


def _line_of(text: str, path: _Path) -> int | None:
    """The line where the value at ``path`` starts in JSON ``text`` (already known valid)."""
    stack: list[list[Any]] = []  # [container, current key or index], outermost first
    found = not path
    for match in _TOKEN.finditer(text):
        if found:
            return text.count("\n", 0, match.start()) + 1
        token = match.group()
        top = stack[-1] if stack else None
        if token in "{[":
            stack.append([token, None if token == "{" else 0])
            found = token == "[" and tuple(entry[1] for entry in stack) == path
        elif token in "}]":
            stack.pop()
        elif token == "," and top is not None:
            top[1] = top[1] + 1 if top[0] == "[" else None
            found = top[0] == "[" and tuple(entry[1] for entry in stack) == path
        elif token == ":":
            found = tuple(entry[1] for entry in stack) == path
        elif top is not None and top[0] == "{" and top[1] is None:
            top[1] = json.loads(token)  # a key
        if found:  # the value starts at the next non-blank character, token or not
            rest = re.compile(r"\s*").match(text, match.end())
            return text.count("\n", 0, rest.end() if rest else match.end()) + 1
    return 1 if found else None


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _fields(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{name}"' for name in names)


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.version = VERSION
        self.kind = "tcp"

    def fail(self, path: _Path, problem: str) -> CassetteError:
        if len(path) >= 2 and path[0] == "connections":
            where = f"connection {int(path[1]) + 1}"
            if len(path) >= 4:
                where += f", event {int(path[3]) + 1}"
        else:
            where = str(path[0]) if path else "top level"
        line = _line_of(self.text, path)
        return CassetteError(f"cassette {self.source}{f', line {line}' if line else ''}: {where}: {problem}")

    def known(self, path: _Path, value: dict[str, Any], fields: tuple[str, ...], what: str) -> None:
        for key in value:
            if key not in fields:
                later = ""
                if _SINCE.get(key, 0) > self.version:
                    later = f" (it came in version {_SINCE[key]}; this file says version {self.version})"
                raise self.fail((*path, key), f'unknown field "{key}"{later}; {what} has {_fields(fields)}')

    def cassette(self, document: Any) -> Cassette:
        if not isinstance(document, dict):
            raise self.fail((), 'expected a JSON object {"socketdouble_cassette": 2, ...}')
        if "socketdouble_cassette" not in document:
            raise self.fail((), 'not a socketdouble cassette: the "socketdouble_cassette" version is missing')
        version = document["socketdouble_cassette"]
        # type(...) is int: true and 1.0 equal 1 in Python, but are not a version number.
        if type(version) is not int or version not in _PAYLOAD_FIELDS:
            readable = " and ".join(map(str, _PAYLOAD_FIELDS))
            raise self.fail(
                ("socketdouble_cassette",),
                f"format version {_short(version)} is not supported (this socketdouble reads versions "
                f"{readable}); re-record the cassette or upgrade socketdouble",
            )
        self.version = version
        self.known((), document, _TOP_FIELDS, "a cassette")
        kind = document.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise self.fail(("kind",), f"{_short(kind)} is not one of {', '.join(KINDS)}")
        patterns = self.redact(document.get("redact", []))
        connections = document.get("connections")
        if not isinstance(connections, list):
            raise self.fail(("connections",), f"expected a list of connections, not {_short(connections)}")
        self.kind = kind
        return Cassette(kind, [self.connection(i, c) for i, c in enumerate(connections)], patterns)

    def redact(self, value: Any) -> list[bytes]:
        if not isinstance(value, list):
            raise self.fail(("redact",), f"expected a list of regular expressions, not {_short(value)}")
        patterns = []
        for index, source in enumerate(value):
            path: _Path = ("redact", index)
            if not isinstance(source, str):
                raise self.fail(path, f"pattern {_short(source)} is not a string")
            try:
                pattern = source.encode("latin-1")
            except UnicodeEncodeError as error:
                raise self.fail(
                    path,
                    f"pattern {_short(source)} is not bytes: {source[error.start]!r} is beyond \\xff "
                    "(patterns are Latin-1 strings; write other bytes as \\xNN)",
                ) from None
            try:
                Redactor([pattern])
            except ConfigurationError as error:
                raise self.fail(path, str(error)) from None
            patterns.append(pattern)
        return patterns

    def connection(self, index: int, value: Any) -> RecordedConnection:
        path: _Path = ("connections", index)
        if not isinstance(value, dict) or not isinstance(value.get("events"), list):
            raise self.fail(path, 'expected {"opened": seconds, "events": [...]}')
        self.known(path, value, _CONNECTION_FIELDS[self.version], "a connection")
        opened = self.seconds((*path, "opened"), "opened", value.get("opened", 0.0))
        client, server = (
            self.address((*path, name), name, value[name]) if name in value else None
            for name in ("client", "server")
        )
        events = [self.event((*path, "events", i), e) for i, e in enumerate(value["events"])]
        return RecordedConnection(opened, events, client, server)

    def address(self, path: _Path, name: str, value: Any) -> InetAddress:
        if self.kind not in ("tcp", "udp"):
            raise self.fail(
                path, f'"{name}" is an IP address, which a {self.kind} connection has not; drop "{name}"'
            )
        shape = f'"{name}" must be ["IP address", port], as ["127.0.0.1", 6379] or ["::1", 6379]'
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(path, f"{shape}, not {_short(value)}")
        host, port = value
        if type(port) is not int or not 0 <= port <= 65535:
            raise self.fail(path, f"{shape}: the port {_short(port)} is not an integer from 0 to 65535")
        try:
            ip = ipaddress.ip_address(host) if isinstance(host, str) else None
        except ValueError:
            ip = None
        if ip is None:
            raise self.fail(path, f"{shape}: {_short(host)} is not an IP address")
        return (str(ip), port)

    def seconds(self, path: _Path, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f'"{name}" must be a number of seconds >= 0, not {_short(value)}')
        # Compared as they are (false for NaN and infinities): float() or math.isfinite()
        # would raise OverflowError on an int of 400 digits.
        if not 0 <= value <= MAX_SECONDS:
            raise self.fail(
                path, f'"{name}" must be a number of seconds from 0 to {MAX_SECONDS:g}, not {_short(value)}'
            )
        return float(value)

    def event(self, path: _Path, value: Any) -> CassetteEvent:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a JSON object, not {_short(value)}")
        payloads = _PAYLOAD_FIELDS[self.version]
        self.known(path, value, ("t", "from", *payloads, "close"), "an event")
        if "t" not in value:
            raise self.fail(path, '"t" is missing: seconds since the connection opened')
        t = self.seconds((*path, "t"), "t", value["t"])
        side = value.get("from")
        if side not in ("client", "server"):
            raise self.fail(path, f'"from" must be "client" or "server", not {_short(side)}')
        given = [name for name in (*payloads, "close") if name in value]
        if len(given) != 1:
            together = " and ".join(f'"{name}"' for name in given) + " together" if given else "none given"
            raise self.fail(path, f"an event has exactly one of {_fields((*payloads, 'close'))}: {together}")
        [name] = given
        if name == "close":
            how = value["close"]
            if how not in ("fin", "reset"):
                raise self.fail(path, f'"close" must be "fin" or "reset", not {_short(how)}')
            return CloseEvent(t, side, how)
        return DataEvent(t, side, self.payload(path, name, value[name]))

    def payload(self, path: _Path, name: str, value: Any) -> bytes:
        if not isinstance(value, str):
            raise self.fail(path, f'"{name}" must be a string, not {_short(value)}')
        try:
            if name == "data":
                return value.encode("utf-8")
            if name == "escaped":
                return unescape(value)
            return base64.b64decode(value, validate=True)
        except UnicodeEncodeError as error:  # json accepts "\ud800": not a character UTF-8 can hold
            raise self.fail(
                path, f'"data" holds {value[error.start]!r}, a lone surrogate: store these bytes as "base64"'
            ) from None
        except (binascii.Error, ValueError) as error:
            problem = f'"base64" is not valid base64 ({error})' if name == "base64" else f'"escaped": {error}'
            raise self.fail(path, problem) from None


def loads(text: str, source: str = "<string>") -> Cassette:
    """Parse a cassette; every problem is a :class:`CassetteError` naming the place."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CassetteError(f"cassette {source}, {where}: not valid JSON ({error.msg})") from None
    except RecursionError:
        raise CassetteError(f"cassette {source}: not a cassette: JSON nested too deeply to read") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise CassetteError(f"cassette {source}: not valid JSON ({error})") from None
    return _Reader(source, text).cassette(document)


def load(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette file; every problem is a :class:`CassetteError` naming the file."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        raise CassetteError(f"cassette {source}: no such file") from None
    except IsADirectoryError:
        raise CassetteError(f"cassette {source}: is a directory, not a cassette file") from None
    except OSError as error:  # PermissionError and the rest: the OS names the reason
        raise CassetteError(f"cassette {source}: cannot read it: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise CassetteError(
            f"cassette {source}, line {line}: byte {error.start} ({raw[error.start]:#04x}) is not UTF-8 text"
        ) from None
    return loads(text, source)
