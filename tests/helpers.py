"""Clients for tests: every blocking call has a timeout."""

from __future__ import annotations

import socket
import ssl
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
