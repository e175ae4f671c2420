"""The autouse leak check in conftest.py: it must see a leak that a closed descriptor offsets."""

from __future__ import annotations

import os

from tests.conftest import leaked, open_descriptors


def test_a_leak_is_seen_even_when_the_test_closed_as_many_descriptors() -> None:
    kept_read, kept_write = os.pipe()
    before = open_descriptors()
    os.close(kept_write)  # closed by the test: fine
    leak_read, leak_write = os.pipe()
    os.close(leak_write)
    try:
        after = open_descriptors()
        assert len(after) <= len(before)  # a count alone would call this clean
        assert leaked(before, after) == [f"{leak_read} -> {os.readlink(f'/proc/self/fd/{leak_read}')}"]
    finally:
        os.close(leak_read)
        os.close(kept_read)


def test_a_reused_number_pointing_elsewhere_is_a_leak() -> None:
    before = {(3, "pipe:[1]"), (4, "socket:[2]")}
    assert leaked(before, {(3, "pipe:[1]")}) == []
    assert leaked(before, {(3, "pipe:[1]"), (4, "socket:[9]")}) == ["4 -> socket:[9]"]


def test_the_listing_leaves_out_its_own_descriptor() -> None:
    first, second = open_descriptors(), open_descriptors()
    assert first == second
