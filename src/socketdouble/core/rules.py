"""Rules: ``server.on(matcher, times=None).reply(response)``.

A :class:`RuleBook` holds the rules and greetings of one server. It is shared by
every connection and may change while the server runs, so it is guarded by a lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from ..errors import ConfigurationError
from .matchers import Matcher, MatcherLike, as_matcher

Response = bytes | Callable[[bytes], bytes | None]


def check_response(response: object) -> Response:
    if isinstance(response, (bytes, bytearray, memoryview)):
        return bytes(response)
    if callable(response):
        return response
    raise ConfigurationError(
        f"reply({response!r}): a reply is bytes or a callable message -> bytes | None"
        + (f"; write b{response!r}" if isinstance(response, str) else "")
    )


class Rule:
    """One rule: what it matches, how often it may answer, and what it answers."""

    def __init__(self, matcher: MatcherLike, times: int | None, number: int) -> None:
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ConfigurationError(f"on(..., times={times!r}): times is None (no limit) or an int >= 1")
        self.matcher: Matcher = as_matcher(matcher)
        self.times = times
        self.number = number
        self.used = 0
        self.response: Response | None = None
        self.close_after = False

    def reply(self, response: Response, *, close: bool = False) -> Rule:
        """Answer a matched message with ``response``; ``close=True`` closes afterwards.

        ``response`` is bytes, or a callable given the message that returns the bytes
        to send (or None to send nothing). Returns the rule.
        """
        self.response = check_response(response)
        self.close_after = close
        return self

    def close(self) -> Rule:
        """Close the connection after a matched message (after any reply)."""
        self.close_after = True
        return self

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def describe(self) -> str:
        limit = "" if self.times is None else f", times={self.times} (used {self.used})"
        answer = "" if self.response is None else f" -> {_short(self.response)}"
        return f"rule {self.number}: on({self.matcher!r}{limit}){answer}"


def _short(response: Response) -> str:
    if isinstance(response, bytes):
        text = repr(response)
        return text if len(text) <= 60 else text[:57] + "..."
    return getattr(response, "__qualname__", repr(response))


class Greeting:
    """What ``on_connect()`` returns: set the bytes sent to every new connection."""

    def __init__(self) -> None:
        self.response: bytes = b""

    def reply(self, response: bytes) -> Greeting:
        """Send ``response`` as soon as a connection opens."""
        if not isinstance(response, (bytes, bytearray, memoryview)):
            raise ConfigurationError(f"on_connect().reply({response!r}): a greeting is bytes")
        self.response = bytes(response)
        return self


class RuleBook:
    """The rules and greetings of one server, safe to change while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._greetings: list[Greeting] = []

    def add(self, matcher: MatcherLike, times: int | None = None) -> Rule:
        with self._lock:
            rule = Rule(matcher, times, len(self._rules) + 1)
            self._rules.append(rule)
        return rule

    def add_greeting(self) -> Greeting:
        greeting = Greeting()
        with self._lock:
            self._greetings.append(greeting)
        return greeting

    @property
    def empty(self) -> bool:
        return not self._rules and not self._greetings

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def greeting(self) -> bytes:
        with self._lock:
            return b"".join(g.response for g in self._greetings)

    def answer(self, message: bytes) -> Rule | None:
        """The first matching rule with uses left, its use counted; or None."""
        with self._lock:
            for rule in self._rules:
                if not rule.exhausted and rule.matcher(message):
                    rule.used += 1
                    return rule
        return None

    def count_use(self, number: int) -> None:
        """Count a use made elsewhere (a forked child) of rule ``number``."""
        with self._lock:
            self._rules[number - 1].used += 1

    def unused_expectations(self) -> list[Rule]:
        """Rules declared with ``times=n`` that answered fewer than n times."""
        with self._lock:
            return [r for r in self._rules if r.times is not None and r.used < r.times]

    def nearest(self, message: bytes) -> str | None:
        """Describe the rule closest to ``message``, to show beside a near miss."""
        rules = self.rules
        if not rules:
            return None
        best = max(rules, key=lambda r: _likeness(message, r.matcher.example()))
        return best.describe()

    def snapshot(self) -> RuleBook:
        """An independent copy (for a forked child, which must not share the lock)."""
        book = RuleBook()
        with self._lock:
            book._rules = copy.copy(self._rules)
            book._greetings = list(self._greetings)
        return book


def _likeness(message: bytes, example: bytes | None) -> int:
    if example is None:
        return -1
    common = 0
    for a, b in zip(message, example, strict=False):
        if a != b:
            break
        common += 1
    return common
