"""Inner pytest runs (pytester) load the plugins these tests are about, not pytest-asyncio.

pytest-asyncio is in the test extra for the async tests and examples. It warns in every
run whose configuration leaves ``asyncio_default_fixture_loop_scope`` unset; an inner
run's folder has no configuration and runs with ``-W error``, so that warning would
fail it. ``-p no:asyncio`` is harmless where pytest-asyncio is not installed.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _inner_runs_without_asyncio(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when made: set it after
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} -p no:asyncio".strip())
