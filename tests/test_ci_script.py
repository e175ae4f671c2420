""".ci/run fails when pytest fails, collects nothing, or is hidden in an `&&` list."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "run"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the CI script is bash")


def pytest_run(command: str) -> subprocess.CompletedProcess[str]:
    """Run ``pytest_run <command>`` as .ci/run defines it, under the script's `set -e`."""
    function = re.search(r"^pytest_run\(\) \{\n.*?^\}\n", SCRIPT.read_text(), re.M | re.S)
    assert function is not None, "pytest_run() is gone from .ci/run"
    script = f'set -euo pipefail\n{function.group(0)}pytest_run {command}\necho "went on"\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("code", [1, 2, 5])
def test_a_failing_or_empty_pytest_run_stops_ci(code: int) -> None:
    result = pytest_run(f"bash -c 'exit {code}'")
    assert result.returncode == code
    assert "went on" not in result.stdout
    assert ("collected no tests" in result.stderr) == (code == 5)


def test_a_passing_run_goes_on() -> None:
    result = pytest_run("true")
    assert (result.returncode, result.stdout) == (0, "went on\n")


def test_every_pytest_run_goes_through_pytest_run_on_its_own_line() -> None:
    # `set -e` ignores a failure inside `a && b && c` unless it is the last command.
    for line in SCRIPT.read_text().splitlines():
        if re.search(r"(-m pytest|bin/pytest)\b", line) and not line.lstrip().startswith("#"):
            assert line.startswith("pytest_run ") and "&&" not in line, line
