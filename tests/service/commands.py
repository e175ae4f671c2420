"""Running ``python -m socketdouble`` in tests: bounded waits, always stopped and reaped."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import socketdouble
from socketdouble.core.cassette import (
    Cassette,
    CassetteEvent,
    CloseEvent,
    DataEvent,
    RecordedConnection,
    save,
)

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def talk(address: Any, data: bytes, kind: str = "tcp") -> bytes:
    """Send ``data`` on a new connection (or as one datagram) and return the first answer."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if kind in ("udp", "unix_dgram"):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            if family == socket.AF_UNIX:
                sock.bind("")  # an address the answer can come back to
            sock.sendto(data, address)
            return sock.recv(65536)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        sock.sendall(data)
        return sock.recv(65536)


def ping_cassette(path: Path, kind: str = "tcp", connections: int = 1) -> Path:
    events: list[CassetteEvent] = [DataEvent(0.0, "client", b"PING\n"), DataEvent(0.001, "server", b"PONG\n")]
    if kind in ("tcp", "unix"):
        events += [CloseEvent(0.002, "client", "fin"), CloseEvent(0.003, "server", "fin")]
    save(Cassette(kind, [RecordedConnection(0.1 * n, list(events)) for n in range(connections)]), path)
    return path
