from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator

import pytest

FD_FOLDER = "/proc/self/fd"


def open_descriptors() -> set[tuple[int, str]]:
    """Every open descriptor as (number, what it points at).

    The target tells a number the test closed and reused for something else from the
    descriptor it had before. The listing's own descriptor is gone by the time it is
    read, so it (and any other that closes meanwhile) is left out.
    """
    if not os.path.isdir(FD_FOLDER):
        return set()
    found = set()
    for name in os.listdir(FD_FOLDER):
        try:
            found.add((int(name), os.readlink(os.path.join(FD_FOLDER, name))))
        except FileNotFoundError:  # closed since the listing: the listing's own, or a thread's
            continue
    return found


def leaked(before: set[tuple[int, str]], after: set[tuple[int, str]]) -> list[str]:
    """Descriptors open after the test that were not open, as the same thing, before it.

    Descriptors the test closed are fine; each that is new (or a reused number now
    pointing elsewhere) is a leak, even if the test closed as many as it leaked.
    """
    return [f"{fd} -> {target}" for fd, target in sorted(after - before)]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test leaves no socketdouble thread and no descriptor behind."""
    if "pytester" in request.fixturenames:
        yield
        return
    gc.collect()
    before = open_descriptors()
    yield
    # Fixture teardown (stop) has run by the time this finalizer runs: it was set up first.
    gc.collect()
    alive = [t.name for t in threading.enumerate() if t.name.startswith("socketdouble-")]
    assert alive == [], f"threads left running: {alive}"
    left = leaked(before, open_descriptors())
    assert left == [], f"{len(left)} descriptor(s) left open: {', '.join(left)}"
