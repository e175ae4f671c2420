"""What a server says, as the doubles file writes it: rules, a greeting, a script.

A rule table names one matcher (``match``, ``prefix``, ``regex`` or ``any = true``;
``match_hex`` and ``prefix_hex`` for binary) and what to do: ``reply`` (or
``reply_hex``), ``times``, ``close``, ``delay``, ``reset``. A script is a list of step
tables, each with one of ``send``, ``expect`` (and its matcher variants), ``sleep``,
``close``, ``reset``. The admin API reads rules with the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.matchers import ANY, Matcher, as_matcher, prefix, regex
from ..core.rules import Rule
from ..core.script import Script
from ..errors import ConfigurationError
from ..net.server import BaseServer
from .config_values import (
    ConfigError,
    boolean,
    bytes_value,
    check_keys,
    described,
    integer,
    join,
    number,
    string,
    table,
)

__all__ = ["RULE_KEYS", "RuleSpec", "parse_rule", "parse_script"]

#: The keys that say what a rule matches, in the order the error lists them.
MATCHER_KEYS = ("match", "match_hex", "prefix", "prefix_hex", "regex", "any")
RULE_KEYS = (*MATCHER_KEYS, "reply", "reply_hex", "times", "close", "delay", "reset")
#: A script step's keys: each step has exactly one.
STEP_KEYS = (
    "send",
    "send_hex",
    "expect",
    "expect_hex",
    "expect_prefix",
    "expect_prefix_hex",
    "expect_regex",
    "expect_any",
    "sleep",
    "close",
    "reset",
)


def _matcher(data: Mapping[str, Any], path: str, keys: tuple[str, ...], what: str) -> Matcher:
    """The one matcher of ``data``; ``keys`` are its names for match, match_hex, prefix, ..."""
    given = [key for key in keys if key in data]
    if len(given) != 1:
        listed = ", ".join(keys[:-1]) + f" or {keys[-1]} = true"
        if not given:
            raise ConfigError(path, f"{what} needs what it matches: one of {listed}")
        raise ConfigError(join(path, given[1]), f"{what} takes one matcher, and {given[0]} is given too")
    key = given[0]
    exact, exact_hex, start, start_hex, pattern, anything = keys
    if key in (exact, exact_hex):
        found = bytes_value(data, exact, path)
        assert found is not None
        return as_matcher(found)
    if key in (start, start_hex):
        found = bytes_value(data, start, path)
        assert found is not None
        return prefix(found)
    if key == pattern:
        source = string(data, pattern, path)
        assert source is not None
        try:
            return regex(source)
        except ConfigurationError as error:
            raise ConfigError(join(path, pattern), str(error)) from None
    if data[anything] is not True:
        raise ConfigError(
            join(path, anything), f"expected true (match every message), not {described(data[anything])}"
        )
    return ANY


@dataclass(frozen=True)
class RuleSpec:
    """A checked rule table, ready to add to any number of servers."""

    matcher: Matcher
    times: int | None
    reply: bytes | None
    close: bool
    delay: float | None
    reset: bool

    def add_to(self, server: BaseServer) -> Rule:
        """Add this rule to ``server`` (running or not), complete at once; returns the rule."""
        rule = server.on(self.matcher, times=self.times)
        if self.reply is not None:
            rule.reply(self.reply, close=self.close, delay=self.delay or 0.0)
        elif self.close:
            rule.close()
        if self.reset:
            # On a running server a message could slip in between reply() and reset() and
            # get the reply alone; the Rule API has no one call for both, and the window is
            # a few instructions long.
            rule.reset()
        # A rule that only records (no reply, no close) is complete as it is: say so, so a
        # message it matches on a running server does not wait for an answer still to come.
        server.rules.settle()
        return rule


def parse_rule(value: Any, path: str) -> RuleSpec:
    """Check one rule table (``[[servers.rules]]``, or an admin API body)."""
    data = table(value, path)
    check_keys(data, path, RULE_KEYS, "a rule")
    matcher = _matcher(data, path, MATCHER_KEYS, "a rule")
    reply = bytes_value(data, "reply", path)
    close = boolean(data, "close", path)
    reset = boolean(data, "reset", path)
    delay = number(data, "delay", path)
    if reset and close:
        raise ConfigError(join(path, "close"), "a rule ends the connection by a reset or a close, not both")
    if delay is not None and reply is None:
        raise ConfigError(
            join(path, "delay"), "delay is how long the reply waits: give reply (or reply_hex) too"
        )
    return RuleSpec(
        matcher=matcher,
        times=integer(data, "times", path, minimum=1),
        reply=reply,
        close=close,
        delay=delay,
        reset=reset,
    )


def parse_script(value: Any, path: str) -> Script:
    """Check ``script = [{send = ...}, {expect = ...}, {sleep = 0.1}, {close = true}]``."""
    if not isinstance(value, list):
        raise ConfigError(
            path, f'expected a list of steps like {{send = "220 ready\\r\\n"}}, not {described(value)}'
        )
    script = Script()
    for index, item in enumerate(value):
        step_path = join(path, index)
        step = table(item, step_path)
        check_keys(step, step_path, STEP_KEYS, "a script step")
        actions = {key.removesuffix("_hex") for key in step}
        actions = {"expect" if key.startswith("expect") else key for key in actions}
        if len(actions) != 1:
            what = "this one does nothing" if not actions else f"not {' and '.join(sorted(actions))}"
            raise ConfigError(
                step_path, f"a step does one thing (send, expect, sleep, close or reset), {what}"
            )
        (action,) = actions
        if action == "send":
            data = bytes_value(step, "send", step_path)
            assert data is not None
            script.send(data)
        elif action == "expect":
            script.expect(
                _matcher(
                    step,
                    step_path,
                    (
                        "expect",
                        "expect_hex",
                        "expect_prefix",
                        "expect_prefix_hex",
                        "expect_regex",
                        "expect_any",
                    ),
                    "an expect step",
                )
            )
        elif action == "sleep":
            seconds = number(step, "sleep", step_path)
            assert seconds is not None
            script.sleep(seconds)
        else:  # close or reset
            if step[action] is not True:
                raise ConfigError(join(step_path, action), f"expected true, not {described(step[action])}")
            script.close() if action == "close" else script.reset()
    return script
