"""Applying stream faults to a blocking socket: pieces at their time, endings, resets.

The decisions are :mod:`socketdouble.core.stream_faults`' (sans-IO): a
:class:`~socketdouble.core.stream_faults.Plan` per chunk. A :class:`FaultyStream` is one
connection's side of it: it follows the server's live fault list, records what the
faults did, passes each piece not before its time and carries out the endings. Every
wait is on the connection's ``cut`` event (set by stop() and down()), never a bare
sleep, so a delayed or blackholed connection ends at once when the server stops.

A server whose fault list never changed (``faults.version == 0``) pays nothing here:
the session checks that integer and goes its plain way.

Resets are real: SO_LINGER on with 0 s, then the close sends RST. When the descriptor
must stay open for its owner (a socketserver handler still holds it; down() resets
connections other threads serve), :func:`abort` resets it in place. Unix stream sockets
have no RST: there a reset is a close.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import math
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.events import EventSink
from ..core.fault_spec import FaultList, Flow
from ..core.stream_faults import ConnectionFaults, Ending, Plan
from .shutdown import borrow

__all__ = [
    "FAULT_CLOSED",
    "FAULT_RESET",
    "LINGER_RESET",
    "RESET_REASONS",
    "FaultyStream",
    "HeldListener",
    "abort",
    "readable",
    "set_linger_reset",
]

LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
#: Close reasons of connections a fault ended.
FAULT_RESET = "fault: reset"
FAULT_CLOSED = "fault: closed"
#: Close reasons whose close must send RST, not FIN (no shutdown() before it).
RESET_REASONS = frozenset({"server reset", FAULT_RESET})
_TOWARD = {"to_client": "to the client", "from_client": "from the client"}
#: Most filler connections a held listener makes (listen(0) takes one on Linux).
MAX_FILLERS = 16
#: Longest wait for a filler connection to reach the listen queue, and for it at release.
FILLER_TIMEOUT = 1.0
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)


def set_linger_reset(sock: socket.socket) -> None:
    """Make ``sock``'s coming close send RST instead of FIN."""
    with contextlib.suppress(OSError):  # reset by the peer already: there is nothing left to reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)


class _Unspecified(ctypes.Structure):
    """A ``struct sockaddr`` of family AF_UNSPEC (0): connect() to it dissolves a connection."""

    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_char * 14)]


_libc_connect: Any = None


def _disconnect(fd: int) -> bool:
    """connect(fd, AF_UNSPEC): a TCP connection is dropped with an RST (Linux, BSD); True if done."""
    global _libc_connect
    if _libc_connect is None:
        try:
            _libc_connect = ctypes.CDLL(None, use_errno=True).connect
        except (OSError, AttributeError):  # no C library to ask: the caller falls back to a shutdown
            _libc_connect = False
    if not _libc_connect:
        return False
    address = _Unspecified(0)
    return bool(_libc_connect(fd, ctypes.byref(address), ctypes.sizeof(address)) == 0)


