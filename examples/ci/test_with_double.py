"""examples/ci/with-double.sh: a non-Python program against a double, failing CI on the unexpected."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import socketdouble
from examples.needs import unavailable
from socketdouble.core.cassette import load

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "with-double.sh"
TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def programs() -> None:
    for program in ("bash", "redis-cli"):
        if shutil.which(program) is None:
            unavailable(f"{program} is not installed")


def with_double(
    *command: str, doubles: Path = HERE / "cache.toml", **env: str
) -> subprocess.CompletedProcess[str]:
    sources = str(Path(socketdouble.__file__).resolve().parent.parent)
    environment = dict(
        os.environ,
        SOCKETDOUBLE=f"{sys.executable} -m socketdouble",
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(filter(None, [sources, os.environ.get("PYTHONPATH")])),
        **env,
    )
    return subprocess.run(
        ["bash", str(SCRIPT), str(doubles), *command],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=environment,
        check=False,
    )


def test_the_app_passes_against_the_double(tmp_path: Path) -> None:
    result = with_double(str(HERE / "app.sh"), SD_RECORD_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "app: the cache said hello" in result.stdout
    assert "cache: ok, 8 request(s) on 2 connection(s)" in result.stdout
    assert result.stdout.rstrip().endswith("socketdouble serve: all checks passed")
    # The recording is a cassette: two connections, PING then GET.
    cassette = load(tmp_path / "cache.json")
    assert [c.client_turns() for c in cassette.connections] == [
        [b"*1\r\n$4\r\nPING\r\n"],
        [b"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n"],
    ]


def test_an_unexpected_request_fails_ci(tmp_path: Path) -> None:
    # The app writes to the cache, which the double was never told about.
    result = with_double("sh", "-c", 'redis-cli -h "$SD_CACHE_HOST" -p "$SD_CACHE_PORT" SET greeting hi')
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cache: FAILED, 2 problem(s)" in result.stdout
    assert "1. unmatched message on connection 1" in result.stdout and "b'SET\\r\\n'" in result.stdout
    assert "b'hi\\r\\n'" in result.stdout


def test_a_failing_app_fails_ci() -> None:
    result = with_double("sh", "-c", "exit 3")
    assert result.returncode == 3
    assert "socketdouble serve: all checks passed" in result.stdout


def test_a_bad_doubles_file_fails_ci_at_once(tmp_path: Path) -> None:
    doubles = tmp_path / "bad.toml"
    doubles.write_text('[[servers]]\nname = "cache"\nport = "6379"\n')
    result = with_double("true", doubles=doubles)
    assert result.returncode == 2
    assert (
        result.stderr == f"socketdouble serve: {doubles}: servers[0].port: expected an integer, not '6379'\n"
    )
