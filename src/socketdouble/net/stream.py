"""Stream servers (TCP, Unix stream, TLS over either): accept, then one session each."""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from typing import Any

from ..core.recording import ConnectionRecord
from . import fork
from .address import listen_backlog
from .faulty_io import FAULT_RESET, HeldListener
from .inline import InlineServing
from .push import READY_TIMEOUT
from .server import BaseServer
from .session import LINGER_RESET, READ_SIZE, StreamSession, peer_has_closed, shutdown_fd

__all__ = [
    "LINGER_RESET",
    "READ_SIZE",
    "StreamServer",
    "StreamSession",
    "TCPServer",
    "UnixStreamServer",
    "peer_has_closed",
    "shutdown_fd",
]

_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: Most connections stop() takes from the listen backlog to record them.
BACKLOG_DRAIN_MAX = 4096
_MAKING_CONDITION = threading.Lock()


class StreamServer(BaseServer):
    """Accepts connections and runs a session for each (thread, serial or fork)."""

    kind = "stream"
    _drain_holds_listener = False  # each accept() takes the listener lock; a session never does

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: dict[int, StreamSession] = {}
        self._children = fork.Children(self._spawn)
        #: Guards the live sessions and what stop() did to their descriptors. Each connection
        #: takes the plain lock under it (C-level, cheap); only a push waits on the Condition.
        self._sessions_mutex = threading.Lock()
        self._sessions_condition: threading.Condition | None = None  # see sessions_lock
        self._push_waiters = 0  # pushes waiting for their connection's session: only then notify
        self._dispatched = 0  # number of the last connection handed to a session (pushes wait for it)
        self._interrupted = False  # stop() has shut every live session down
        self._backoff = 0.0  # seconds to wait after running out of descriptors
        self._held: HeldListener | None = None  # connect_timeout(): the listener's backlog held full
        self._handed: list[tuple[socket.socket, Any]] = []  # accepted by a release, for the serve loop
        self._accepted_in = 0  # the outage count when the connection being dispatched was accepted

    @property
    def sessions_lock(self) -> threading.Condition:
        """The Condition over the sessions' lock; made on first use (only a push waits on it).

        Notifiers notify only while ``_push_waiters`` counts a push, which made it first.
        """
        condition = self._sessions_condition
        if condition is None:
            with _MAKING_CONDITION:  # not the sessions' lock: a caller may hold that
                condition = self._sessions_condition
                if condition is None:
                    condition = self._sessions_condition = threading.Condition(self._sessions_mutex)
        return condition

    def _listen(self, sock: socket.socket) -> None:
        sock.listen(listen_backlog())

    # -- connect_timeout() and outages -------------------------------------------------

    def _apply_listener_faults(self) -> None:
        held = bool(self._faults.of_medium("listener"))
        if held and self._held is None and self.socket is not None:
            self._held = HeldListener(self.socket, listen_backlog())
            self._listener_changed()
            self.recording.add_fault(
                "connect_timeout: the listen queue is held full; clients' connect() times out"
            )
        elif not held and self._held is not None:
            self._release_listener()
            self._listener_changed()
            self.recording.add_fault("connect_timeout removed: connections are accepted again")

    def _release_listener(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            # Clients queued before the fillers: the serve loop serves them (serial sessions
            # must not run in the thread that removed the fault).
            self._handed.extend(held.release())

    def _has_handoff(self) -> bool:
        return bool(self._handed)

    def _serve_handed(self) -> bool:
        """Serve connections a released listener accepted on the serve loop's behalf.

        False when a new serve thread took over meanwhile (see :mod:`socketdouble.net.inline`).
        """
        while self._handed:
            conn, peer = self._handed.pop(0)
            self._accepted_in = self._outages
            try:
                if self._stopping.is_set():
                    self._serve_unserved(conn, peer)
                elif not self._dispatch(conn, peer):
                    return False
            except Exception as error:
                self.recording.add_error(error)
                conn.close()
        return True

    def _watched(self, first: socket.socket | None) -> socket.socket | None:
        return None if self._held is not None else super()._watched(first)

    def _reset_connections(self, why: str) -> int:
        with self.sessions_lock:  # a session releases itself under it before closing its socket
            sessions = list(self._sessions.values())
            for session in sessions:
                session.reset_now(why, FAULT_RESET)
        return len(sessions) + self._children.reset(why)

    def session_body(self, session: StreamSession) -> str:
        """Serve one connection after any TLS handshake; return why it closed."""
        return session.handle() if self.handler is not None else session.converse()

    def unserved_body(self, session: StreamSession) -> str:
        """Serve a connection accepted as stop() came; return why it closed.

        Its socket is non-blocking: only what the client had sent is read. No handler
        runs (one could block stop()); the conversation frames and records the bytes.
        """
        return session.converse()

    def _serve(self) -> None:
        # self.socket is None while down: a serve thread that took over then (see .inline) waits for up()
        self._serve_while_readable(self.socket, self._accept_pending)

    def serves_inline(self) -> bool:
        """True when a connection may be served on the serve thread (see :mod:`socketdouble.net.inline`).

        Only a conversation of rules (or a greeting, or nothing) on a thread-per-connection
        server with no handler, TLS, script or fault: whatever else could hold the thread
        is checked again as the connection goes. Subclasses that serve otherwise (proxies,
        replays) say False.
        """
        return (
            self.concurrency == "thread"
            and self.handler is None
            and self.ssl_context is None
            and self._script is None
            and not self._faults.version
            and type(self).session_body is StreamServer.session_body
            and type(self).conversation is BaseServer.conversation
        )

    def _accept_pending(self) -> bool:
        """Accept a pending connection (the serve loop calls again while more wait).

        False when stopping, or when this thread no longer serves (see :mod:`socketdouble.net.inline`).
        """
        if not self._serve_handed():
            return False
        first = True  # the serve loop saw the listener readable: the first accept is expected to succeed
        while True:
            try:
                with self._listener_lock:  # an outage or a held backlog never changes it mid-accept
                    listener = self._watched(None)
                    if listener is None:
                        return True  # down, or held: the serve loop watches again
                    if not first and not _has_pending(listener):
                        return True  # all accepted
                    first = False
                    conn, peer = listener.accept()
                    self._accepted_in = self._outages
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
            try:
                if not self._dispatch(conn, peer):
                    return False  # a new serve thread took over: this one served its connection
            except Exception as error:  # setsockopt, verify: this connection is lost, serving goes on
                self.recording.add_error(error)
                conn.close()
            # Back to the serve loop's wait, which says at once if more are pending: asking
            # here (a poll) would hand the GIL to the new session and wait to get it back.
            return not self._stopping.is_set()

    def _dispatch(self, conn: socket.socket, peer: Any) -> bool:
        """Serve one accepted connection; False when the calling thread handed the serve loop over."""
        conn.setblocking(True)
        if self.family_kind == "inet":  # replies go out at once, as a test expects
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.verified(conn, peer):
            conn.close()
            return True
        record = self.recording.open_connection(peer)
        try:
            return self._start_session(conn, peer, record)
        except Exception as error:  # fork, thread start, a subclass: record it on the connection
            record.on_error(error)
            conn.close()
            record.on_closed("server error")
            return True

    def _start_session(self, conn: socket.socket, peer: Any, record: ConnectionRecord) -> bool:
        """Run a session for ``conn``; False when the calling thread handed the serve loop over."""
        session = StreamSession(self, conn, peer, record, self.rules, self._stopping, self._release)
        with self._sessions_mutex:
            unserved = self._stopping.is_set()  # then stop() has shut down every session it knows
            inline = (
                not unserved
                and not self._sessions
                and self._serve_thread == threading.get_ident()
                and self.serves_inline()
            )
            if not unserved and self.concurrency != "fork":
                self._sessions[id(session)] = session
                if self._accepted_in != self._outages:  # accepted before a down() that could not see it
                    session.reset_now("server down: connection reset", FAULT_RESET)
            self._dispatched = record.number
            if self._push_waiters:
                self.sessions_lock.notify_all()
        if unserved:
            session.run_unserved()
        elif inline:
            assert self._watch is not None  # made by start(), closed by stop() after its join
            session.thread = threading.current_thread()
            number = record.number
            serving = InlineServing(self._watch, session.fd, lambda: self._hand_over_serving(number))
            session.inline = serving
            session.run()
            return not serving.handed_over
        elif self.concurrency == "fork":
            self._fork(conn, peer, record)
        elif self.concurrency == "serial":
            session.thread = threading.current_thread()
            session.run()
        else:
            try:
                session.thread = self._spawn(session.run, f"connection-{record.number}")
            except BaseException:
                self._release(session)
                raise
        return True

    def _hand_over_serving(self, number: int) -> None:
        """Connection ``number``, served inline, could hold the serve thread: a new one serves from now on."""
        self._serve_thread = None  # the new serve thread names itself
        self._spawn(self._serve, "serve")
        threading.current_thread().name = f"socketdouble-connection-{number}"

    def _push(self, record: ConnectionRecord, data: bytes) -> bool:
        """Push on ``record``'s session, once it has one; False if it has none any more."""
        with self.sessions_lock:
            self._push_waiters += 1
            try:
                self.sessions_lock.wait_for(
                    lambda: self._dispatched >= record.number or record.closed or self._stopping.is_set(),
                    READY_TIMEOUT,
                )
            finally:
                self._push_waiters -= 1
            session = next((s for s in self._sessions.values() if s.sink is record), None)
        return session is not None and session.push(data)

    def track_fd(self, session: StreamSession, fd: int) -> None:
        """Have stop() shut ``fd`` down too, to unblock ``session`` (at once if stop() came)."""
        with self.sessions_lock:
            session.extra_fds.append(fd)
            if self._interrupted:
                self._shut(session, fd)

    def untrack_fd(self, session: StreamSession, fd: int) -> None:
        """Forget ``fd`` before closing it, so stop() never touches a reused number."""
        with self.sessions_lock:
            session.extra_fds.remove(fd)

    def _release(self, session: StreamSession) -> None:
        with self._sessions_mutex:
            self._sessions.pop(id(session), None)

    def _fork(self, conn: socket.socket, peer: Any, record: ConnectionRecord) -> None:
        rules = self.rules.snapshot()

        def work(sink: fork.ChannelSink) -> None:
            stopping = threading.Event()  # the child's own: the parent's stop() reaches it by the socket
            StreamSession(self, conn, peer, sink, rules, stopping, lambda _: None, record.number).run()

        self._children.fork(work, [conn.fileno()], record, self.rules, connection=conn)

    def _close(self) -> None:
        try:
            with self._listener_lock:
                self._release_listener()  # fillers accepted unseen; clients queued before them served
            self._serve_handed()
            self._drain_backlog()
        finally:
            super()._close()

    def _drain_backlog(self) -> None:
        """Serve what connections still in the listen backlog had sent (bounded, never blocking)."""
        if self.socket is None:
            return
        for _ in range(BACKLOG_DRAIN_MAX):
            if not _has_pending(self.socket):
                return  # the backlog is empty: all recorded
            try:
                conn, peer = self.socket.accept()
            except (BlockingIOError, InterruptedError):  # the backlog is empty: all recorded
                return
            except OSError as error:  # out of descriptors: the rest of the backlog is reset unseen
                self.recording.add_error(error)
                return
            try:
                if time.monotonic() < self.drain_deadline:
                    self._serve_unserved(conn, peer)
                else:
                    record = self.recording.open_connection(peer)
                    record.on_note("connected as the server stopped: not read, stop() had no time left")
                    conn.close()
                    record.on_closed("server stopped")
            except Exception as error:
                self.recording.add_error(error)
                conn.close()

    def _serve_unserved(self, conn: socket.socket, peer: Any) -> None:
        if not self.verified(conn, peer):
            conn.close()
            return
        record = self.recording.open_connection(peer)
        StreamSession(self, conn, peer, record, self.rules, self._stopping, self._release).run_unserved()

    def _interrupt(self) -> None:
        with self._sessions_mutex:
            self._interrupted = True
            if self._push_waiters:  # a push waiting for its session gives up now
                self.sessions_lock.notify_all()
            for session in self._sessions.values():
                session.cut.set()  # a fault's wait, a sleep, a delayed reply: over now
                for fd in (session.fd, *session.extra_fds):
                    self._shut(session, fd)
        self._children.interrupt()

    @staticmethod
    def _shut(session: StreamSession, fd: int) -> None:
        """Shut ``fd`` down, noting first whether its peer had closed (sessions lock held)."""
        if peer_has_closed(fd):
            session.closed_by_peer.add(fd)
        session.shut_down.add(fd)
        shutdown_fd(fd)

    def _abandon(self, threads: list[threading.Thread]) -> None:
        with self.sessions_lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            if session.thread in threads:
                self.recording.add_error(self._stuck_error(session.thread))
                session.sock.close()
        self._children.abandon(self.stop_timeout)


def _has_pending(listener: socket.socket) -> bool:
    """True when ``listener`` has a connection waiting to be accepted.

    Asked before each accept but the first of a wake-up: an accept that finds the
    backlog empty raises, which costs several times this poll.
    """
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    return bool(poller.poll(0))


class TCPServer(StreamServer):
    """A TCP server on loopback (``host="::1"`` for IPv6), port 0 by default."""

    kind = "TCP"


class UnixStreamServer(StreamServer):
    """A Unix stream server; ``path`` defaults to a file in a private 0700 folder."""

    kind = "Unix stream"
    family_kind = "unix"
