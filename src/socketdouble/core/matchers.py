"""Matchers: which messages a rule or a script step accepts.

A matcher is anything :func:`as_matcher` accepts — exact ``bytes``, :func:`regex`,
:func:`prefix`, :data:`ANY`, or a callable ``message -> bool`` — turned into a
:class:`Matcher` that can also describe itself in a report.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import ConfigurationError

__all__ = [
    "ANY",
    "Exact",
    "Matcher",
    "MatcherLike",
    "Predicate",
    "Prefix",
    "Regex",
    "as_matcher",
    "prefix",
    "regex",
]


class Matcher:
    """A predicate on one message, with a description for transcripts."""

    def __call__(self, message: bytes) -> bool:
        raise NotImplementedError

    def example(self) -> bytes | None:
        """Bytes this matcher would accept, if known (used to show near misses)."""
        return None


class Exact(Matcher):
    def __init__(self, expected: bytes) -> None:
        self.expected = expected

    def __call__(self, message: bytes) -> bool:
        return message == self.expected

    def example(self) -> bytes:
        return self.expected

    def __repr__(self) -> str:
        return repr(self.expected)


class Regex(Matcher):
    def __init__(self, pattern: bytes | str | re.Pattern[bytes], flags: int = 0) -> None:
        if isinstance(pattern, str):
            pattern = pattern.encode()
        try:
            self.pattern: re.Pattern[bytes] = (
                pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
            )
        except (re.error, TypeError) as exc:
            raise ConfigurationError(f"regex({pattern!r}) is not a valid bytes pattern: {exc}") from None

    def __call__(self, message: bytes) -> bool:
        return self.pattern.search(message) is not None

    def __repr__(self) -> str:
        return f"regex({self.pattern.pattern!r})"


class Prefix(Matcher):
    def __init__(self, start: bytes) -> None:
        if not isinstance(start, bytes):
            raise ConfigurationError(f"prefix({start!r}): the prefix must be bytes, e.g. b'GET '")
        self.start = start

    def __call__(self, message: bytes) -> bool:
        return message.startswith(self.start)

    def example(self) -> bytes:
        return self.start

    def __repr__(self) -> str:
        return f"prefix({self.start!r})"


class _Any(Matcher):
    def __call__(self, message: bytes) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


class Predicate(Matcher):
    def __init__(self, function: Callable[[bytes], bool]) -> None:
        self.function = function

    def __call__(self, message: bytes) -> bool:
        return bool(self.function(message))

    def __repr__(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))


#: Matches every message.
ANY: Matcher = _Any()

MatcherLike = bytes | Matcher | Callable[[bytes], bool]


def regex(pattern: bytes | str | re.Pattern[bytes], flags: int = 0) -> Matcher:
    """Match messages in which ``re.search`` finds ``pattern`` (anchor with ``\\A``)."""
    return Regex(pattern, flags)


def prefix(start: bytes) -> Matcher:
    """Match messages that start with ``start``."""
    return Prefix(start)


def as_matcher(value: MatcherLike) -> Matcher:
    """Turn bytes, a Matcher or a callable into a Matcher; reject anything else."""
    if isinstance(value, Matcher):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Exact(bytes(value))
    if isinstance(value, str):
        raise ConfigurationError(
            f"matcher {value!r} is str; messages are bytes: write b{value!r} or regex({value!r})"
        )
    if callable(value):
        return Predicate(value)
    raise ConfigurationError(
        f"matcher {value!r} is not bytes, regex(...), prefix(...), ANY or a callable message -> bool"
    )
