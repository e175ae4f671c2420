"""Default cassette names and who owns each cassette file."""

from __future__ import annotations

from pathlib import Path

import pytest

import socketdouble as sd
from socketdouble.cassette_names import MAX_LENGTH, CassetteClaims, default_cassette_name


@pytest.mark.parametrize(
    ("test", "cls", "name"),
    [
        ("test_get", None, "test_get"),
        ("test_get[redis-1]", None, "test_get[redis-1]"),
        ("test_get[a/b-1]", None, "test_get[a%2Fb-1]"),
        ("test_get[a%2Fb-1]", None, "test_get[a%252Fb-1]"),  # '%' is escaped too: one-to-one
        ("test_get[a b]", None, "test_get[a%20b]"),
        ("test_get[é]", None, "test_get[%C3%A9]"),
        ("test_get", "TestCache", "TestCache.test_get"),
    ],
)
def test_the_default_name_is_the_test_name_made_file_safe(test: str, cls: str | None, name: str) -> None:
    assert default_cassette_name(test, cls) == name


def test_a_long_name_is_cut_and_keeps_a_hash_of_the_whole() -> None:
    first = default_cassette_name("test_x[" + "a" * 300 + "]")
    second = default_cassette_name("test_x[" + "a" * 299 + "b]")
    assert len(first) == len(second) == MAX_LENGTH
    assert first != second and first.startswith("test_x[aaa")
    assert first == default_cassette_name("test_x[" + "a" * 300 + "]")


@pytest.mark.parametrize("shared", [False, True])
def test_a_cassette_claimed_by_two_tests_is_an_error_naming_both(tmp_path: Path, shared: bool) -> None:
    registry = tmp_path / "claims.jsonl"
    first = CassetteClaims(registry if shared else None)
    # with a shared file, a second process (xdist worker) has its own CassetteClaims
    second = CassetteClaims(registry) if shared else first
    first.claim(tmp_path / "c" / "x.json", "t.py::test_a")
    first.claim(tmp_path / "c" / "x.json", "t.py::test_a")  # the same test again: fine
    second.claim(tmp_path / "c" / "y.json", "t.py::test_b")
    with pytest.raises(
        sd.ConfigurationError, match=r"x\.json is used by two tests: t\.py::test_a and t\.py::test_b"
    ):
        second.claim(tmp_path / "c" / ".." / "c" / "x.json", "t.py::test_b")
