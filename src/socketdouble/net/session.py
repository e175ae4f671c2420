"""One stream connection's worker: faults at accept, TLS handshake, then a handler or a conversation.

Faults (:mod:`.faulty_io`) act on the plaintext: replies and pushes go out through the
to_client faults, what is read from the client reaches the conversation through the
from_client faults, each piece at its time; a close or reset a fault scheduled is
carried out while the worker waits for the client. A server whose fault list never
changed pays one integer test per chunk. down() resets a connection from outside
(:meth:`StreamSession.reset_now`); every wait ends on the session's ``cut`` event.

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
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.actions import Action, Close, Reset, Send, ShutdownWrite, Sleep
from ..core.conversation import Dialogue
from ..core.events import EventSink
from ..core.rules import RuleBook
from ..core.stream_faults import ConnectionFaults
from . import handshake, socketserver_adapter
from .faulty_io import FAULT_RESET, LINGER_RESET, RESET_REASONS, FaultyStream, abort, set_linger_reset
from .flag import Flag
from .inline import InlineServing
from .push import READY_TIMEOUT, PushQueue
from .shutdown import peer_has_closed, shutdown_fd

__all__ = ["DRAIN_BYTES", "LINGER_RESET", "READ_SIZE", "StreamSession", "peer_has_closed", "shutdown_fd"]

if TYPE_CHECKING:
    from .stream import StreamServer

READ_SIZE = 65536
#: Most bytes one connection reads after stop(): what a client had queued fits
#: (kernel buffers are a few MB); one that keeps sending is cut off.
DRAIN_BYTES = 16 * 1024 * 1024
_SSL_EOF = (ssl.SSLEOFError, ssl.SSLZeroReturnError)
_MAKING_FAULTY = threading.Lock()


class StreamSession:
    """One connection: its faults' opening, TLS handshake if asked, then a handler or a conversation.

    Faults (:mod:`socketdouble.net.faulty_io`) act on the plaintext: what the
    conversation sends (to_client) and what is read from the client (from_client).
    """

    def __init__(
        self,
        server: StreamServer,
        sock: socket.socket,
        peer: Any,
        sink: EventSink,
        rules: RuleBook,
        stopping: threading.Event,
        release: Callable[[StreamSession], None],
        number: int | None = None,
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
        self.ready: threading.Event = Flag()
        self.finished = False
        #: TLS: pushes written by this session's own thread (see :mod:`socketdouble.net.push`).
        self.pushes: PushQueue | None = None
        #: Set when the connection must end at once (stop(), down()): every wait of a fault,
        #: a script's sleep or a rule's delay ends with it.
        self.cut: threading.Event = Flag()
        self._number = getattr(sink, "number", 0) if number is None else number
        self._faulty: FaultyStream | None = None  # see faulty: most connections never need it
        self._fault_list = server.faults
        #: The close reason when the server ended the connection from outside (down()).
        self.ended_by: str | None = None
        self._closed_slowly = False  # slow_close delayed a close already
        #: Set while the server's serve thread serves this connection itself (:mod:`.inline`).
        self.inline: InlineServing | None = None

    @property
    def faulty(self) -> FaultyStream:
        """This connection's faults, applied to its socket; made on first use, from any thread.

        The session itself asks for it only once the server's fault list has changed.
        """
        faulty = self._faulty
        if faulty is None:
            with _MAKING_FAULTY:  # a push's thread may ask at the same time: one for both
                faulty = self._faulty
                if faulty is None:
                    server = self.server
                    faulty = FaultyStream(server.faults, server.seed, self._number, self.sink, self.cut)
                    self._faulty = faulty
        return faulty

    @property
    def faults(self) -> ConnectionFaults | None:
        """This connection's faults: None while the server's fault list never changed.

        Made lazily (see :meth:`current_faults`); a proxy's pump applies them itself.
        """
        faulty = self._faulty
        return None if faulty is None else faulty.faults

    def current_faults(self) -> ConnectionFaults | None:
        """This connection's faults, made if need be and up to date; None while none acts."""
        if self._faulty is None and not self._fault_list.version:
            return None
        return self.faulty.current()

    # -- running ---------------------------------------------------------------

    def run(self) -> None:
        reason = "server closed"
        try:
            reason = self._opening() or self._handshake() or self.server.session_body(self)
        except Exception as error:
            if self.stopping.is_set() and isinstance(error, OSError):
                reason = "server stopped"
            elif self.ended_by is not None and isinstance(error, OSError):
                reason = self.ended_by  # down() reset the connection under the worker's feet
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
        self.faulty.enabled = False  # what it had sent is recorded as it came
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

    def _opening(self) -> str | None:
        """What the faults do at accept (refuse, a reset or close at byte 0): the close reason if it ends.

        An ending scheduled later (a delayed reset, a timeout) is honoured while the
        session waits for the client.
        """
        if not self._fault_list.version:
            return None
        ending = self.faulty.opening()
        if ending is None or ending.at > time.monotonic():
            return None
        return self.faulty.end(self.sock, ending)

    def _handshake(self) -> str | None:
        return handshake.handshake(self) if self.server.ssl_context is not None else None

    def converse(self, conversation: Dialogue | None = None, first: bytes = b"") -> str:
        """Play the conversation (rules, script, recorder) on this connection.

        ``conversation`` defaults to the server's; ``first`` holds client bytes already
        read (by whoever chose the conversation), fed to it right after it opens.
        """
        if conversation is None:
            conversation = self.server.conversation(self.sink, self.rules)
        self._before_rules()
        reason = self._perform(conversation.open())
        self._open_for_pushes()
        if not reason and first:
            self._before_rules()
            reason = self._perform(conversation.receive(first))
        reason = self._held(reason)
        if reason:
            return reason
        recv = self.sock.recv if self.pushes is None else self.pushes.recv
        stopping = self.stopping
        fault_list = self._fault_list
        send_lock = self.send_lock
        while True:
            if fault_list.version:
                self.leave_serve_thread()
                ending = self.faulty.wait_for_peer(self.sock)
                if ending is not None:
                    return self.faulty.end(self.sock, ending)
            if self.inline is not None and self.inline.wait_readable(stopping):
                self.leave_serve_thread()
            try:
                data = recv(READ_SIZE)
            except _SSL_EOF:  # TLS peer left without close_notify: a normal close
                data = b""
            except BlockingIOError:  # run_unserved: all read, and the client is still connected
                return "server stopped"
            except ConnectionResetError:
                return "client reset" if self.eof_from_peer(self.fd) else "server stopped"
            except BrokenPipeError:
                # A read fails so only after our own side was reset in place (down(); in a
                # forked child, by the parent, which records the reason).
                return self.ended_by or FAULT_RESET
            if not data:
                if self.ended_by is not None:
                    return self.ended_by
                if not self.eof_from_peer(self.fd):
                    return "server stopped"
                self._before_rules()
                return self._perform(conversation.end()) or "client closed"
            if fault_list.version:
                self.leave_serve_thread()
                reason = self._held(self._receive_faulted(conversation, data))
            else:
                with send_lock:
                    if self.inline is not None and self.rules.may_block:
                        self.leave_serve_thread()
                    actions = conversation.receive(data)
                    reason = self._perform(actions, self._send) if actions else None
            if reason:
                return reason
            if stopping.is_set() and self.drain_spent(len(data)):
                return "server stopped"

    def _receive_faulted(self, conversation: Dialogue, data: bytes) -> str | None:
        """Feed ``data`` to the conversation through the from_client faults, each piece at its time."""
        plan = self.faulty.plan("from_client", data)
        if plan is None:
            return self._conversed(conversation, data)
        for piece in plan.pieces:
            self.faulty.wait_until(piece.at)  # cut short by stop() or down(): the rest goes at once
            reason = self._conversed(conversation, piece.data)
            if reason:
                return reason
        return self._ending_due()

    def _held(self, reason: str | None) -> str | None:
        """The conversation's close, unless a fault holds what goes to the client (None: converse on).

        From a blackhole, timeout or delayed reset on, nothing passes to the client, the
        close (FIN) included: the connection waits for the fault's ending, the client's
        close or stop(), recording what the client still sends.
        """
        if reason != "server closed" or not self._fault_list.version:
            return reason
        faults = self.faulty.faults
        if faults is None or faults.to_client.ended is None:
            return reason
        self.sink.on_note("the server's close is held back by a fault, as its bytes are")
        return None

    def _conversed(self, conversation: Dialogue, data: bytes) -> str | None:
        with self.send_lock:
            actions = conversation.receive(data)
            return self._perform(actions, self._send) if actions else None

    def _ending_due(self) -> str | None:
        """The close reason when a fault's ending is due now (carried out by the coming close)."""
        ending = self.faulty.due()
        return None if ending is None else self.faulty.end(self.sock, ending)

    def _perform(self, actions: list[Action], send: Callable[[bytes], None] | None = None) -> str | None:
        """Carry out ``actions``; the close reason if one ends the connection.

        ``send`` is :meth:`_send` when the caller holds the send lock already (it is
        held from a message's recording to its replies), else :meth:`send` takes it.
        """
        send = send or self.send
        for action in actions:
            if isinstance(action, Send):
                send(action.data)
                if self._fault_list.version:
                    reason = self._ending_due()  # a fault ended the connection inside this reply
                    if reason:
                        return reason
            elif isinstance(action, Sleep):
                # Cut short by stop() or down(); what follows still runs, so the client's bytes are read.
                self.leave_serve_thread()
                self.cut.wait(action.seconds)
            elif isinstance(action, Close):
                return "server closed"
            elif isinstance(action, Reset):
                self.reset_on_close()
                return "server reset"
            elif isinstance(action, ShutdownWrite):
                if self._fault_list.version and not self._half_close_passes():
                    continue
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
        """Send ``data`` (through the to_client faults, if any ever were) and record what went out."""
        if self._fault_list.version:
            self.leave_serve_thread()
            self.faulty.send(data, self._send_now)
        else:
            self._send_now(data)

    def _send_now(self, data: bytes) -> bool:
        """Send ``data`` and record what actually went out; a failure is a note (and False).

        The session goes on after a failed send: the peer may be gone, but what it sent
        before leaving is still to be read and recorded. Once stop() began nothing more
        is sent (what a stopping server would send races its own shutdown): noted.
        """
        if self.stopping.is_set():
            self.sink.on_note(f"not sent ({len(data)} byte(s)): the server was stopping")
            return False
        if self.ended_by is not None:
            self.sink.on_note(f"not sent ({len(data)} byte(s)): the connection was reset ({self.ended_by})")
            return False
        sock = self.sock
        sent = 0
        try:
            inline = self.inline
            if inline is not None and inline.owner == threading.get_ident():
                sent = self._send_inline(data)
            else:
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
            return False
        self.sink.on_sent(data)
        return True

    def _send_inline(self, data: bytes) -> int:
        """On the serve thread: send what the socket takes now; if not all, leave the serve thread."""
        try:
            sent = self.sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:  # the client is not reading: the rest waits, on a thread of its own
            sent = 0
        if sent < len(data):
            self.leave_serve_thread()
        return sent

    def _before_rules(self) -> None:
        """Leave the serve thread before asking rules that may call the test's code or wait."""
        if self.inline is not None and self.rules.may_block:
            self.leave_serve_thread()

    def leave_serve_thread(self) -> None:
        """If the serve thread is serving this connection, hand the serve loop to a new thread.

        Called before anything that could hold the thread (see :mod:`.inline`); from
        then on the calling thread is this connection's worker.
        """
        inline = self.inline
        if inline is not None and inline.owner == threading.get_ident():  # not a push's thread
            self.inline = None
            inline.hand_over()

    def reset_on_close(self) -> None:
        """Make the coming close send RST instead of FIN."""
        set_linger_reset(self.sock)

    def reset_now(self, why: str, reason: str) -> None:
        """Reset this connection at once, from any thread (down()); ``why`` is the fault event.

        The worker wakes (its read or write fails) and ends with ``reason``.
        """
        self.sink.on_fault(why)
        self.ended_by = reason
        abort(self.fd)
        self.cut.set()

    def handle(self) -> str:
        """Run the socketserver handler class on this connection."""
        return socketserver_adapter.handle_connection(self)

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
        with self.server._sessions_mutex:  # the plain lock: nothing waits here
            return fd in self.closed_by_peer or fd not in self.shut_down

    def _finish(self, reason: str) -> None:
        reason = self.ended_by or reason
        if self._fault_list.version and reason not in RESET_REASONS and not self.stopping.is_set():
            self.leave_serve_thread()
            self._close_slowly()
        if self.inline is not None:
            self.inline.done()
        self.release(self)
        if reason not in RESET_REASONS:
            # FIN now, even if another descriptor (a fork parent's) still holds it.
            with contextlib.suppress(OSError):  # already shut down, or reset by the peer
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        with self.send_lock:  # a push never writes to a closed (and maybe reused) descriptor
            self.finished = True
            self.sock.close()
        if self.pushes is not None:
            self.pushes.close()
        if not self.ready.is_set():  # set when the conversation opened, as it mostly did
            self.ready.set()
        self.sink.on_closed(reason)

    def note_slow_close(self) -> None:
        """A slow_close fault has delayed this connection's close already (a proxy's pump
        passed the upstream's close on late): the session's own close does not wait again."""
        self._closed_slowly = True

    def _close_slowly(self) -> None:
        """slow_close: the server's close waits (cut short by stop() or down()); once per connection."""
        delay = 0.0 if self._closed_slowly else self.faulty.closing_delay()
        if delay:
            self._closed_slowly = True
            self.sink.on_fault(f"slow close: the server's close comes {delay:g} s late")
            self.cut.wait(delay)

    def _half_close_passes(self) -> bool:
        """A half-close (a replay's recorded FIN) under faults: held by an ended direction, or late."""
        faults = self.faulty.current()
        if faults is not None and faults.to_client.ended is not None:
            self.sink.on_note("the server's half-close is held back by a fault, as its bytes are")
            return False
        self._close_slowly()
        return True
