"""HTTP/1.x request framing: one request, its body included, is one message.

A request is its head (request line and header fields, up to the blank line), then
a body: ``Content-Length`` bytes, or a chunked body up to its last chunk and trailer
section, or nothing. This is framing only, as RFC 9112 section 6 describes it: no
parsing beyond where a request ends, no HTTP server. Input that can never be a request
(a bad or doubled ``Content-Length``, a malformed chunk size, a head over the limit)
is a :class:`~socketdouble.errors.FramingError` on its connection.
"""

from __future__ import annotations

import re

from ..errors import ConfigurationError, FramingError
from .framing import Framing

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_HEAD", "MAX_CHUNK_LINE", "HttpRequests", "http"]

#: Largest request head (request line + header fields) accepted by default.
DEFAULT_MAX_HEAD = 64 * 1024
#: Largest body accepted by default.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Longest chunk-size line (size, extensions) and trailer field line accepted.
MAX_CHUNK_LINE = 4096

_DIGITS = re.compile(rb"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")


class HttpRequests(Framing):
    """Frames HTTP/1.x requests; see the module docstring. Made by :func:`http`."""

    def __init__(self, max_head: int = DEFAULT_MAX_HEAD, max_body: int = DEFAULT_MAX_BODY) -> None:
        for name, value in (("max_head", max_head), ("max_body", max_body)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"http({name}={value!r}): give a number of bytes > 0")
        self.max_head = max_head
        self.max_body = max_body

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > self.max_head:
                raise FramingError(
                    f"HTTP request head of {len(buffer)} bytes or more with no blank line yet, over "
                    f"max_head={self.max_head}; raise it with http(max_head=...) if the client is right"
                )
            return None
        body_start = head_end + 4
        if body_start > self.max_head:
            raise FramingError(
                f"HTTP request head of {body_start} bytes is over max_head={self.max_head}; "
                "raise it with http(max_head=...) if the client is right"
            )
        lengths, codings = _framing_fields(bytes(buffer[:head_end]))
        if codings:
            if lengths:
                raise FramingError(
                    "HTTP request with both Transfer-Encoding and Content-Length: which one ends the "
                    "body is ambiguous (request smuggling); the client must send one of them"
                )
            if codings[-1].strip().lower() != b"chunked":
                raise FramingError(
                    f"HTTP request with Transfer-Encoding {b', '.join(codings)!r}: a request body's "
                    "last coding must be chunked, or its end cannot be known"
                )
            return self._chunked_end(buffer, body_start)
        end = body_start + self._content_length(lengths)
        return end if len(buffer) >= end else None

    def _content_length(self, values: list[bytes]) -> int:
        found = {item.strip() for value in values for item in value.split(b",")}
        if not found:
            return 0
        for item in found:
            if not _DIGITS.fullmatch(item):
                raise FramingError(
                    f"HTTP Content-Length {item.decode('latin-1')!r} is not a number of bytes "
                    "(digits only, no sign)"
                )
        if len({int(item) for item in found}) > 1:
            shown = ", ".join(sorted(item.decode("latin-1") for item in found))
            raise FramingError(
                f"HTTP request with different Content-Length values ({shown}): which is right?"
            )
        length = int(found.pop())
        if length > self.max_body:
            raise FramingError(
                f"HTTP Content-Length {length} is over max_body={self.max_body}; "
                "raise it with http(max_body=...) if the client is right"
            )
        return length

    def _chunked_end(self, buffer: bytes | bytearray, position: int) -> int | None:
        """Where the chunked body starting at ``position`` ends (trailers included), or None."""
        body = 0
        while True:
            line_end = _line_end(buffer, position, "chunk-size line")
            if line_end is None:
                return None
            line = bytes(buffer[position:line_end])
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise FramingError(
                    f"HTTP chunk size {line[:40]!r} is not hexadecimal digits (optionally ';' "
                    "extensions); the chunked body is malformed"
                )
            size = int(match.group(1), 16)
            position = line_end + 2
            if size == 0:
                return self._trailers_end(buffer, position)
            body += size
            if body > self.max_body:
                raise FramingError(
                    f"HTTP chunked body over max_body={self.max_body} bytes; "
                    "raise it with http(max_body=...) if the client is right"
                )
            data_end = position + size
            if len(buffer) < data_end + 2:
                return None
            if buffer[data_end : data_end + 2] != b"\r\n":
                raise FramingError(
                    f"HTTP chunk of {size} bytes is followed by {bytes(buffer[data_end : data_end + 2])!r}, "
                    "not CRLF: the chunk size does not match its data"
                )
            position = data_end + 2

    def _trailers_end(self, buffer: bytes | bytearray, position: int) -> int | None:
        """Trailer field lines, then the blank line that ends the request."""
        while True:
            line_end = _line_end(buffer, position, "trailer field line")
            if line_end is None:
                return None
            if line_end == position:
                return position + 2
            position = line_end + 2

    def __repr__(self) -> str:
        return f"http(max_head={self.max_head}, max_body={self.max_body})"


def _line_end(buffer: bytes | bytearray, position: int, what: str) -> int | None:
    end = buffer.find(b"\r\n", position, position + MAX_CHUNK_LINE + 2)
    if end < 0 and len(buffer) - position > MAX_CHUNK_LINE:
        raise FramingError(f"HTTP {what} longer than {MAX_CHUNK_LINE} bytes; the chunked body is malformed")
    return None if end < 0 else end


def _framing_fields(head: bytes) -> tuple[list[bytes], list[bytes]]:
    """The Content-Length values and Transfer-Encoding codings of a request head."""
    lengths: list[bytes] = []
    codings: list[bytes] = []
    lines = head.split(b"\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # RFC 9112 2.2: empty lines before the request line are ignored
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise FramingError(
                f"HTTP header field line {line[:60]!r} is not 'Name: value' (no colon, or space "
                "before it); the request head is malformed"
            )
        lowered = name.lower()
        if lowered == b"content-length":
            lengths.append(value)
        elif lowered == b"transfer-encoding":
            codings.extend(coding for coding in value.split(b",") if coding.strip())
    return lengths, codings


def http(max_head: int = DEFAULT_MAX_HEAD, max_body: int = DEFAULT_MAX_BODY) -> HttpRequests:
    """HTTP/1.x request framing: each request (head and body) is one message.

    ``server = socketdouble.TCPServer(framing=socketdouble.http())``; answer with
    :func:`socketdouble.http_response`. ``max_head`` and ``max_body`` bound what one
    request may take (bytes); more is a FramingError on that connection.
    """
    return HttpRequests(max_head, max_body)
