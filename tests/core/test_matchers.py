from __future__ import annotations

import pytest

from socketdouble import ANY, ConfigurationError, prefix, regex
from socketdouble.core.matchers import as_matcher


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
