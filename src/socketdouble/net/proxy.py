"""RecordingProxy: forward to a real upstream and record both directions.

Each client connection (datagram kinds: each client peer) gets its own connection to
the upstream. Bytes are forwarded as they come, both ways; the cassette log records
them with their time, and how each side closed (FIN, half-close, or reset), which is
passed on to the other side as it happened.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import ssl
import time
from typing import Any

from ..core.cassette import Cassette as CassetteData
from ..core.cassette import CassetteRecorder, ConnectionLog, Redactor, Side, save
from ..core.conversation import DatagramDialogue
from ..core.recording import ConnectionRecord
from ..errors import ConfigurationError
from .base import BaseServer
from .compat import send_datagram
from .datagram import DatagramServer
from .servers import TCPServer, UDPServer, UnixDatagramServer, UnixStreamServer
from .stream import LINGER_RESET, READ_SIZE, StreamServer, StreamSession

PROXY_KINDS = ("tcp", "udp", "unix", "unix_dgram")
_Link = tuple[socket.socket, ConnectionLog, ConnectionRecord, DatagramDialogue]


class RecordingProxy(BaseServer):
    """A server that forwards to ``upstream`` and records a cassette.

    ``RecordingProxy(upstream=("127.0.0.1", 6379))`` (or a socket path), ``kind`` one of
    ``"tcp"``, ``"udp"``, ``"unix"``, ``"unix_dgram"``; ``redact`` takes byte regexes
    whose matches never reach the cassette (each replaced by as many ``*``).
    ``upstream_ssl_context`` speaks TLS to the upstream; ``ssl_context`` speaks TLS to
    clients. Other keyword arguments are the server's (``host``, ``port``, ``path``...).
    """

    #: The cassette kind this class records ("tcp", "unix", "udp", "unix_dgram").
    proxy_kind: str

    def __new__(cls, upstream: Any = None, kind: str = "tcp", **kwargs: Any) -> Any:
        if cls is RecordingProxy:
            if kind not in PROXY_KINDS:
                raise ConfigurationError(
                    f"RecordingProxy(kind={kind!r}): choose one of {', '.join(PROXY_KINDS)}"
                )
            cls = _PROXIES[kind]
        return super().__new__(cls)

    def __init__(
        self,
        upstream: Any = None,
        kind: str | None = None,
        *,
        redact: Any = (),
        upstream_ssl_context: ssl.SSLContext | None = None,
        upstream_hostname: str | None = None,
        **kwargs: Any,
    ) -> None:
        kind = self.proxy_kind  # __new__ chose the class from ``kind``
        if kwargs.get("handler") is not None or kwargs.get("concurrency", "thread") == "fork":
            raise ConfigurationError(
                "a RecordingProxy forwards to its upstream: it takes no handler and no fork"
            )
        if upstream_ssl_context is not None and kind not in ("tcp", "unix"):
            raise ConfigurationError(f"upstream_ssl_context needs a stream upstream, not kind={kind!r}")
        if kind in ("tcp", "udp"):
            if not (isinstance(upstream, tuple) and len(upstream) == 2 and isinstance(upstream[1], int)):
                raise ConfigurationError(f"upstream={upstream!r}: a {kind} upstream is (host, port)")
        elif not isinstance(upstream, (str, os.PathLike)):
            raise ConfigurationError(f"upstream={upstream!r}: a {kind} upstream is a socket path")
        self.upstream = upstream if kind in ("tcp", "udp") else os.fspath(upstream)
        self.recorder = CassetteRecorder(kind, Redactor(redact or ()), time.monotonic())
        self.upstream_ssl_context = upstream_ssl_context
        self.upstream_hostname = upstream_hostname
        super().__init__(**kwargs)

    def cassette(self) -> CassetteData:
        """What was recorded so far, redacted."""
        return self.recorder.cassette()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cassette to ``path`` (atomically)."""
        save(self.cassette(), path)

    def _family(self) -> socket.AddressFamily:
        if isinstance(self.upstream, tuple):
            return socket.AF_INET6 if ":" in self.upstream[0] else socket.AF_INET
        return socket.AF_UNIX


class _StreamProxy(RecordingProxy, StreamServer):
    def _connect(self) -> socket.socket:
        upstream = socket.socket(self._family(), socket.SOCK_STREAM)
        try:
            upstream.settimeout(10)
            upstream.connect(self.upstream)
            upstream.settimeout(None)
            if self.upstream_ssl_context is not None:
                hostname = self.upstream_hostname or (
                    self.upstream[0] if isinstance(self.upstream, tuple) else "localhost"
                )
                upstream = self.upstream_ssl_context.wrap_socket(upstream, server_hostname=hostname)
        except BaseException:
            upstream.close()
            raise
        return upstream

    def session_body(self, session: StreamSession) -> str:
        try:
            upstream = self._connect()
        except OSError as error:
            session.sink.on_error(ConnectionError(f"cannot reach the upstream {self.upstream!r}: {error}"))
            return "upstream unreachable"
        self.track_fd(session, upstream.fileno())
        try:
            return _Pump(self, session, upstream).run()
        finally:
            self.untrack_fd(session, upstream.fileno())
            upstream.close()


