"""Running ``socketdouble serve`` as a subprocess for tests, always stopped and waited for."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.needs import unavailable

import socketdouble

#: The folder holding the socketdouble package under test, for the child's import path.
SOURCES = str(Path(socketdouble.__file__).resolve().parent.parent)
READY_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0


def environment() -> dict[str, str]:
    """The child's environment: this process's, importing the same socketdouble."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCES, env.get("PYTHONPATH")]))
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "socketdouble", "serve", *args]


def run_to_end(*args: str, timeout: float = EXIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``socketdouble serve ARGS`` expecting it to end by itself (a bad file, a bad option)."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=timeout, env=environment(), check=False
    )


def program(name: str) -> str:
    """The path of ``name`` (redis-cli, curl); skipped when missing, failed on CI."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed")
    return found


@dataclass
class Service:
    """A running ``socketdouble serve``: its ready line, and how it ended once stopped."""

    process: subprocess.Popen[str]
    ready_file: Path
    ready: dict[str, Any] = field(default_factory=dict)
    code: int | None = None
    stdout: str = ""
    stderr: str = ""

    def address(self, name: str) -> Any:
        address = self.ready["servers"][name]["address"]
        return tuple(address) if isinstance(address, list) else address

    def port(self, name: str) -> int:
        return int(self.ready["servers"][name]["address"][1])

    @property
    def admin(self) -> str:
        return str(self.ready["admin"])

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Send ``how``, wait for the exit; the exit code (output in stdout/stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.wait()

    def wait(self) -> int:
        self.stdout, self.stderr = self.process.communicate(timeout=EXIT_TIMEOUT)
        self.code = self.process.returncode
        return self.code


def _wait_ready(service: Service) -> None:
    # Another process: nothing to wait on but the file itself, so it is polled (bounded).
    deadline = time.monotonic() + READY_TIMEOUT
    while not service.ready_file.exists():
        if service.process.poll() is not None:
            service.wait()
            raise AssertionError(f"serve ended before it was ready ({service.code}):\n{service.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"serve was not ready within {READY_TIMEOUT}s")
        time.sleep(0.01)
    service.ready = json.loads(service.ready_file.read_text())


@contextmanager
def serving(folder: Path, text: str, *args: str, suffix: str = ".toml") -> Iterator[Service]:
    """Write ``text`` as the doubles file in ``folder``, serve it until the block ends."""
    doubles = folder / f"doubles{suffix}"
    doubles.write_text(text)
    ready_file = folder / "ready.json"
    process = subprocess.Popen(
        command(str(doubles), "--ready-file", str(ready_file), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    service = Service(process, ready_file)
    try:
        _wait_ready(service)
        yield service
    finally:
        if service.code is None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                service.wait()
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=EXIT_TIMEOUT)
                raise
