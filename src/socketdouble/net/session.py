"""One stream connection's worker: TLS handshake, then a handler or a conversation.

Nothing a client sent before stop() is lost. stop() notes which connections the peer
had already closed (:func:`peer_has_closed`), then shuts each one down; the kernel
still hands out the bytes it had queued, then end of file. So a session goes on
reading after stop(), frames and records what it reads (a reply that can no longer
go out is a note), and at end of file records the client's close when the peer had
closed, "server stopped" otherwise. A client that goes on sending after stop() cannot
keep the session reading: the drain is bounded in bytes and by the server's deadline.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.actions import Action, Close, Reset, Send, ShutdownWrite, Sleep
from ..core.conversation import Dialogue
from ..core.events import EventSink
from ..core.rules import RuleBook
from .push import READY_TIMEOUT, PushQueue
from .socketserver_adapter import RecordingSocket

__all__ = ["DRAIN_BYTES", "LINGER_RESET", "READ_SIZE", "StreamSession", "peer_has_closed", "shutdown_fd"]

if TYPE_CHECKING:
    from .stream import StreamServer

READ_SIZE = 65536
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
#: Most bytes one connection reads after stop(): what a client had queued fits
#: (kernel buffers are a few MB); one that keeps sending is cut off.
DRAIN_BYTES = 16 * 1024 * 1024
_SSL_EOF = (ssl.SSLEOFError, ssl.SSLZeroReturnError)
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)


def shutdown_fd(fd: int) -> None:
    """Shut a socket down by descriptor, waking any thread blocked on it."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down or reset by the peer: either way nothing blocks on it
    finally:
        sock.detach()


def peer_has_closed(fd: int) -> bool:
    """True when the peer of ``fd`` has shut its sending side (FIN, reset, or a Unix close).

    Asked by stop() before it shuts a connection down itself: after that, end of file
    can no longer tell the peer's close from the server's own.
    """
    if _TCP_INFO is not None:
        # A TCP segment that came while a worker was inside a send or receive waits in
        # the socket's backlog until that call ends; asking for TCP_INFO takes the socket
        # lock, so the backlog is processed first and poll() sees a close that came.
        sock = socket.socket(fileno=fd)
        try:
            sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 8)
        except OSError:
            pass  # not TCP (a Unix socket delivers at once), or no longer connected: nothing waits
        finally:
            sock.detach()
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    return any(event & (select.POLLRDHUP | select.POLLHUP) for _, event in poller.poll(0))


