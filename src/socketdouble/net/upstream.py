"""A proxy's upstream: where it is, how to name it, and a connect that stop() can interrupt.

A stream connect is non-blocking and waited on with a selector, so it is bounded by
``connect_timeout`` and ends at once when stop() shuts the socket down (the proxy
tracks the descriptor before connecting). The TLS handshake with the upstream runs the
same way, against the same deadline.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["Stopped", "Upstream", "UpstreamAddress"]

#: How long a Unix connect waits before retrying when the upstream's backlog is full
#: (a Unix connect cannot be waited on with a selector: it fails with EAGAIN).
_UNIX_RETRY = (0.001, 0.05)


UpstreamAddress = tuple[str, int] | str | os.PathLike[str]
"""Where a proxy's upstream listens: ``(host, port)`` (tcp, udp) or a socket path (unix kinds)."""


class Stopped(Exception):
    """stop() came while connecting: not an error of the upstream."""


@dataclass
class Upstream:
    """The real service a proxy forwards to: ``(host, port)`` or a socket path."""

    address: Any
    family: socket.AddressFamily
    ssl_context: ssl.SSLContext | None = None
    hostname: str | None = None
    connect_timeout: float = 5.0

    @classmethod
    def for_kind(cls, kind: str, upstream: object, connect_timeout: float) -> Upstream:
        """Check ``upstream`` for a proxy of ``kind``; raise ConfigurationError naming the fix."""
        if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, (int, float)):
            raise ConfigurationError(f"connect_timeout={connect_timeout!r}: give a number of seconds > 0")
        if connect_timeout <= 0:
            raise ConfigurationError(f"connect_timeout={connect_timeout!r}: give a number of seconds > 0")
        if kind in ("tcp", "udp"):
            if not (
                isinstance(upstream, tuple)
                and len(upstream) == 2
                and isinstance(upstream[0], str)
                and isinstance(upstream[1], int)
            ):
                raise ConfigurationError(f"upstream={upstream!r}: a {kind} upstream is (host, port)")
            family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
            return cls(upstream, family, connect_timeout=float(connect_timeout))
        if not isinstance(upstream, (str, os.PathLike)):
            raise ConfigurationError(f"upstream={upstream!r}: a {kind} upstream is a socket path")
        return cls(os.fspath(upstream), socket.AF_UNIX, connect_timeout=float(connect_timeout))

    def __str__(self) -> str:
        """``127.0.0.1:6379``, ``[::1]:6379`` or the socket path."""
        if isinstance(self.address, tuple):
            host, port = self.address
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return str(self.address)

    def unreachable(self, error: BaseException) -> ConnectionError:
        """The error a proxy records when the upstream cannot be reached."""
        if isinstance(error, ssl.SSLError):
            reason = f"the TLS handshake failed: {error}"
        elif isinstance(error, socket.gaierror) and isinstance(self.address, tuple):
            # Its errno is getaddrinfo's (EAI_NONAME is -2), which os.strerror calls "unknown error -2".
            host, port = self.address
            reason = (
                f"the host name {host!r} could not be looked up ({error.strerror or error}); check "
                f"its spelling and this machine's DNS, or give the upstream's IP address, e.g. "
                f"upstream=('127.0.0.1', {port})"
            )
        elif isinstance(error, TimeoutError):
            reason = f"no answer within connect_timeout={self.connect_timeout}s"
        elif isinstance(error, OSError) and error.errno is not None:
            reason = os.strerror(error.errno).lower()
        else:
            reason = str(error)
        return ConnectionError(f"cannot reach the upstream {self}: {reason}")

    # -- streams ---------------------------------------------------------------

    def stream_socket(self) -> socket.socket:
        """A fresh, unconnected stream socket of the upstream's family."""
        return socket.socket(self.family, socket.SOCK_STREAM)

    def connect(self, sock: socket.socket, stopping: threading.Event) -> socket.socket:
        """Connect ``sock`` (and do the TLS handshake if asked); return the socket to use.

        Raises :class:`Stopped` when stop() came meanwhile, ``TimeoutError`` after
        ``connect_timeout``, or the ``OSError`` / ``ssl.SSLError`` of the connect.
        The returned socket is non-blocking.
        """
        deadline = time.monotonic() + self.connect_timeout
        sock.setblocking(False)
        if self.family == socket.AF_UNIX:
            self._connect_unix(sock, stopping, deadline)
        else:
            code = sock.connect_ex(self.address)
            if code == errno.EINPROGRESS:
                _wait(sock, selectors.EVENT_WRITE, stopping, deadline)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            _raise_unless_zero(code, stopping)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            return sock
        hostname = self.hostname or (self.address[0] if isinstance(self.address, tuple) else "localhost")
        secure = self.ssl_context.wrap_socket(sock, server_hostname=hostname, do_handshake_on_connect=False)
        try:
            while True:
                try:
                    secure.do_handshake()
                    return secure
                except ssl.SSLWantReadError:
                    _wait(secure, selectors.EVENT_READ, stopping, deadline)
                except ssl.SSLWantWriteError:
                    _wait(secure, selectors.EVENT_WRITE, stopping, deadline)
                except OSError:
                    if stopping.is_set():
                        raise Stopped from None
                    raise
        except BaseException:
            secure.close()
            raise

    def _connect_unix(self, sock: socket.socket, stopping: threading.Event, deadline: float) -> None:
        delay = _UNIX_RETRY[0]
        while True:
            code = sock.connect_ex(self.address)
            if code != errno.EAGAIN:
                _raise_unless_zero(code, stopping)
                return
            # The upstream's backlog is full; the wait ends at once on stop().
            if stopping.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                raise Stopped
            if time.monotonic() >= deadline:
                raise TimeoutError(errno.ETIMEDOUT, "connect timed out")
            delay = min(delay * 2, _UNIX_RETRY[1])


def _wait(sock: socket.socket, events: int, stopping: threading.Event, deadline: float) -> None:
    """Wait until ``sock`` is ready; stop() wakes it by shutting the socket down."""
    if stopping.is_set():
        raise Stopped
    with selectors.DefaultSelector() as selector:
        selector.register(sock, events)
        ready = selector.select(max(0.0, deadline - time.monotonic()))
    if stopping.is_set():
        raise Stopped
    if not ready:
        raise TimeoutError(errno.ETIMEDOUT, "connect timed out")


def _raise_unless_zero(code: int, stopping: threading.Event) -> None:
    if code == 0:
        return
    if stopping.is_set():
        raise Stopped
    raise OSError(code, os.strerror(code))
