from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketdouble import ANY, ConfigurationError, prefix, regex
from socketdouble.core.matchers import Exact, Matcher, MatcherIndex, as_matcher


def test_exact_bytes() -> None:
    matcher = as_matcher(b"PING\r\n")
    assert matcher(b"PING\r\n")
    assert not matcher(b"PING\n")
    assert matcher.example() == b"PING\r\n"


def test_regex_searches_and_can_be_anchored() -> None:
    assert regex(rb"GET")(b"xGET /")
    assert not regex(rb"\AGET")(b"xGET /")
    assert regex("^HELO")(b"HELO x")


def test_prefix_any_and_callables() -> None:
    assert prefix(b"GET ")(b"GET / HTTP/1.1\r\n")
    assert not prefix(b"GET ")(b"POST /")
    assert ANY(b"")
    assert as_matcher(lambda m: len(m) == 2)(b"ab")
    assert repr(ANY) == "ANY"


@pytest.mark.parametrize(
    ("value", "match"),
    [("PING", "write b'PING'"), (42, "not bytes"), (None, "not bytes")],
)
def test_bad_matchers_are_refused(value: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        as_matcher(value)  # type: ignore[arg-type]


def test_bad_regex_names_the_pattern() -> None:
    with pytest.raises(ConfigurationError, match=r"regex\(b'\('\)"):
        regex(b"(")


def test_prefix_must_be_bytes() -> None:
    with pytest.raises(ConfigurationError, match="must be bytes"):
        prefix("GET")  # type: ignore[arg-type]


def first_by_walk(matchers: list[Matcher], spent: set[int], message: bytes) -> int | None:
    return next((i for i, m in enumerate(matchers) if i not in spent and m(message)), None)


def first_by_index(
    index: MatcherIndex, matchers: list[Matcher], spent: set[int], message: bytes
) -> int | None:
    return next((i for i in index.candidates(message) if i not in spent and matchers[i](message)), None)


MESSAGES = st.sampled_from([b"", b"a", b"ab", b"b", b"ba", b"abc"])
MATCHERS = st.one_of(
    MESSAGES.map(as_matcher),
    MESSAGES.map(prefix),
    st.sampled_from([regex(rb"b\Z"), regex(rb"\Aa"), ANY, as_matcher(lambda m: len(m) == 2)]),
)


@given(st.lists(MATCHERS, max_size=12), st.sets(st.integers(0, 11)), MESSAGES)
def test_the_index_finds_the_rule_a_walk_finds(
    matchers: list[Matcher], spent: set[int], message: bytes
) -> None:
    index = MatcherIndex(matchers)
    assert first_by_index(index, matchers, spent, message) == first_by_walk(matchers, spent, message)
    accepted = [i for i, m in enumerate(matchers) if m(message)]
    assert [i for i in index.candidates(message) if matchers[i](message)] == accepted


def test_an_earlier_rule_that_is_not_exact_bytes_comes_first() -> None:
    matchers = [as_matcher(b"x"), ANY, as_matcher(b"PING"), prefix(b"PI"), as_matcher(b"PING")]
    index = MatcherIndex(matchers)
    assert index.candidates(b"PING") == [1, 2, 3, 4]
    assert index.candidates(b"x") == [0, 1, 3]  # the prefix is a candidate: only asking it tells
    assert index.candidates(b"other") == [1, 3]
    assert first_by_index(index, matchers, {1, 2}, b"PING") == 3


def test_only_exact_bytes_is_one_lookup_whatever_the_length() -> None:
    index = MatcherIndex([as_matcher(b"%d" % i) for i in range(1000)])
    assert index.candidates(b"999") == [999]
    assert index.candidates(b"nope") == []
    assert len(index) == 1000


def test_callables_are_asked_in_order_and_no_more_than_a_walk_asks() -> None:
    asked: list[str] = []

    def named(name: str, answer: bool) -> Matcher:
        def ask(message: bytes) -> bool:
            asked.append(name)
            return answer

        return as_matcher(ask)

    matchers = [named("no", False), as_matcher(b"m"), named("late", True)]
    assert first_by_index(MatcherIndex(matchers), matchers, set(), b"m") == 1
    assert asked == ["no"]


def test_a_subclass_of_exact_is_asked_like_any_other_matcher() -> None:
    class Either(Exact):
        def __call__(self, message: bytes) -> bool:
            return message in (self.expected, self.expected.lower())

    index = MatcherIndex([Either(b"PING")])
    assert index.candidates(b"ping") == [0]


def test_a_copy_is_independent_and_added_matchers_go_last() -> None:
    index = MatcherIndex([as_matcher(b"a")])
    copied = index.copy()
    assert index.add(as_matcher(b"a")) == 1
    assert index.add(ANY) == 2
    assert index.candidates(b"a") == [0, 1, 2]
    assert copied.candidates(b"a") == [0]
    assert "3 matcher(s)" in repr(index)
