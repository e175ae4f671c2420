"""Rules: ``server.on(matcher, times=None).reply(response)``.

A :class:`RuleBook` holds the rules and greetings of one server. It is shared by
every connection and may change while the server runs, so it is guarded by a lock.

Answering is on every message's path: a rule book finds the first rule that may
answer through a :class:`~socketdouble.core.matchers.MatcherIndex` (exact-bytes rules
by one dict lookup, rule order kept), under the plain lock; each rule's
:class:`~socketdouble.core.reaction.Reaction` carries the actions of its answer,
made once when the rule was configured.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import NamedTuple

from ..errors import ConfigurationError
from .matchers import Matcher, MatcherIndex, MatcherLike, Predicate, as_matcher
from .reaction import SILENT, Reaction, Response, check_delay, check_response

__all__ = ["Answer", "Greeting", "Reaction", "Response", "Rule", "RuleBook"]


class Rule:
    """One rule: what it matches, how often it may answer, and what it answers.

    ``reply()`` and ``close()`` may come in any order: ``on(m).close().reply(x)`` and
    ``on(m).reply(x).close()`` both answer ``x`` and then close; ``reply(x, close=...)``
    sets both at once, and ``close=None`` (the default) keeps an earlier ``close()``.
    ``reply(x, delay=0.2)`` sends ``x`` 0.2 s after the message came (stop() cuts the
    wait short); ``reset()`` ends the connection by RST after any reply, as a crashing
    server would (a datagram server ends the peer's conversation instead).
    A rule with none of these answers nothing: the message is accepted and recorded.

    A rule never answers half-configured. Rules added before ``start()`` are complete
    before any message can arrive. A rule added to a *running* server is *pending*
    until its answer is known: its first ``reply()`` or ``close()`` (give both in one
    call, ``reply(x, close=True)``, on a running server), the next rule or greeting
    added, or the server's next ``wait_for_requests()``, ``check()`` or ``stop()``.
    A message that only a pending rule matches waits for it (at most
    :attr:`RuleBook.settle_timeout` seconds; then the rule answers nothing, as a bare
    ``on(sd.ANY)`` does) instead of being answered by a rule that is not ready yet.
    """

    def __init__(self, matcher: MatcherLike, times: int | None, number: int) -> None:
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ConfigurationError(f"on(..., times={times!r}): times is None (no limit) or an int >= 1")
        self.matcher: Matcher = as_matcher(matcher)
        self.times = times
        self.number = number
        self.used = 0
        self._reaction = SILENT
        #: True while the rule waits for its answer on a running server (see the class doc).
        self.pending = False
        self._book: RuleBook | None = None

    @property
    def response(self) -> Response | None:
        """The bytes or callable given to ``reply()``, or None."""
        return self._reaction.response

    @property
    def close_after(self) -> bool:
        """True when the connection is closed after a matched message."""
        return self._reaction.close

    @property
    def delay(self) -> float:
        """Seconds the reply waits (``reply(x, delay=...)``)."""
        return self._reaction.delay

    @property
    def resets(self) -> bool:
        """True when a matched message is answered by RST (``reset()``)."""
        return self._reaction.reset

    def reply(self, response: Response, *, close: bool | None = None, delay: float = 0.0) -> Rule:
        """Answer a matched message with ``response``; ``close=True`` closes afterwards.

        ``response`` is bytes, or a callable given the message that returns the bytes
        to send (or None to send nothing). ``close=None`` keeps what an earlier
        ``close()`` said. ``delay`` is the seconds the reply waits (a slow server).
        Returns the rule.
        """
        checked = check_response(response)
        seconds = check_delay(delay)
        now = self._reaction
        self._configure(Reaction(checked, now.close if close is None else bool(close), seconds, now.reset))
        return self

    def close(self) -> Rule:
        """Close the connection after a matched message (after any reply)."""
        now = self._reaction
        self._configure(Reaction(now.response, True, now.delay, now.reset))
        return self

    def reset(self) -> Rule:
        """Answer a matched message by RST (after any reply): ``server.on(m).reset()``.

        A reset is a real one (SO_LINGER 0, then close): the client's next read fails
        with ECONNRESET. Unix stream sockets have no RST: there it is a close.
        """
        now = self._reaction
        self._configure(Reaction(now.response, now.close, now.delay, True))
        return self

    def _configure(self, reaction: Reaction) -> None:
        book = self._book
        if book is None:
            self._reaction = reaction
            return
        with book._mutex:
            book._may_block += reaction.may_block - self._reaction.may_block
            self._reaction = reaction
            self.pending = False
            if book._waiting:
                book._notify()  # a worker is waiting, maybe for exactly this answer

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def describe(self) -> str:
        limit = "" if self.times is None else f", times={self.times} (used {self.used})"
        reaction = self._reaction
        answer = "" if reaction.response is None else f" -> {_short(reaction.response)}"
        if reaction.delay:
            answer = (answer or " -> (nothing)") + f" after {reaction.delay:g} s"
        ending = "reset" if reaction.reset else "close" if reaction.close else ""
        if ending:
            answer += f" then {ending}" if answer else f" -> {ending}"
        return f"rule {self.number}: on({self.matcher!r}{limit}){answer}"

    def _listed(self) -> str:
        """describe(), with the use count also for rules without ``times``."""
        return self.describe() + ("" if self.times is not None else f" (used {self.used})")

    def __repr__(self) -> str:
        pending = ", pending" if self.pending else ""
        return f"<Rule {self._listed()}{pending}>"


def _short(response: Response) -> str:
    if isinstance(response, bytes):
        text = repr(response)
        return text if len(text) <= 60 else text[:57] + "..."
    return getattr(response, "__qualname__", repr(response))


class Answer(NamedTuple):
    """What :meth:`RuleBook.answer` decided: the rule, and its answer as it was then."""

    rule: Rule
    response: Response | None
    close: bool
    #: Seconds the reply waits.
    delay: float = 0.0
    #: The connection ends by RST after any reply.
    reset: bool = False


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

    def __repr__(self) -> str:
        return f"<Greeting {_short(self.response)}>"


class RuleBook:
    """The rules and greetings of one server, safe to change while it runs."""

    #: Longest time a message waits for a pending rule's answer (see :class:`Rule`).
    settle_timeout = 0.1
    #: How many rules an unmatched message's hint lists before "... and N more".
    LISTED = 10

    def __init__(self) -> None:
        #: The lock every method takes (C-level, cheap). ``_lock`` is the Condition over it,
        #: made (under it) by the first worker that waits for a pending rule; ``_waiting``
        #: counts the waiting workers, so only then is anyone notified.
        self._mutex = threading.Lock()
        self._lock: threading.Condition | None = None
        self._waiting = 0
        self._rules: list[Rule] = []
        self._index = MatcherIndex()  # positions in _rules, guarded with it
        self._greetings: list[Greeting] = []
        #: How many rules may take time to answer (see :attr:`may_block`).
        self._may_block = 0

    @property
    def may_block(self) -> bool:
        """True when some rule runs the test's code (a predicate, a reply function) or waits (a delay).

        A connection served on its server's serve thread moves to a thread of its own
        before such rules are asked (see :mod:`socketdouble.net.inline`).
        """
        return self._may_block > 0

    def add(self, matcher: MatcherLike, times: int | None = None, *, pending: bool = False) -> Rule:
        """A new rule, last in order. ``pending=True`` (a running server): see :class:`Rule`."""
        with self._mutex:
            self._settle()  # the test has moved on from any rule it was configuring
            rule = Rule(matcher, times, len(self._rules) + 1)
            rule._book = self
            rule.pending = pending
            self._may_block += isinstance(rule.matcher, Predicate)
            self._rules.append(rule)
            self._index.add(rule.matcher)
        return rule

    def add_greeting(self) -> Greeting:
        greeting = Greeting()
        with self._mutex:
            self._settle()
            self._greetings.append(greeting)
        return greeting

    def settle(self) -> None:
        """Take every pending rule as it is now: the test has finished configuring it."""
        with self._mutex:
            self._settle()

    def _settle(self) -> None:
        if any(rule.pending for rule in self._rules):
            for rule in self._rules:
                rule.pending = False
            if self._waiting:
                self._notify()

    @property
    def empty(self) -> bool:
        return not self._rules and not self._greetings

    @property
    def rules(self) -> list[Rule]:
        with self._mutex:
            return list(self._rules)

    def greeting(self) -> bytes:
        with self._mutex:
            return b"".join(g.response for g in self._greetings)

    def answer(self, message: bytes) -> Answer | None:
        """The first matching rule with uses left, its use counted, and its answer; or None.

        If that rule is still pending, wait (at most :attr:`settle_timeout`) for its
        answer rather than decide on a rule the test is still configuring.
        """
        found = self.reaction(message)
        if found is None:
            return None
        rule, reaction = found
        return Answer(rule, reaction.response, reaction.close, reaction.delay, reaction.reset)

    def reaction(self, message: bytes) -> tuple[Rule, Reaction] | None:
        """:meth:`answer` as a conversation takes it: the rule and its whole :class:`Reaction`.

        The rules asked are the index's candidates, in rule order, so the first rule
        that matches and has uses left answers, as if every rule were asked in turn.
        """
        with self._mutex:
            rules = self._rules
            for position in self._index.candidates(message):
                rule = rules[position]
                times = rule.times
                if (times is None or rule.used < times) and rule.matcher(message):
                    if rule.pending:
                        return self._settled(message, rule)
                    rule.used += 1
                    return rule, rule._reaction
            return None

    def _settled(self, message: bytes, rule: Rule | None) -> tuple[Rule, Reaction] | None:
        """The answer once the first matching rule (``rule``, pending) is configured (lock held)."""
        deadline = time.monotonic() + self.settle_timeout
        while rule is not None:
            if not rule.pending:
                rule.used += 1
                return rule, rule._reaction
            now = time.monotonic()
            if now >= deadline:
                rule.pending = False  # no answer came: it answers nothing, as given
                continue
            if self._lock is None:
                self._lock = threading.Condition(self._mutex)
            self._waiting += 1
            try:
                self._lock.wait(deadline - now)
            finally:
                self._waiting -= 1
            rule = self._first(message)
        return None

    def _notify(self) -> None:
        """Wake the workers waiting for a pending rule (lock held, ``_waiting`` not 0)."""
        assert self._lock is not None  # made by the first worker that waited
        self._lock.notify_all()

    def _first(self, message: bytes) -> Rule | None:
        """The first rule that matches ``message`` and has uses left (lock held)."""
        rules = self._rules
        for position in self._index.candidates(message):
            rule = rules[position]
            if not rule.exhausted and rule.matcher(message):
                return rule
        return None

    def count_use(self, number: int) -> None:
        """Count a use made elsewhere (a forked child) of rule ``number``."""
        with self._mutex:
            self._rules[number - 1].used += 1

    def unused_expectations(self) -> list[Rule]:
        """Rules declared with ``times=n`` that answered fewer than n times."""
        with self._mutex:
            return [r for r in self._rules if r.times is not None and r.used < r.times]

    def nearest(self, message: bytes) -> Rule | None:
        """The exact or prefix rule sharing the longest start with ``message``, if any does.

        Regex, ``ANY`` and callable rules have no bytes to compare, so they are never
        "nearest": naming one would say nothing.
        """
        return self._nearest_locked(message, self.rules)

    def explain(self, message: bytes) -> str | None:
        """Why no rule answered ``message``, for the report beside it; None with no rules.

        The first line names a rule that matches but is spent, else the nearest rule
        (when one means something, see :meth:`nearest`), else says none matches; then
        every rule with its use count (at most :attr:`LISTED`), as they were just now.
        """
        with self._mutex:
            rules = list(self._rules)
            if not rules:
                return None
            spent = next((r for r in rules if r.exhausted and r.matcher(message)), None)
            if spent is not None:
                named: Rule | None = spent
                lines = [f"matches a spent rule: {spent.describe()}"]
            else:
                named = self._nearest_locked(message, rules)
                if named is not None:
                    common = _common_prefix(message, named.matcher.example())
                    lines = [f"nearest: {named.describe()} (the first {common} byte(s) agree)"]
                else:
                    lines = ["no rule matches"]
            if not (len(rules) == 1 and named is not None):
                lines.append(f"rules ({len(rules)}):")
                lines.extend(f"  {rule._listed()}" for rule in rules[: self.LISTED])
                if len(rules) > self.LISTED:
                    lines.append(f"  ... and {len(rules) - self.LISTED} more")
        return "\n".join(lines)

    @staticmethod
    def _nearest_locked(message: bytes, rules: list[Rule]) -> Rule | None:
        best, best_common = None, 0
        for rule in rules:
            common = _common_prefix(message, rule.matcher.example())
            if common > best_common:
                best, best_common = rule, common
        return best

    def snapshot(self) -> RuleBook:
        """An independent copy (for a forked child, which must not share the lock).

        A forked child cannot hear of a later ``reply()``: its pending rules are taken
        as they are.
        """
        book = RuleBook()
        book.settle_timeout = 0.0
        with self._mutex:
            book._rules = copy.copy(self._rules)
            book._index = self._index.copy()
            book._greetings = list(self._greetings)
            book._may_block = self._may_block
        return book

    def __repr__(self) -> str:
        return f"<RuleBook {len(self._rules)} rule(s), {len(self._greetings)} greeting(s)>"

    def clear(self) -> int:
        """Forget every rule (greetings stay); returns how many there were.

        For long-running doubles (``socketdouble serve``'s admin API): open connections
        answer by whatever rules are added next, from their next message.
        """
        with self._mutex:
            cleared = len(self._rules)
            self._rules.clear()
            self._may_block = 0
            self._index = MatcherIndex()  # positions of rules that are gone: a new index
            if self._waiting:
                self._notify()  # a worker waiting on a pending rule decides again: unmatched
            return cleared


def _common_prefix(message: bytes, example: bytes | None) -> int:
    if example is None:
        return 0
    common = 0
    for a, b in zip(message, example, strict=False):
        if a != b:
            break
        common += 1
    return common
