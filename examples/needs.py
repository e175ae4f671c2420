"""One rule for examples that need a program of the machine (redis-server, PostgreSQL...)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip the test when a program it needs is missing, but fail it on CI.

    CI (the environment variable ``CI`` set, as .ci/run and most CI services do) must
    have installed what the examples need, so a missing program there is a failure,
    never a silent skip.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it (see .ci/run)", pytrace=False)
    pytest.skip(f"{reason} (.ci/run installs it)")
