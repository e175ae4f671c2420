from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator

import pytest


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test leaves no socketdouble thread and no descriptor behind."""
    if "pytester" in request.fixturenames:
        yield
        return
    gc.collect()
    before = _descriptors()
    yield
    # Fixture teardown (stop) has run by the time this finalizer runs: it was set up first.
    gc.collect()
    alive = [t.name for t in threading.enumerate() if t.name.startswith("socketdouble-")]
    assert alive == [], f"threads left running: {alive}"
    after = _descriptors()
    assert after <= before, f"{after - before} descriptor(s) left open"
