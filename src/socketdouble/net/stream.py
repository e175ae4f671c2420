"""Stream servers (TCP, Unix stream, TLS over either): accept, then one session each."""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from typing import Any

from ..core.actions import Action, Close, Reset, Send, ShutdownWrite, Sleep
from ..core.recording import EventSink
from ..core.rules import RuleBook
from . import fork
from .addresses import listen_backlog
from .base import BaseServer
from .compat import RecordingSocket

READ_SIZE = 65536
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def shutdown_fd(fd: int) -> None:
    """Shut a socket down by descriptor, waking any thread blocked on it."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


def peer_has_closed(fd: int) -> bool:
    """True when the peer of ``fd`` has shut its sending side (FIN, or a Unix close).

    Asked by stop() before it shuts a connection down itself: after that, end of file
    can no longer tell the peer's close from the server's own.
    """
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

    def _handshake(self) -> str | None:
        context = self.server.ssl_context
        if context is None:
            return None
        self.sock = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        try:
            self.sock.do_handshake()
        except (ssl.SSLEOFError, ConnectionError) as error:
            if self.stopping.is_set():
                return "server stopped"
            self.sink.on_note(f"peer left during the TLS handshake: {error}")
            return "client closed during the TLS handshake"
        except ssl.SSLError as error:
            # A TLS-level refusal (bad certificate, no common cipher) is the peer's doing
            # even if stop() came meanwhile; stop() itself only ever causes EOF or OSError.
            self.sink.on_error(error)
            return "TLS handshake failed"
        except OSError:
            if self.stopping.is_set():
                return "server stopped"
            raise
        return None

    def converse(self) -> str:
        """Play the conversation (rules, script, recorder) on this connection."""
        conversation = self.server.conversation(self.sink, self.rules)
        reason = self._perform(conversation.open())
        if reason:
            return reason
        recv = self.sock.recv
        while True:
            try:
                data = recv(READ_SIZE)
            except ssl.SSLEOFError:  # TLS peer left without close_notify: a normal close
                data = b""
            except ConnectionResetError:
                return "server stopped" if self.stopping.is_set() else "client reset"
            if not data:
                if self.stopping.is_set():
                    return "server stopped"
                return self._perform(conversation.end()) or "client closed"
            actions = conversation.receive(data)
            if actions:
                reason = self._perform(actions)
                if reason:
                    return reason

    def _perform(self, actions: list[Action]) -> str | None:
        for action in actions:
            if isinstance(action, Send):
                self.sink.on_sent(action.data)
                try:
                    self.sock.sendall(action.data)
                except (BrokenPipeError, ConnectionResetError) as error:
                    self.sink.on_note(f"could not send: {error}")
                    return "client reset"
            elif isinstance(action, Sleep):
                if self.stopping.wait(action.seconds):
                    return "server stopped"
            elif isinstance(action, Close):
                return "server closed"
            elif isinstance(action, Reset):
                self.reset_on_close()
                return "server reset"
            elif isinstance(action, ShutdownWrite):
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self.sock, socket.SHUT_WR)
        return None

    def reset_on_close(self) -> None:
        """Make the coming close send RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)

    def handle(self) -> str:
        """Run the socketserver handler class on this connection."""
        server = self.server
        assert server.handler is not None
        conversation = server.conversation(self.sink, self.rules)
        request = RecordingSocket(self.sock, conversation)
        try:
            server.handler(request, self.peer, server)  # type: ignore[arg-type]
        except Exception as error:
            if not (self.stopping.is_set() and isinstance(error, (OSError, ValueError))):
                self.sink.on_error(error)
        if self.stopping.is_set():
            return "server stopped"
        if request.eof:
            conversation.end()
            return "client closed"
        return "handler returned"

    def _finish(self, reason: str) -> None:
        self.release(self)
        if reason != "server reset":
            # FIN now, even if another descriptor (a fork parent's) still holds it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        self.sock.close()
        self.sink.on_closed(reason)


