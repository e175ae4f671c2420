from __future__ import annotations

import pytest

from socketdouble import ConfigurationError
from socketdouble.core.rules import RuleBook


def test_first_matching_rule_with_uses_left_answers() -> None:
    book = RuleBook()
    once = book.add(b"A", times=1).reply(b"first")
    always = book.add(b"A").reply(b"later")
    assert book.answer(b"A") is once
    assert book.answer(b"A") is always
    assert book.answer(b"A") is always
    assert book.answer(b"B") is None
    assert (once.used, always.used) == (1, 2)


def test_unused_expectations_are_listed() -> None:
    book = RuleBook()
    expected = book.add(b"A", times=2)
    book.add(b"B")
    book.answer(b"A")
    assert book.unused_expectations() == [expected]
    assert "times=2 (used 1)" in expected.describe()


def test_nearest_rule_shares_the_longest_prefix() -> None:
    book = RuleBook()
    book.add(b"GET /a").reply(b"x")
    book.add(b"POST /b").reply(b"y")
    assert "POST /b" in (book.nearest(b"POST /c") or "")
    assert RuleBook().nearest(b"x") is None


def test_greetings_concatenate_in_order() -> None:
    book = RuleBook()
    book.add_greeting().reply(b"220 ")
    book.add_greeting().reply(b"ready\r\n")
    assert book.greeting() == b"220 ready\r\n"
    assert not book.empty


def test_snapshot_is_independent() -> None:
    book = RuleBook()
    book.add(b"A")
    copy = book.snapshot()
    book.add(b"B")
    assert len(copy.rules) == 1


@pytest.mark.parametrize("times", [0, -1, 1.5])
def test_bad_times(times: object) -> None:
    with pytest.raises(ConfigurationError, match="times="):
        RuleBook().add(b"A", times=times)  # type: ignore[arg-type]


def test_bad_reply() -> None:
    with pytest.raises(ConfigurationError, match="write b'pong'"):
        RuleBook().add(b"A").reply("pong")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="greeting is bytes"):
        RuleBook().add_greeting().reply("hi")  # type: ignore[arg-type]
