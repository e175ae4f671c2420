"""Where a server listens: an inet host and port or a Unix path, checked, bound, cleaned up.

:class:`InetEndpoint` and :class:`UnixEndpoint` are the address half of a server; the
functions below them check host names and socket paths, bind with errors that say
what to do, and make and remove private socket folders.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "UNIX_PATH_LIMIT",
    "Endpoint",
    "InetEndpoint",
    "UnixEndpoint",
    "folders_under",
    "listen_backlog",
    "private_folder",
    "private_socket_path",
]

UNIX_PATH_LIMIT = 108  # sun_path, NUL included


class InetEndpoint:
    """A loopback (unless allowed otherwise) IPv4 or IPv6 host and port."""

    def __init__(self, host: str, port: int, allow_remote: bool) -> None:
        self.family = _inet_family(host, allow_remote)
        self.host = host
        self.port = port

    def bind(self, sock: socket.socket) -> None:
        _bind_inet(sock, self.host, self.port)
        self.port = sock.getsockname()[1]

    def rebind(self, sock: socket.socket) -> None:
        """Bind again to the port bound before (a server back up after an outage)."""
        self.bind(sock)

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
        self._given = None if path is None else _check_socket_path(path)
        self._path: str | None = self._given
        self._folder: str | None = None
        self._identity: tuple[int, int] | None = None  # the socket file we created

    def bind(self, sock: socket.socket) -> None:
        if self._given is None:
            self._path, self._folder = private_socket_path()
        assert self._path is not None
        try:
            self._identity = _bind_unix(sock, self._path)
        except BaseException:
            _remove_socket_file(None, self._folder, None)
            raise

    def rebind(self, sock: socket.socket) -> None:
        """Bind again to the path bound before, replacing our own (closed) socket file there."""
        assert self._path is not None
        _remove_socket_file(self._path, None, self._identity)
        self._identity = _bind_unix(sock, self._path)

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
        _remove_socket_file(self._path, self._folder, self._identity)
        self._identity = None

    def __str__(self) -> str:
        if not self._path:
            return "(unbound unix socket)"
        return "@" + self._path[1:] if _is_abstract(self._path) else self._path


Endpoint = InetEndpoint | UnixEndpoint


def _inet_family(host: str, allow_remote: bool) -> socket.AddressFamily:
    """The family of ``host``, which must be an IP literal, and loopback unless allowed."""
    if not isinstance(host, str) or not host:
        raise ConfigurationError(
            f"host={host!r}: give an IP address; '127.0.0.1' (the default) or '::1' for IPv6"
        )
    try:
        address = _ip_address(host)
    except ValueError:
        raise ConfigurationError(
            f"host={host!r} is not an IP address; use '127.0.0.1' or '::1' "
            "(names like 'localhost' may resolve to the other family)"
        ) from None
    if not address.is_loopback and not allow_remote:
        raise ConfigurationError(
            f"host={host!r} is not a loopback address, so the double would be reachable "
            "from the network; pass allow_remote=True if that is what you want"
        )
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


#: ``ipaddress.ip_address``, remembered: every server made parses its host, nearly always 127.0.0.1.
_ip_address = functools.lru_cache(maxsize=64)(ipaddress.ip_address)


def _bind_inet(sock: socket.socket, host: str, port: int) -> None:
    """Bind, turning 'address in use' into an error that says what to do."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"port={port!r}: a port is an int in 0..65535; 0 picks a free one")
    try:
        sock.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(f"port {port} on {host} is in use; pass port=0 for a free one") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise ConfigurationError(f"host={host!r} is not an address of this machine") from None
        raise


_folder_base: str | None = None  # see folders_under()


@contextlib.contextmanager
def folders_under(base: str | os.PathLike[str]) -> Iterator[None]:
    """While inside, make private socket folders and CA folders under ``base``.

    The pytest plugin passes pytest's base temporary folder, which pytest prunes: a
    run ended by ``os._exit`` (pytest-timeout's thread method) leaves its folders
    there instead of in the system's temporary folder. A socket path that would not
    fit the 108-byte limit under ``base`` falls back to the system's temporary folder.
    Outside, folders go where :func:`tempfile.mkdtemp` puts them.
    """
    global _folder_base
    previous, _folder_base = _folder_base, os.fspath(base)
    try:
        yield
    finally:
        _folder_base = previous


