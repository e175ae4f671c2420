"""Proxying a stream connection: connect to the upstream, then pump both ways."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from ..core.cassette import CassetteRecorder, Redactor
from .pump import Pump
from .stream import READ_SIZE, StreamServer, StreamSession
from .upstream import Stopped, Upstream


class StreamProxying(StreamServer):
    """What a stream server does to proxy: each connection gets its own upstream connection."""

    _upstream: Upstream
    recorder: CassetteRecorder
    redactor: Redactor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set once stop() has noted which peers had closed and shut every connection down.
        self._interrupted = threading.Event()

    def session_body(self, session: StreamSession) -> str:
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
            log = self.recorder.open(time.monotonic())
            pump = Pump(
                self,
                session,
                upstream,
                log,
                self.redactor,
                self._interrupted,
                client_tls=self.ssl_context is not None,
            )
            return pump.run()
        finally:
            self.untrack_fd(session, fd)
            upstream.close()
            sock.close()  # a no-op once TLS took the descriptor over

    def _interrupt(self) -> None:
        super()._interrupt()
        self._interrupted.set()

    def _drain_backlog(self) -> None:
        """Connections accepted by the kernel that stop() came before: recorded redacted.

        Nothing of them reaches the cassette: they never reached the upstream.
        """
        if self.socket is None:
            return
        while True:
            try:
                conn, peer = self.socket.accept()
            except OSError:
                return  # nothing more pending (the listening socket is non-blocking)
            record = self.recording.open_connection(peer)
            with contextlib.suppress(OSError):  # nothing sent yet: nothing to record
                data = conn.recv(READ_SIZE, socket.MSG_DONTWAIT)
                if data and self.ssl_context is None:  # TLS bytes here would be ciphertext
                    record.on_received(self.redactor(data))
            record.on_note("connected as the proxy stopped: not forwarded")
            conn.close()
            record.on_closed("server stopped")
