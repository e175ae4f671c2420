"""Framing: where one message ends in a byte stream.

A :class:`Framing` describes a protocol's frames; :meth:`Framing.decoder` gives a
fresh, per-connection :class:`Decoder` that is fed bytes as they arrive and hands
back complete messages. A message is always the exact bytes of its frame, delimiter
or length prefix included, so messages laid end to end are the stream and how the
peer's writes were split never changes what comes out.

Writing your own framing: subclass :class:`Framing` and implement
:meth:`Framing.frame_length` — given the bytes buffered so far, return the length of
the first complete frame, ``None`` when more bytes are needed, or raise
:class:`~socketdouble.errors.FramingError` when the bytes can never form a frame.
"""

from __future__ import annotations

from typing import Literal

from ..errors import ConfigurationError, FramingError

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "Decoder",
    "Framing",
    "LengthPrefixed",
    "Lines",
    "Raw",
    "check_framing",
    "length_prefixed",
    "lines",
    "raw",
]

DEFAULT_MAX_LENGTH = 1 << 20


class Decoder:
    """Per-connection state of a framing: fed bytes, returns whole messages."""

    def __init__(self, framing: Framing) -> None:
        self._framing = framing
        self._buffer = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet form a complete message."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every message it completes, in order."""
        self._buffer += data
        messages = []
        while self._buffer:
            length = self._framing.frame_length(self._buffer)
            if length is None:
                break
            if not 0 < length <= len(self._buffer):
                raise FramingError(
                    f"{self._framing!r}.frame_length returned {length} for "
                    f"{len(self._buffer)} buffered bytes; it must be in 1..{len(self._buffer)} or None"
                )
            messages.append(bytes(self._buffer[:length]))
            del self._buffer[:length]
        return messages


class Framing:
    """Base class of framings; subclasses implement :meth:`frame_length`."""

    #: False for framings that cut at read boundaries (``raw``).
    segmentation_independent = True

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        """Length of the first complete frame in ``buffer``, or None if incomplete."""
        raise NotImplementedError

    def decoder(self) -> Decoder:
        """A fresh decoder for one connection."""
        return Decoder(self)


class _LineDecoder(Decoder):
    """Remembers how far it searched so a long line is scanned once, not per read."""

    def __init__(self, framing: Lines) -> None:
        super().__init__(framing)
        self._searched = 0
        # Read on every feed: kept here rather than looked up on the framing each time
        # (a framing is fixed for the connections it already framed, as the search state is).
        self._delimiter = framing.delimiter
        self._max_length = framing.max_length

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        delimiter = self._delimiter
        # The common case: nothing buffered and the read is exactly one whole line.
        if not buffer and 0 <= data.find(delimiter) == len(data) - len(delimiter):
            if len(data) > self._max_length:
                self._check_length(len(data))
            return [data]
        buffer += data
        messages = []
        start = 0
        while True:
            end = buffer.find(delimiter, max(start, self._searched - len(delimiter) + 1))
            if end < 0:
                break
            stop = end + len(delimiter)
            self._check_length(stop - start)
            messages.append(bytes(buffer[start:stop]))
            start = stop
            self._searched = start
        if start:
            del buffer[:start]
        self._searched = len(buffer)
        if len(buffer) > self._max_length:
            self._check_length(len(buffer))
        return messages

    def _check_length(self, length: int) -> None:
        if length > self._max_length:
            raise FramingError(
                f"line of {length} bytes or more exceeds max_length={self._max_length} "
                f"(delimiter {self._delimiter!r}); raise max_length or use another framing"
            )


class Lines(Framing):
    """Messages end with ``delimiter``, which stays part of the message."""

    def __init__(self, delimiter: bytes = b"\n", max_length: int = DEFAULT_MAX_LENGTH) -> None:
        if not isinstance(delimiter, bytes) or not delimiter:
            raise ConfigurationError(
                f"lines(delimiter={delimiter!r}): the delimiter must be non-empty bytes, e.g. b'\\r\\n'"
            )
        if not isinstance(max_length, int) or max_length < len(delimiter):
            raise ConfigurationError(
                f"lines(max_length={max_length!r}): must be an int of at least {len(delimiter)}"
            )
        self.delimiter = delimiter
        self.max_length = max_length

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        end = buffer.find(self.delimiter)
        return None if end < 0 else end + len(self.delimiter)

    def decoder(self) -> Decoder:
        return _LineDecoder(self)

    def __repr__(self) -> str:
        return f"lines(delimiter={self.delimiter!r}, max_length={self.max_length})"


class LengthPrefixed(Framing):
    """Each message starts with its payload length as a ``size``-byte unsigned int."""

    def __init__(
        self,
        size: int = 4,
        byteorder: Literal["big", "little"] = "big",
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        if size not in (1, 2, 4, 8):
            raise ConfigurationError(f"length_prefixed(size={size!r}): size must be 1, 2, 4 or 8")
        if byteorder not in ("big", "little"):
            raise ConfigurationError(
                f"length_prefixed(byteorder={byteorder!r}): byteorder must be 'big' or 'little'"
            )
        self.size = size
        self.byteorder: Literal["big", "little"] = byteorder
        self.max_length = max_length

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        if len(buffer) < self.size:
            return None
        length = int.from_bytes(buffer[: self.size], self.byteorder)
        if length > self.max_length:
            raise FramingError(
                f"length prefix {buffer[: self.size].hex()} announces {length} bytes, over "
                f"max_length={self.max_length}; raise max_length if the peer is right"
            )
        total = self.size + length
        return total if len(buffer) >= total else None

    def __repr__(self) -> str:
        return f"length_prefixed(size={self.size}, byteorder={self.byteorder!r})"


class _RawDecoder(Decoder):
    def feed(self, data: bytes) -> list[bytes]:
        return [data] if data else []


class Raw(Framing):
    """Each read is one message, as it came: depends on how the peer's writes were cut."""

    segmentation_independent = False

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        return len(buffer) or None

    def decoder(self) -> Decoder:
        return _RawDecoder(self)

    def __repr__(self) -> str:
        return "raw()"


def lines(delimiter: bytes = b"\n", max_length: int = DEFAULT_MAX_LENGTH) -> Lines:
    """Line framing (the default for streams): each message ends with ``delimiter``."""
    return Lines(delimiter, max_length)


def length_prefixed(
    size: int = 4, byteorder: Literal["big", "little"] = "big", max_length: int = DEFAULT_MAX_LENGTH
) -> LengthPrefixed:
    """Length-prefixed framing: a ``size``-byte length, then that many bytes."""
    return LengthPrefixed(size, byteorder, max_length)


def raw() -> Raw:
    """No framing: each read from the socket is one message."""
    return Raw()


def check_framing(framing: object) -> Framing:
    """Return ``framing`` if it is a Framing, else raise a ConfigurationError."""
    if isinstance(framing, Framing):
        return framing
    raise ConfigurationError(
        f"framing={framing!r} is not a socketdouble framing; pass lines(), "
        "length_prefixed(), raw() or a Framing subclass instance"
    )