def private_folder(prefix: str, fits: Callable[[str], bool] = lambda folder: True) -> str:
    """A new 0700 folder: under :func:`folders_under`'s base if one is set and ``fits`` it."""
    for base in (_folder_base, tempfile.gettempdir(), "/tmp"):
        if base is None:
            continue
        folder = tempfile.mkdtemp(prefix=prefix, dir=base)
        if fits(folder):
            return folder
        os.rmdir(folder)
    raise ConfigurationError(  # pragma: no cover - only with an absurd TMPDIR and no /tmp
        "no temporary folder gives a Unix socket path under 108 bytes; pass path="
    )


def private_socket_path() -> tuple[str, str]:
    """A fresh socket path inside a new 0700 folder: (path, folder to remove)."""
    folder = private_folder("sd-", lambda folder: len(os.fsencode(_socket_in(folder))) < UNIX_PATH_LIMIT)
    return _socket_in(folder), folder


def _socket_in(folder: str) -> str:
    return os.path.join(folder, "s")


def _is_abstract(path: str) -> bool:
    """A Linux abstract socket name ("\\0name"): no file, nothing to remove."""
    return path.startswith("\0")


def _check_socket_path(path: str | os.PathLike[str]) -> str:
    """Validate ``path=`` for a Unix server: a file path, or "\\0name" (Linux abstract)."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise ConfigurationError(f"path={path!r}: give a file path as str or os.PathLike")
    if _is_abstract(text) and not sys.platform.startswith("linux"):
        raise ConfigurationError(
            f"path={text!r} is a Linux abstract socket name, which {sys.platform} lacks; pass a file path"
        )
    if "\0" in text[1:]:
        raise ConfigurationError(f"path={text!r} holds a NUL byte; only an abstract name may, as its first")
    size = len(os.fsencode(text))
    if size >= UNIX_PATH_LIMIT:
        raise ConfigurationError(
            f"path={text!r} is {size} bytes; a Unix socket path must be under "
            f"{UNIX_PATH_LIMIT} bytes: pass a shorter path, or no path for a private temporary one"
        )
    return text


def _bind_unix(sock: socket.socket, path: str) -> tuple[int, int] | None:
    """Bind; return the socket file's (st_dev, st_ino), or None for an abstract name."""
    try:
        sock.bind(path)
    except OSError as error:
        if error.errno == errno.EADDRINUSE and _is_abstract(path):
            raise ConfigurationError(
                f"abstract socket name {path!r} is in use; pick another, or pass no path for a private one"
            ) from None
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"path {path!r} already exists; remove it, or pass no path for a private one"
            ) from None
        if error.errno in (errno.ENOENT, errno.EACCES, errno.ENOTDIR):
            raise ConfigurationError(f"cannot create a socket at {path!r}: {error.strerror}") from None
        raise
    if _is_abstract(path):
        return None
    info = os.stat(path)
    return (info.st_dev, info.st_ino)


def _remove_socket_file(path: str | None, folder: str | None, identity: tuple[int, int] | None) -> None:
    """Remove the socket file a server created, and its private folder.

    ``identity`` is the file's (st_dev, st_ino) just after bind: whatever is at
    ``path`` now (a file the user put there after the server started) stays unless it
    is still that very socket.
    """
    if path is not None and identity is not None:
        with contextlib.suppress(FileNotFoundError):  # already removed: nothing of ours is there
            info = os.lstat(path)
            if stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == identity:
                os.unlink(path)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # our private folder: it holds nothing else of value


@functools.cache
def listen_backlog() -> int:
    """The system's maximum listen backlog (socketserver uses 5).

    Read once per process: reading /proc cost every server start a tenth of a
    millisecond, and the value only changes by an administrator's ``sysctl``.
    """
    return _system_backlog()


def _system_backlog() -> int:
    try:
        with open("/proc/sys/net/core/somaxconn") as file:
            return max(int(file.read()), socket.SOMAXCONN)
    except (OSError, ValueError):
        return max(socket.SOMAXCONN, 4096)