def abort(fd: int) -> None:
    """Reset the connection on descriptor ``fd`` now, from any thread; the descriptor stays open.

    A thread blocked on it wakes (its call fails); its owner closes it later. By number,
    not socket object: a TLS wrap hands the descriptor to a new object meanwhile.
    Python's ``connect()`` cannot name AF_UNSPEC, hence the C call. Where that is
    refused (a Unix stream socket, which has no RST) the connection is shut down
    instead: the peer reads end of file.
    """
    sock = borrow(fd, family=-1)  # the family decides how to reset
    try:
        set_linger_reset(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and _disconnect(fd):
            return
        with contextlib.suppress(OSError):  # not connected any more: nothing to shut down
            sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.detach()


def readable(sock: socket.socket, timeout: float) -> bool:
    """True when ``sock`` has something to read (data, end of file, an error) within ``timeout`` s."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))


class FaultyStream:
    """One stream connection's faults: follows the server's list, records, waits, ends.

    ``cut`` is set when the connection must end at once (stop(), down()): every wait
    here ends with it. Thread-safe: a push (``server.send``) plans its bytes from
    another thread while the session plans the client's.
    """

    def __init__(
        self, fault_list: FaultList, seed: int, number: int, sink: EventSink, cut: threading.Event
    ) -> None:
        self.fault_list = fault_list
        self.seed = seed
        self.number = number
        self.sink = sink
        self.cut = cut
        #: The connection's faults, made when the server's list first changed; None until then.
        self.faults: ConnectionFaults | None = None
        #: False for a connection accepted as stop() came: what it sent is recorded as it was.
        self.enabled = True
        #: The close reason once a fault ended the connection in place (see :meth:`end_now`).
        self.ended: str | None = None
        self._lock = threading.Lock()

    # -- deciding --------------------------------------------------------------------

    def current(self) -> ConnectionFaults | None:
        """The connection's faults, up to date; None while none acts on it."""
        if not self.enabled or not self.fault_list.version:
            return None
        with self._lock:
            faults = self.faults
            if faults is None:
                faults = self.faults = ConnectionFaults(self.fault_list, self.seed, self.number)
            return faults if faults.refresh() else None

    def opening(self) -> Ending | None:
        """What the faults do as the connection opens (recorded); the ending they set, if any."""
        faults = self.current()
        if faults is None:
            return None
        with self._lock:
            plan = faults.opened(time.monotonic())
        self._record(plan)
        return plan.ending

    def plan(self, flow: Flow, data: bytes) -> Plan | None:
        """The plan for ``data`` read or written now (its events recorded); None when no fault acts."""
        faults = self.current()
        if faults is None:
            return None
        with self._lock:
            plan = faults.flow(flow).chunk(data, time.monotonic())
        self._record(plan)
        if plan.withheld > 0:
            self.sink.on_note(f"withheld by a fault: {plan.withheld} byte(s) {_TOWARD[flow]}")
        return plan

    def _record(self, plan: Plan) -> None:
        for text in plan.events:
            self.sink.on_fault(text)

    def next_ending(self) -> Ending | None:
        """The earliest close or reset a fault scheduled at a finite time, or None."""
        faults = self.faults
        if faults is None or not self.enabled:
            return None
        ending = faults.ending()
        return ending if ending is not None and ending.at != math.inf else None

    def due(self) -> Ending | None:
        """A scheduled ending whose time has come, or None."""
        ending = self.next_ending()
        return ending if ending is not None and ending.at <= time.monotonic() else None

    def closing_delay(self) -> float:
        """Seconds the server's own close waits (slow_close); 0 without faults."""
        faults = self.current()
        return 0.0 if faults is None else faults.closing_delay()

    # -- acting ----------------------------------------------------------------------

    def wait_until(self, at: float) -> bool:
        """Wait until ``at`` (a ``time.monotonic()`` value); False if the connection was cut first."""
        delay = at - time.monotonic()
        return delay <= 0 or not self.cut.wait(delay)

    def send(self, data: bytes, send_piece: Callable[[bytes], bool]) -> None:
        """Send ``data`` through the to_client faults: each piece at its time via ``send_piece``.

        ``send_piece`` sends and records one piece, and returns False when it could
        not (it noted why): the rest is not sent either.
        """
        plan = self.plan("to_client", data)
        if plan is None:
            send_piece(data)
            return
        for index, piece in enumerate(plan.pieces):
            if not self.wait_until(piece.at):
                left = sum(len(p.data) for p in plan.pieces[index:])
                self.sink.on_note(f"not sent ({left} byte(s)): the connection ended while a fault held them")
                return
            if not send_piece(piece.data):
                return

    def wait_for_peer(self, sock: socket.socket) -> Ending | None:
        """Before a blocking read: wait for the peer, or until a scheduled ending is due.

        Returns the ending when its time came first, else None (read now). Only a
        scheduled ending makes this poll; otherwise the read blocks as usual (stop()
        and down() wake it by shutting the socket down).
        """
        ending = self.next_ending()
        if ending is None:
            return None
        remaining = ending.at - time.monotonic()
        if remaining > 0 and readable(sock, remaining):
            return None
        return ending

    def end(self, sock: socket.socket, ending: Ending) -> str:
        """Carry ``ending`` out by the owner's coming close; return the close reason.

        A reset sets SO_LINGER 0 (the close sends RST; the caller must not shut the
        socket down first); a close is the usual FIN.
        """
        if ending.how == "reset":
            set_linger_reset(sock)
            return FAULT_RESET
        return FAULT_CLOSED

    def end_now(self, sock: socket.socket, ending: Ending) -> str:
        """Carry ``ending`` out at once, keeping the descriptor open (a handler still holds it)."""
        if ending.how == "reset":
            abort(sock.fileno())
            self.ended = FAULT_RESET
        else:
            with contextlib.suppress(OSError):  # the peer reset first: the connection is over anyway
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            self.ended = FAULT_CLOSED
        return self.ended


class HeldListener:
    """connect_timeout(): a listener whose backlog is held full, so clients' connect() times out.

    The listener (still bound, the port or path still the server's) listens with a
    backlog of 0 and gets filler connections from the server itself until its queue
    is full; nothing accepts them. A TCP client's SYN is then dropped (its connect()
    times out); a Unix stream client's connect() blocks (EAGAIN when non-blocking).
    :meth:`release` restores the backlog and accepts and closes the fillers unseen.
    """

    def __init__(self, listener: socket.socket, backlog: int) -> None:
        self.listener = listener
        self.backlog = backlog
        self.fillers: list[socket.socket] = []
        self._address = listener.getsockname()
        listener.listen(0)
        try:
            self._fill()
        except BaseException:
            self.release()
            raise

    def _fill(self) -> None:
        unix = self.listener.family == socket.AF_UNIX
        for _ in range(MAX_FILLERS):
            if not unix and self._full():
                return
            filler = socket.socket(self.listener.family, socket.SOCK_STREAM)
            self.fillers.append(filler)
            filler.setblocking(False)
            if unix:
                filler.bind("")  # an autobound name, so release() knows it when accepted
            code = filler.connect_ex(self._address)
            if unix and code == errno.EAGAIN:  # the queue is full: this one never got in
                self.fillers.pop().close()
                return
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, f"connect_timeout(): a filler connection failed: {os.strerror(code)}")
            if not unix and not _writable(filler, FILLER_TIMEOUT):
                self.fillers.pop().close()  # its SYN was dropped: the queue is full
                return
        if unix or not self._full():
            raise OSError(errno.EAGAIN, f"connect_timeout(): the listen queue took {MAX_FILLERS} connections")

    def _full(self) -> bool:
        """TCP: the listen queue is over its backlog (TCP_INFO of a listener: queued, max)."""
        if _TCP_INFO is None:
            return False  # no way to ask: a filler that cannot connect at once tells
        info = self.listener.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 32)
        queued, backlog = struct.unpack_from("II", info, 24)
        return bool(queued > backlog)

    def release(self) -> list[tuple[socket.socket, Any]]:
        """Listen with the full backlog again; accept and close the fillers unseen.

        Returns the clients' connections accepted on the way (queued before the
        fillers), for the server to serve.
        """
        others: list[tuple[socket.socket, Any]] = []
        try:
            if self.listener.fileno() < 0:
                return others  # closed meanwhile (down()): its queue went with it
            self.listener.listen(self.backlog)
            names = {filler.getsockname() for filler in self.fillers}
            deadline = time.monotonic() + FILLER_TIMEOUT
            while names:
                try:
                    conn, peer = self.listener.accept()
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not readable(self.listener, left):
                        break  # a filler that never got in: nothing of it to accept
                    continue
                if peer in names:
                    names.discard(peer)
                    conn.close()
                else:
                    others.append((conn, peer))
        finally:
            for filler in self.fillers:
                filler.close()
            self.fillers = []
        return others


def _writable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    return bool(poller.poll(math.ceil(timeout * 1000)))