class StreamSession:
    """One connection: TLS handshake if asked, then a handler or a conversation."""

    def __init__(
        self,
        server: StreamServer,
        sock: socket.socket,
        peer: Any,
        sink: EventSink,
        rules: RuleBook,
        stopping: threading.Event,
        release: Callable[[StreamSession], None],
    ) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.sink = sink
        self.rules = rules
        self.stopping = stopping
        self.release = release
        self.thread: threading.Thread | None = None
        #: More descriptors stop() must shut down to unblock this session (a proxy's upstream).
        self.extra_fds: list[int] = []
        #: Descriptors whose peer had already closed its side when stop() shut them down:
        #: end of file on them after stop() is still the peer's close, to be recorded.
        self.closed_by_peer: set[int] = set()
        #: Descriptors stop() has shut down (under the server's sessions lock).
        self.shut_down: set[int] = set()
        self._drain_left = DRAIN_BYTES
        #: Held for each whole write, replies and server.send() pushes alike: they never mix;
        #: and from recording a message to sending its replies, so a push made once the test
        #: saw the message goes out after them.
        self.send_lock = threading.RLock()
        #: Set once pushes may go out (the conversation has opened), or the session ended.
        self.ready = threading.Event()
        self.finished = False
        #: TLS: pushes written by this session's own thread (see :mod:`socketdouble.net.push`).
        self.pushes: PushQueue | None = None

    # -- running ---------------------------------------------------------------

    def run(self) -> None:
        reason = "server closed"
        try:
            reason = self._handshake() or self.server.session_body(self)
        except Exception as error:
            if self.stopping.is_set() and isinstance(error, OSError):
                reason = "server stopped"
            else:
                self.sink.on_error(error)
                reason = "server error"
        finally:
            self._finish(reason)

    def run_unserved(self) -> None:
        """Serve a connection accepted as stop() came, without blocking and without a handler.

        What the client had sent is framed and recorded (and answered by rules, as far
        as the socket takes it); end of file is the client's close. TLS connections are
        only noted: their bytes are ciphertext, which is never recorded.
        """
        reason = "server stopped"
        try:
            self.sock.setblocking(False)
            if self.server.ssl_context is not None:
                self.sink.on_note("TLS connection accepted as the server stopped: not served")
                reason = "client closed" if peer_has_closed(self.fd) else "server stopped"
            else:
                self.sink.on_note("connected as the server stopped: served what it had sent")
                reason = self.server.unserved_body(self)
        except Exception as error:
            self.sink.on_error(error)
            reason = "server error"
        finally:
            self._finish(reason)

    def _handshake(self) -> str | None:
        context = self.server.ssl_context
        if context is None:
            return None
        self.sock = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        try:
            self.sock.do_handshake()
        except (*_SSL_EOF, ConnectionError) as error:
            # A port probe, or a client that gave up: a close, not a failure.
            if self.stopping.is_set() and not self.eof_from_peer(self.fd):
                return "server stopped"
            self.sink.on_note(f"peer left during the TLS handshake: {error}")
            return "client closed during the TLS handshake"
        except ssl.SSLError as error:
            if _is_eof(error):
                return self._handshake_eof(error)
            # A TLS-level refusal (bad certificate, no common cipher) is the peer's doing
            # even if stop() came meanwhile; stop() itself only ever causes EOF or OSError.
            self.sink.on_error(error)
            return "TLS handshake failed"
        except OSError as error:
            if self.stopping.is_set():
                return "server stopped"
            if error.errno in (0, None):  # OpenSSL's "EOF in violation of protocol", undecorated
                return self._handshake_eof(error)
            raise
        return None

    def _handshake_eof(self, error: OSError) -> str:
        if self.stopping.is_set() and not self.eof_from_peer(self.fd):
            return "server stopped"
        self.sink.on_note(f"peer left during the TLS handshake: {error}")
        return "client closed during the TLS handshake"

    def converse(self, conversation: Dialogue | None = None, first: bytes = b"") -> str:
        """Play the conversation (rules, script, recorder) on this connection.

        ``conversation`` defaults to the server's; ``first`` holds client bytes already
        read (by whoever chose the conversation), fed to it right after it opens.
        """
        if conversation is None:
            conversation = self.server.conversation(self.sink, self.rules)
        reason = self._perform(conversation.open())
        self._open_for_pushes()
        if not reason and first:
            reason = self._perform(conversation.receive(first))
        if reason:
            return reason
        recv = self.sock.recv if self.pushes is None else self.pushes.recv
        stopping = self.stopping
        while True:
            try:
                data = recv(READ_SIZE)
            except _SSL_EOF:  # TLS peer left without close_notify: a normal close
                data = b""
            except BlockingIOError:  # run_unserved: all read, and the client is still connected
                return "server stopped"
            except ConnectionResetError:
                return "client reset" if self.eof_from_peer(self.fd) else "server stopped"
            if not data:
                if not self.eof_from_peer(self.fd):
                    return "server stopped"
                return self._perform(conversation.end()) or "client closed"
            with self.send_lock:
                actions = conversation.receive(data)
                reason = self._perform(actions) if actions else None
            if reason:
                return reason
            if stopping.is_set() and self.drain_spent(len(data)):
                return "server stopped"

    def _perform(self, actions: list[Action]) -> str | None:
        for action in actions:
            if isinstance(action, Send):
                self.send(action.data)
            elif isinstance(action, Sleep):
                # Cut short by stop(); what follows still runs, so the client's bytes are read.
                self.stopping.wait(action.seconds)
            elif isinstance(action, Close):
                return "server closed"
            elif isinstance(action, Reset):
                self.reset_on_close()
                return "server reset"
            elif isinstance(action, ShutdownWrite):
                with contextlib.suppress(OSError):  # the peer is gone already: nothing to shut
                    socket.socket.shutdown(self.sock, socket.SHUT_WR)
        return None

    def send(self, data: bytes) -> None:
        """Send ``data`` whole: a push from another thread waits (see :meth:`_send`)."""
        with self.send_lock:
            self._send(data)

    def push(self, data: bytes) -> bool:
        """Send ``data`` unasked (``server.send``); False when the session ended first."""
        if not self.ready.wait(READY_TIMEOUT):
            raise TimeoutError(
                f"connection from {self.peer!r} was not ready for a push within {READY_TIMEOUT}s "
                "(its TLS handshake or greeting had not finished)"
            )
        if self.pushes is not None:
            return self.pushes.submit(data)
        with self.send_lock:
            if self.finished:
                return False
            self._send(data)
            return True

    def _open_for_pushes(self) -> None:
        if isinstance(self.sock, ssl.SSLSocket):
            self.pushes = PushQueue(self.sock, self.send)
        self.ready.set()

    def _send(self, data: bytes) -> None:
        """Send ``data`` and record what actually went out; a failure is a note.

        The session goes on after a failed send: the peer may be gone, but what it sent
        before leaving is still to be read and recorded. Once stop() began nothing more
        is sent (what a stopping server would send races its own shutdown): noted.
        """
        if self.stopping.is_set():
            self.sink.on_note(f"not sent ({len(data)} byte(s)): the server was stopping")
            return
        sock = self.sock
        sent = 0
        try:
            sent = sock.send(data)
            if sent < len(data):
                view = memoryview(data)
                while sent < len(data):
                    sent += sock.send(view[sent:])
        except OSError as error:
            if sent:
                self.sink.on_sent(data[:sent])
            why = "the server stopped" if self.stopping.is_set() else str(error)
            self.sink.on_note(f"could not send {len(data) - sent} of {len(data)} byte(s): {why}")
            return
        self.sink.on_sent(data)

    def reset_on_close(self) -> None:
        """Make the coming close send RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)

    def handle(self) -> str:
        """Run the socketserver handler class on this connection."""
        server = self.server
        assert server.handler is not None
        conversation = server.conversation(self.sink, self.rules)
        request = RecordingSocket(self.sock, conversation, self.stopping)
        client_gone: str | None = None
        try:
            server.handler(request, self.peer, server)  # type: ignore[arg-type]
        except ConnectionError as error:
            # The client reset or left while the handler talked to it: the client's doing.
            if not self.stopping.is_set():
                self.sink.on_note(f"the handler ended on the client's close: {error!r}")
                client_gone = "client reset" if isinstance(error, ConnectionResetError) else "client closed"
        except Exception as error:
            if not (self.stopping.is_set() and isinstance(error, (OSError, ValueError))):
                self.sink.on_error(error)
        if (self.stopping.is_set() or client_gone) and not request.eof and not request.closed:
            self._read_rest(request)
        if request.eof and client_gone is None:
            if not self.eof_from_peer(self.fd):
                return "server stopped"
            conversation.end()
            return "client closed"
        if client_gone:
            return client_gone
        return "server stopped" if self.stopping.is_set() else "handler returned"

    def _read_rest(self, request: RecordingSocket) -> None:
        """Record what the handler left unread, up to end of file (bounded).

        After stop() the connection is shut down, so reads never block; when the client
        left before stop(), only what the kernel holds is read (never waiting).
        """
        flags = 0
        if not self.stopping.is_set():
            if isinstance(self.sock, ssl.SSLSocket):
                return  # no flags on TLS reads, and a blocking read could wait for a live client
            flags = socket.MSG_DONTWAIT
        while not request.eof:
            try:
                data = request.recv(READ_SIZE, flags)
            except _SSL_EOF:
                request.eof = True
                return
            except OSError:
                return  # a reset, or nothing queued: the kernel has nothing more to give
            if self.stopping.is_set() and self.drain_spent(len(data)):
                return

    # -- stop() --------------------------------------------------------------------

    def drain_spent(self, size: int) -> bool:
        """After stop(): count ``size`` bytes read; True (and noted) once the drain is over.

        A drain ends after :data:`DRAIN_BYTES` or at the server's drain deadline.
        """
        self._drain_left -= size
        if self._drain_left >= 0 and time.monotonic() < self.server.drain_deadline:
            return False
        self.sink.on_note("stopped reading after stop(): the client kept sending")
        return True

    def eof_from_peer(self, fd: int) -> bool:
        """True when end of file (or a reset) on ``fd`` is the peer's doing, not stop()'s."""
        if not self.stopping.is_set():
            return True
        with self.server.sessions_lock:
            return fd in self.closed_by_peer or fd not in self.shut_down

    def _finish(self, reason: str) -> None:
        self.release(self)
        if reason != "server reset":
            # FIN now, even if another descriptor (a fork parent's) still holds it.
            with contextlib.suppress(OSError):  # already shut down, or reset by the peer
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        with self.send_lock:  # a push never writes to a closed (and maybe reused) descriptor
            self.finished = True
            self.sock.close()
        if self.pushes is not None:
            self.pushes.close()
        self.ready.set()
        self.sink.on_closed(reason)


def _is_eof(error: ssl.SSLError) -> bool:
    """An SSLError that only says the peer went away (no TLS alert, no refusal)."""
    return getattr(error, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"
