"""Proxying a stream connection: connect to the upstream, then pump both ways."""

from __future__ import annotations

import time

from ..core.cassette import CassetteRecorder, Redactor
from .pump import Pump
from .stream import READ_SIZE, StreamServer, StreamSession
from .upstream import Stopped, Upstream

__all__ = ["UNSERVED_LIMIT", "StreamProxying"]

#: Most bytes read from a connection accepted as stop() came.
UNSERVED_LIMIT = 16 * 1024 * 1024


class StreamProxying(StreamServer):
    """What a stream server does to proxy: each connection gets its own upstream connection."""

    _upstream: Upstream
    recorder: CassetteRecorder
    redactor: Redactor

    def session_body(self, session: StreamSession) -> str:
        return self.forward(session)

    def forward(self, session: StreamSession, first: bytes = b"") -> str:
        """Connect ``session`` to the upstream and pump; ``first``: client bytes already read."""
        sock = self._upstream.stream_socket()
        fd = sock.fileno()
        self.track_fd(session, fd)  # from here on, stop() interrupts the connect too
        upstream = sock
        try:
            try:
                upstream = self._upstream.connect(sock, session.stopping)
            except Stopped:
                return "server stopped"
            except OSError as error:
                if session.stopping.is_set():
                    return "server stopped"
                session.sink.on_error(self._upstream.unreachable(error))
                return "upstream unreachable"
            log = self.recorder.open(time.monotonic(), session.peer, self._upstream.address)
            pump = Pump(
                self,
                session,
                upstream,
                log,
                self.redactor,
                client_tls=self.ssl_context is not None,
            )
            return pump.run(first)
        finally:
            self.untrack_fd(session, fd)
            upstream.close()
            sock.close()  # a no-op once TLS took the descriptor over

    def unserved_body(self, session: StreamSession) -> str:
        """A connection accepted as stop() came: what it sent is recorded (redacted), not forwarded.

        Nothing of it reaches the cassette: it never reached the upstream.
        """
        session.sink.on_note("connected as the proxy stopped: not forwarded")
        spent = 0
        while spent < UNSERVED_LIMIT:
            try:
                data = session.sock.recv(READ_SIZE)
            except (BlockingIOError, ConnectionResetError):
                return "server stopped"
            if not data:
                return "client closed"
            spent += len(data)
            shown = self.redactor(data)
            session.sink.on_received_messages(shown, (shown,))
        return "server stopped"
