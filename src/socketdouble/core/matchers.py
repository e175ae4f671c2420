"""Matchers: which messages a rule or a script step accepts.

A matcher is anything :func:`as_matcher` accepts — exact ``bytes``, :func:`regex`,
:func:`prefix`, :data:`ANY`, or a callable ``message -> bool`` — turned into a
:class:`Matcher` that can also describe itself in a report.

:class:`MatcherIndex` finds, for a message, which of an ordered list of matchers may
accept it without asking every one: exact-bytes matchers are looked up in a dict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..errors import ConfigurationError

__all__ = [
    "ANY",
    "Exact",
    "Matcher",
    "MatcherIndex",
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


class MatcherIndex:
    """Positions in an ordered list of matchers that may accept a message, in order.

    A rule book asks each candidate in turn and takes the first that accepts (and has
    uses left), exactly as if it walked the whole list: the candidates are every
    :class:`Exact` matcher whose bytes equal the message, found by one dict lookup,
    and every other matcher (a regex, a prefix, ``ANY``, a callable: only asking it
    tells), merged in list order. Nothing is asked here, so a callable matcher is
    called as often, and in the same order, as a walk would call it. A rule book of
    exact bytes only costs one lookup whatever its length. Matchers are only ever added
    at the end; the caller guards the index as it guards its list.
    """

    def __init__(self, matchers: Sequence[Matcher] = ()) -> None:
        self._exact: dict[bytes, list[int]] = {}
        self._others: list[int] = []
        self._size = 0
        for matcher in matchers:
            self.add(matcher)

    def add(self, matcher: Matcher) -> int:
        """Index ``matcher`` at the next position (after every one added before); return it."""
        position = self._size
        self._size += 1
        if type(matcher) is Exact:  # a subclass may accept more than its bytes: asked like any other
            self._exact.setdefault(matcher.expected, []).append(position)
        else:
            self._others.append(position)
        return position

    def candidates(self, message: bytes) -> list[int]:
        """Positions of the matchers that may accept ``message``, in ascending order.

        Exact matchers listed accept it; the others must still be asked. Do not change
        the list returned: it may be the index's own.
        """
        exact = self._exact.get(message)
        if exact is None:
            return self._others
        if not self._others:
            return exact
        return sorted(exact + self._others)  # two ascending runs: one linear merge

    def copy(self) -> MatcherIndex:
        """An independent index of the same matchers (for a copied rule book)."""
        index = MatcherIndex()
        index._exact = {key: list(positions) for key, positions in self._exact.items()}
        index._others = list(self._others)
        index._size = self._size
        return index

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"<MatcherIndex {self._size} matcher(s), {len(self._others)} not exact bytes>"
