from __future__ import annotations

import pytest

from socketdouble.core.cassette import Redactor
from socketdouble.core.turncheck import TurnCheck

SECRET = Redactor([rb"(?<=AUTH )\w+"])


def test_only_new_bytes_are_compared() -> None:
    recorded = bytes(range(256)) * 4096  # 1 MiB
    check = TurnCheck(recorded)
    live = bytearray()
    for start in range(0, len(recorded), 65536):
        live += recorded[start : start + 65536]
        assert check.advance(live) is None
    assert check.compared == len(recorded)  # each byte once, not the whole buffer each time
    assert check.finish(live)


def test_a_difference_is_sure_at_once_without_patterns() -> None:
    check = TurnCheck(b"AUTH ******\n")
    assert check.advance(b"AUTH x") == 5


def test_with_patterns_a_difference_outside_fill_bytes_is_sure_at_once() -> None:
    check = TurnCheck(b"AUTH ******\n", SECRET)
    assert check.advance(b"AUTX") == 3
    check = TurnCheck(b"AUTH ******\nQUIT\n", SECRET)
    assert check.advance(b"AUTH secret\nQUIZ") == 15  # past the fill run, still sure


def test_a_difference_on_fill_bytes_waits_for_the_whole_turn() -> None:
    check = TurnCheck(b"AUTH ******\n", SECRET)
    assert check.advance(b"AUTH sec") is None and check.pending
    live = b"AUTH secret\n"
    assert check.advance(live) is None
    assert check.finish(live)


def test_the_whole_turn_is_redacted_then_compared() -> None:
    check = TurnCheck(b"AUTH ******\n", SECRET)
    live = b"AUTH ab-def\n"  # '-' is no secret: redacted, it stays and differs
    assert check.advance(live) is None
    assert not check.finish(live)
    assert check.difference == 7


def test_a_literal_fill_byte_without_patterns_is_compared_like_any_other() -> None:
    check = TurnCheck(b"SELECT *")
    assert check.advance(b"SELECT x") == 7


def test_finish_needs_the_whole_turn() -> None:
    with pytest.raises(ValueError, match="needs 4 live bytes, got 2"):
        TurnCheck(b"abcd").finish(b"ab")


def test_misfit_of_a_first_turn() -> None:
    assert TurnCheck(b"GET /a\n").misfit(b"GET /") is None
    assert TurnCheck(b"GET /a\n").misfit(b"GET /a\n") is None
    assert TurnCheck(b"GET /a\n").misfit(b"GET /b") == 5
    assert TurnCheck(b"GET /a\n").misfit(b"GET /a\nGET") == 7  # more than the whole turn
    assert TurnCheck(b"AUTH ******\n", SECRET).misfit(b"AUTH ab-def\n") == 7
