"""A throwaway redis-server for the examples and tests that need a real upstream."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from examples.needs import unavailable

__all__ = ["redis_server"]

#: How long redis-server may take to say it is ready.
START_TIMEOUT = 30.0


@contextmanager
def redis_server(
    *options: str, cwd: str | os.PathLike[str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``redis-server OPTIONS --save '' --appendonly no`` until it is ready; stop it afterwards.

    Skips (fails under CI) when redis-server is not installed.
    """
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    process = subprocess.Popen(
        ["redis-server", *options, "--save", "", "--appendonly", "no"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        output = b""
        with selectors.DefaultSelector() as selector:  # wait for its "ready" line, bounded
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"ready to accept connections" not in output.lower():
                if not selector.select(timeout=START_TIMEOUT):
                    raise TimeoutError(f"redis-server did not start within {START_TIMEOUT} s: {output!r}")
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"redis-server exited at start: {output!r}")
                output += chunk
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
