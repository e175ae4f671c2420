"""Running ``python -m socketdouble`` in tests: bounded waits, always stopped and reaped."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import socketdouble

TIMEOUT = 20.0
SOURCES = str(Path(socketdouble.__file__).resolve().parents[1])


def environment(**extra: str) -> dict[str, str]:
    """This environment, with the socketdouble under test importable and ``extra`` set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCES, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``socketdouble ARGS`` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "socketdouble", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=environment(),
        check=False,
        **kwargs,
    )


class Service:
    """A running ``socketdouble record`` or ``replay``, its ready line read."""

    def __init__(self, process: subprocess.Popen[str], ready: dict[str, Any]) -> None:
        self.process = process
        self.ready = ready
        self.stdout = ""
        self.stderr = ""

    def address(self, name: str) -> Any:
        """The ready line's address of server ``name``: ``(host, port)`` or a path."""
        address = self.ready["servers"][name]["address"]
        return tuple(address) if isinstance(address, list) else address

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Send ``how`` and wait for the exit; returns the exit code, keeps the output."""
        self.process.send_signal(how)
        rest, self.stderr = self.process.communicate(timeout=TIMEOUT)
        self.stdout += rest
        return self.process.returncode


@contextmanager
def started(*args: str, ready_file: Path) -> Iterator[Service]:
    """Start ``socketdouble ARGS --ready-file READY_FILE``; yield once its ready line is read.

    The ready file must hold the same line. The process is killed and reaped on the way
    out if the test did not stop it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "socketdouble", *args, "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=TIMEOUT):
                raise TimeoutError(f"no ready line within {TIMEOUT} s from socketdouble {' '.join(args)}")
        line = process.stdout.readline()
        if not line:
            _, errors = process.communicate(timeout=TIMEOUT)
            raise AssertionError(f"socketdouble {' '.join(args)} exited {process.returncode}: {errors}")
        assert ready_file.read_text() == line
        service = Service(process, json.loads(line))
        service.stdout = line
        yield service
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None and not process.stdout.closed:
            process.communicate(timeout=TIMEOUT)  # reaps it and closes the pipes
