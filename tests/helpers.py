"""Clients for tests: every blocking call has a timeout."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

TIMEOUT = 5.0


def connect(server: Any, context: ssl.SSLContext | None = None) -> socket.socket:
    """A client socket connected to ``server`` (any stream kind)."""
    if server.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(server.path)
    else:
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
    if context is not None:
        return context.wrap_socket(sock, server_hostname="localhost")
    return sock


def datagram_client(server: Any, bind: bool = True) -> socket.socket:
    """A datagram socket for ``server``; Unix clients are bound unless ``bind=False``."""
    if server.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if bind:
            sock.bind("")  # autobind (Linux abstract address) so replies can come back
    else:
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


_BURNER = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def cpu_load(workers: int = 2) -> Iterator[None]:
    """CPU-burning processes for the block's duration (each also ends itself after 60 s)."""
    burners = [subprocess.Popen([sys.executable, "-c", _BURNER]) for _ in range(workers)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait(10)
