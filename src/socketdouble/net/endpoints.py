"""Endpoints: the address half of a server (inet host/port or a Unix path)."""

from __future__ import annotations

import os
import socket
from typing import Any

from . import addresses


class InetEndpoint:
    """A loopback (unless allowed otherwise) IPv4 or IPv6 host and port."""

    def __init__(self, host: str, port: int, allow_remote: bool) -> None:
        self.family = addresses.inet_family(host, allow_remote)
        self.host = host
        self.port = port

    def bind(self, sock: socket.socket) -> None:
        addresses.bind_inet(sock, self.host, self.port)
        self.port = sock.getsockname()[1]

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def path(self) -> None:
        return None

    def cleanup(self) -> None:
        pass

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class UnixEndpoint:
    """A socket file: the given path, or a fresh one in a private 0700 folder."""

    family = socket.AF_UNIX

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self._given = None if path is None else addresses.check_socket_path(path)
        self._path: str | None = self._given
        self._folder: str | None = None
        self._identity: tuple[int, int] | None = None  # the socket file we created

    def bind(self, sock: socket.socket) -> None:
        if self._given is None:
            self._path, self._folder = addresses.private_socket_path()
        assert self._path is not None
        try:
            self._identity = addresses.bind_unix(sock, self._path)
        except BaseException:
            addresses.remove_socket_file(None, self._folder, None)
            raise

    @property
    def address(self) -> Any:
        return self._path

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def host(self) -> None:
        return None

    @property
    def port(self) -> None:
        return None

    def cleanup(self) -> None:
        addresses.remove_socket_file(self._path, self._folder, self._identity)
        self._identity = None

    def __str__(self) -> str:
        if not self._path:
            return "(unbound unix socket)"
        return "@" + self._path[1:] if addresses.is_abstract(self._path) else self._path


Endpoint = InetEndpoint | UnixEndpoint