class StreamServer(BaseServer):
    """Accepts connections and runs a session for each (thread, serial or fork)."""

    kind = "stream"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: dict[int, StreamSession] = {}
        self._children: dict[int, tuple[int, threading.Thread | None]] = {}
        self._sessions_lock = threading.Lock()
        self._backoff = 0.0  # seconds to wait after running out of descriptors

    def _listen(self, sock: socket.socket) -> None:
        sock.listen(listen_backlog())

    def session_body(self, session: StreamSession) -> str:
        """Serve one connection after any TLS handshake; return why it closed."""
        return session.handle() if self.handler is not None else session.converse()

    def _serve(self) -> None:
        assert self.socket is not None
        self._serve_while_readable(self.socket, self._accept_pending)

    def _accept_pending(self) -> bool:
        """Accept every pending connection; False when stopping."""
        assert self.socket is not None
        while True:
            try:
                conn, peer = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as error:
                if error.errno in _RESOURCE_ERRORS:
                    # Out of descriptors: report once, back off instead of spinning.
                    if self._backoff == 0.0:
                        self.recording.add_error(error)
                    self._backoff = min(max(self._backoff * 2, 0.01), 0.5)
                    return not self._stopping.wait(self._backoff)
                if error.errno != errno.ECONNABORTED:
                    self.recording.add_error(error)
                continue
            self._backoff = 0.0
            self._dispatch(conn, peer)
            if self._stopping.is_set():
                return False

    def _dispatch(self, conn: socket.socket, peer: Any) -> None:
        conn.setblocking(True)
        if self.family_kind == "inet":  # replies go out at once, as a test expects
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.verified(conn, peer):
            conn.close()
            return
        record = self.recording.open_connection(peer)
        if self.concurrency == "fork":
            self._fork(conn, peer, record)
            return
        session = StreamSession(self, conn, peer, record, self.rules, self._stopping, self._release)
        with self._sessions_lock:
            if self._stopping.is_set():
                conn.close()
                record.on_closed("server stopped")
                return
            self._sessions[id(session)] = session
        if self.concurrency == "serial":
            session.thread = threading.current_thread()
            session.run()
            return
        try:
            session.thread = self._spawn(session.run, f"connection-{record.number}")
        except RuntimeError as error:  # cannot start a new thread
            record.on_error(error)
            self._release(session)
            conn.close()
            record.on_closed("server error")

    def track_fd(self, session: StreamSession, fd: int) -> None:
        """Have stop() shut ``fd`` down too, to unblock ``session``."""
        with self._sessions_lock:
            session.extra_fds.append(fd)

    def untrack_fd(self, session: StreamSession, fd: int) -> None:
        """Forget ``fd`` before closing it, so stop() never touches a reused number."""
        with self._sessions_lock:
            session.extra_fds.remove(fd)

    def _release(self, session: StreamSession) -> None:
        with self._sessions_lock:
            self._sessions.pop(id(session), None)

    def _fork(self, conn: socket.socket, peer: Any, record: Any) -> None:
        rules = self.rules.snapshot()

        def work(sink: fork.ChannelSink) -> None:
            StreamSession(self, conn, peer, sink, rules, threading.Event(), lambda _: None).run()

        fd = conn.fileno()
        pid, channel = fork.fork_child(work, [fd])

        def watch() -> None:
            try:
                fork.relay(pid, channel, record, self.rules)
            finally:
                with self._sessions_lock:
                    self._children.pop(pid, None)
                conn.close()

        with self._sessions_lock:
            self._children[pid] = (fd, None)
        thread = self._spawn(watch, f"fork-{pid}")
        with self._sessions_lock:
            if pid in self._children:
                self._children[pid] = (fd, thread)

    def _close(self) -> None:
        self._drain_backlog()
        super()._close()

    def _drain_backlog(self) -> None:
        """Record connections the kernel accepted that stop() came before serving."""
        if self.socket is None:
            return
        while True:
            try:
                conn, peer = self.socket.accept()
            except OSError:
                return
            record = self.recording.open_connection(peer)
            with contextlib.suppress(OSError):
                data = conn.recv(READ_SIZE, socket.MSG_DONTWAIT)
                if data and self.ssl_context is None:  # TLS bytes here would be ciphertext
                    record.on_received(data)
            record.on_note("connected as the server stopped: not served")
            conn.close()
            record.on_closed("server stopped")

    def _interrupt(self) -> None:
        with self._sessions_lock:
            for session in self._sessions.values():
                for fd in (session.fd, *session.extra_fds):
                    if peer_has_closed(fd):
                        session.closed_by_peer.add(fd)
                    shutdown_fd(fd)
            for fd, _ in self._children.values():
                shutdown_fd(fd)

    def _abandon(self, threads: list[threading.Thread]) -> None:
        with self._sessions_lock:
            sessions = list(self._sessions.values())
            children = dict(self._children)
        for session in sessions:
            if session.thread in threads:
                self.recording.add_error(self._stuck_error(session.thread))
                session.sock.close()
        for pid, (_, watcher) in children.items():
            fork.kill(pid)
            if watcher is not None:
                watcher.join(self.stop_timeout)