class _Pump:
    """Both directions of one proxied stream connection, in one thread.

    One thread, not one per direction: an SSL socket must not be read and written
    from two threads at once.
    """

    def __init__(self, proxy: Any, session: StreamSession, upstream: socket.socket) -> None:
        self.session = session
        self.upstream = upstream
        self.log: ConnectionLog = proxy.recorder.open(time.monotonic())
        self.conversation = proxy.conversation(session.sink)
        self.reset_by: Side | None = None

    def run(self) -> str:
        client = self.session.sock
        routes: dict[socket.socket, tuple[Side, socket.socket]] = {
            client: ("client", self.upstream),
            self.upstream: ("server", client),
        }
        open_sources = list(routes)
        stopping = self.session.stopping
        with selectors.DefaultSelector() as selector:
            for source in routes:
                selector.register(source, selectors.EVENT_READ)
            while open_sources and not (self.reset_by or stopping.is_set()):
                ready = [s for s in open_sources if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not ready:
                    ready = [key.fileobj for key, _ in selector.select()]  # type: ignore[misc]
                for source in ready:
                    side, target = routes[source]
                    if not self.forward(source, target, side):
                        selector.unregister(source)
                        open_sources.remove(source)
        if stopping.is_set():
            return "server stopped"
        if self.reset_by == "server":
            self.session.reset_on_close()
            return "server reset"
        return "client reset" if self.reset_by == "client" else "client closed"

    def forward(self, source: socket.socket, target: socket.socket, side: Side) -> bool:
        """Move one read from ``source`` to ``target``; False once that direction ended."""
        stopping = self.session.stopping
        try:
            data = source.recv(READ_SIZE)
        except ssl.SSLEOFError:
            data = b""
        except ConnectionResetError:
            if not stopping.is_set():
                self._reset(side, target)
            return False
        except OSError:
            if stopping.is_set():
                return False
            raise
        if not data:
            if not stopping.is_set():
                self.log.close(side, "fin", time.monotonic())
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(target, socket.SHUT_WR)
            return False
        self.log.data(side, data, time.monotonic())
        if side == "client":
            self.conversation.receive(data)
        else:
            self.session.sink.on_sent(data)
        try:
            target.sendall(data)
        except OSError:
            if not stopping.is_set():
                self._reset("server" if side == "client" else "client", source)
            return False
        return True

    def _reset(self, side: Side, other: socket.socket) -> None:
        """``side`` reset the connection: the other side gets a reset too."""
        self.reset_by = side
        self.log.close(side, "reset", time.monotonic())
        with contextlib.suppress(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)


class _DatagramProxy(RecordingProxy, DatagramServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._links: dict[Any, _Link] = {}
        super().__init__(*args, **kwargs)

    def _receive(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        if not self.verified((data, sock), peer):
            return
        link = self._links.get(peer)
        if link is None:
            record = self.recording.open_connection(peer)
            self._peers[peer] = (record, None)
            link = self._links[peer] = self._open_link(sock, peer, record)
        upstream, log, record, dialogue = link
        log.data("client", data, time.monotonic())
        dialogue.datagram(data)
        try:
            upstream.send(data)
        except OSError as error:
            record.on_note(f"could not forward to the upstream: {error}")

    def _open_link(self, sock: socket.socket, peer: Any, record: ConnectionRecord) -> _Link:
        upstream = socket.socket(self._family(), socket.SOCK_DGRAM)
        if upstream.family == socket.AF_UNIX:
            upstream.bind("")  # an address of its own, so the upstream can answer
        upstream.connect(self.upstream)
        log = self.recorder.open(time.monotonic())

        def relay() -> None:
            while True:
                try:
                    data = upstream.recv(65535)
                except OSError:
                    return
                if not data and self._stopping.is_set():
                    return
                log.data("server", data, time.monotonic())
                send_datagram(sock, data, peer, record)

        self._spawn(relay, f"upstream-{record.number}")
        return upstream, log, record, self.datagram_dialogue(record)

    def _interrupt(self) -> None:
        for upstream, *_ in self._links.values():
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)

    def _close(self) -> None:
        for upstream, *_ in self._links.values():
            upstream.close()
        super()._close()


class TCPProxy(_StreamProxy, TCPServer):
    """A recording proxy for a TCP upstream (see :class:`RecordingProxy`)."""

    proxy_kind = "tcp"
    kind = "TCP proxy"


class UnixProxy(_StreamProxy, UnixStreamServer):
    """A recording proxy for a Unix stream upstream."""

    proxy_kind = "unix"
    kind = "Unix stream proxy"


class UDPProxy(_DatagramProxy, UDPServer):
    """A recording proxy for a UDP upstream."""

    proxy_kind = "udp"
    kind = "UDP proxy"


class UnixDatagramProxy(_DatagramProxy, UnixDatagramServer):
    """A recording proxy for a Unix datagram upstream."""

    proxy_kind = "unix_dgram"
    kind = "Unix datagram proxy"


_PROXIES: dict[str, type[RecordingProxy]] = {
    "tcp": TCPProxy,
    "unix": UnixProxy,
    "udp": UDPProxy,
    "unix_dgram": UnixDatagramProxy,
}
