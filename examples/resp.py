"""A user-written framing for Redis (RESP) commands, and helpers to match them.

A client sends each command as an array of bulk strings::

    *2\\r\\n$3\\r\\nGET\\r\\n$3\\r\\nkey\\r\\n

:class:`RespCommands` tells socketdouble where one such command ends, so a rule
sees whole commands however the client's writes were split.
"""

from __future__ import annotations

from socketdouble import Framing, FramingError


def _line(buffer: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    end = buffer.find(b"\r\n", start)
    return None if end < 0 else (bytes(buffer[start:end]), end + 2)


class RespCommands(Framing):
    """One message per RESP command array (or inline command line)."""

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        if buffer[:1] != b"*":
            found = _line(buffer, 0)  # an inline command, e.g. "PING\r\n"
            return None if found is None else found[1]
        head = _line(buffer, 0)
        if head is None:
            return None
        count, position = _number(head[0][1:]), head[1]
        for _ in range(count):
            size_line = _line(buffer, position)
            if size_line is None:
                return None
            if size_line[0][:1] != b"$":
                raise FramingError(f"RESP command element {size_line[0]!r} is not a bulk string")
            position = size_line[1] + _number(size_line[0][1:]) + 2
            if position > len(buffer):
                return None
        return position


def _number(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise FramingError(f"RESP length {text!r} is not a number") from None


def command(*parts: bytes) -> bytes:
    """Encode a command as a client sends it (to match it exactly)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def arguments(message: bytes) -> list[bytes]:
    """The parts of a command message (the inverse of :func:`command`)."""
    lines = message.split(b"\r\n")
    return lines[2:-1:2]


def bulk(value: bytes) -> bytes:
    """A RESP bulk-string reply."""
    return b"$%d\r\n%s\r\n" % (len(value), value)
