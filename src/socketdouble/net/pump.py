"""The stream pump: both directions of one proxied connection, in one thread, never blocking.

One thread per connection, not one per direction: an SSL object must not be used from
two threads at once. Both sockets are non-blocking. Each direction has an outbound
queue of the chunks read from its source; a source is read only while its queue is
under :data:`QUEUE_LIMIT` (bounded memory, and backpressure on a fast sender), and a
target with queued bytes is written as soon as it takes them. So neither direction
ever waits for the other, and TLS on either side (an SSL read that wants a write, a
TLS 1.3 session ticket that makes a socket readable with no data) blocks nothing.

Every chunk is recorded once, when it is read: in the cassette as it came, and in the
server's recording redacted. Raw bytes, never framed. Faults (:mod:`.pump_faults`) act
between reading and writing: the cassette keeps what was read, as it was.

At stop() both sockets are shut down; the pump goes on reading and recording what the
kernel had queued until both reach end of file (bounded by half the server's
stop_timeout), and an end of file on a descriptor whose peer had closed before stop()
is recorded as that peer's close, as it would have been without the stop.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import TYPE_CHECKING, cast

from ..core.cassette import CloseHow, ConnectionLog, Redactor, Side
from .faulty_io import FAULT_RESET
from .poller import IN, OUT, READABLE, WRITABLE, Poller
from .pump_direction import Direction
from .pump_faults import PumpFaults
from .stream import LINGER_RESET, StreamSession
from .tls_sniff import CLIENT_HELLO, TLS_RECORD_START, opens_tls, plain_proxy_error

__all__ = ["CLIENT_HELLO", "QUEUE_LIMIT", "READ_SIZE", "TLS_RECORD_START", "Pump"]

if TYPE_CHECKING:
    from .stream import StreamServer

#: Most bytes one direction holds while its target is slow (then its source waits).
QUEUE_LIMIT = 256 * 1024
#: Bytes asked for per read.
READ_SIZE = 256 * 1024
#: A read at least this long (or READ_SIZE, if less) puts its direction in bulk mode (see
#: :meth:`Pump._fill`).
BULK_READ = 64 * 1024
_WANTS_WRITE = (ssl.SSLWantWriteError,)
_NOT_READY = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_monotonic = time.monotonic


class Pump:
    """Move bytes both ways between a client and its upstream until both are done."""

    def __init__(
        self,
        server: StreamServer,
        session: StreamSession,
        upstream: socket.socket,
        log: ConnectionLog,
        redact: Redactor,
        client_tls: bool,
    ) -> None:
        self.server = server
        self.session = session
        self.log = log
        #: The connection's record: the pump is its one writer (a proxy answers nothing itself).
        self.sink = session.sink
        self.redact = redact
        #: What the recording shows of a chunk: the chunk itself when nothing is redacted.
        self.shown = redact if redact else None
        #: Reads land here, and only their bytes are copied out (see _fill); bulk reads bypass it.
        self.scratch = memoryview(bytearray(min(READ_SIZE, BULK_READ)))
        self.client_tls = client_tls
        self.up = Direction("client", session.sock, upstream, QUEUE_LIMIT)
        self.down = Direction("server", upstream, session.sock, QUEUE_LIMIT)
        self.directions = (self.up, self.down)
        self.pairs = ((self.up, self.down), (self.down, self.up))
        self.ssl_directions = [d for d in self.directions if d.ssl]
        self.reset_by: Side | None = None
        self.refused = False
        #: Who sent the last bytes: a client turn starts when it was not the client.
        self.last_side: Side | None = None
        self.deadline: float | None = None  # set once stop() came
        #: The server's live fault list: its version stays 0 until a fault is first added.
        self.fault_list = server.faults
        #: Made once the fault list changed (before this connection or during it).
        self.faults: PumpFaults | None = None
        #: What the loop waits on (the faults' wake socket joins it).
        self.poller: Poller | None = None

    # -- the loop ----------------------------------------------------------------

    def run(self, first: bytes = b"") -> str:
        """Pump until both directions ended; return why the connection closed.

        ``first``: bytes the client sent before the pump began (read by whoever chose to
        forward this connection); they go first, recorded like any read.
        """
        up, down = self.up, self.down
        up.source.setblocking(False)
        down.source.setblocking(False)
        # Each socket is the source of one direction and the target of the other.
        sockets = {inbound.source_fd: (inbound, outbound) for inbound, outbound in self.pairs}
        masks = {up.source_fd: 0, down.source_fd: 0}
        with Poller() as poller:
            self.poller = poller
            try:
                self._loop(first, poller, sockets, masks)
            finally:
                if self.faults is not None:
                    self.faults.finish()
        return self._reason()

    def _loop(
        self,
        first: bytes,
        poller: Poller,
        sockets: dict[int, tuple[Direction, Direction]],
        masks: dict[int, int],
    ) -> None:
        up, down = self.up, self.down
        if self.fault_list.version:  # faults from the start: an ending the opening scheduled
            self.faulted().advance()
        if first and self.reset_by is None and self._take(up, first):
            self.flush(up)
        stop_came = self.session.stopping.is_set
        wait = poller.wait
        steady = False
        while not self.refused and self.reset_by is None:
            if not (up.reading or down.reading) and self._over():
                break
            if self.deadline is None and stop_came():
                self._stopping()
            timeout = -1.0  # no limit: with nothing due (the common case), wait for a socket
            if self.deadline is not None or self.faults is not None or self.ssl_directions:
                due = self._timeout()
                if due is not None:
                    if due < 0:
                        break  # stop()'s deadline passed
                    timeout = due
            # Most waits find both sources read, nothing blocked and room in both queues: both
            # sockets wait to be readable, as the poller was told last time (``steady``).
            if not (
                steady
                and up.reading
                and down.reading
                and up.queued < up.limit
                and down.queued < down.limit
                and not (
                    up.read_wants_write or down.read_wants_write or up.write_blocked or down.write_blocked
                )
            ):
                steady = self._register(poller, masks)
            for fd, events in wait(timeout):
                try:
                    inbound, outbound = sockets[fd]
                except KeyError:  # stop() shut the faults' wake socket down (free when not raised)
                    cast(PumpFaults, self.faults).woken()
                    continue
                if events & (WRITABLE if inbound.read_wants_write else READABLE):
                    self._fill(inbound)
                if outbound.write_blocked and events & (READABLE if outbound.write_wants_read else WRITABLE):
                    self.flush(outbound)
                if self.reset_by is not None or self.refused:
                    break  # the connection ends now: nothing more moves
            for direction in self.ssl_directions:
                if self._ssl_pending(direction):
                    self._fill(direction)
            if self.faults is not None:
                self.faults.advance()

    def faulted(self) -> PumpFaults:
        """The connection's faults, made on first need."""
        if self.faults is None:
            self.faults = PumpFaults(self)
        return self.faults

    def _over(self) -> bool:
        if self.reset_by is not None or self.refused:
            return True
        if self.up.reading or self.down.reading:
            return False
        stopping = self._stopping()
        return all(not d.queue and (d.half_closed or stopping) for d in self.directions)

    def _timeout(self) -> float | None:
        """How long the next wait may last: None (until something happens), 0, or
        what is left of stop()'s deadline (negative once it passed)."""
        remaining = None
        if self._stopping():
            remaining = cast(float, self.deadline) - time.monotonic()
            if remaining <= 0:
                return -1.0
        for direction in self.ssl_directions:
            if self._ssl_pending(direction):
                return 0.0
        if self.faults is not None:  # wait no longer than the next piece or ending is due
            due = self.faults.due()
            if due is not None:
                wait = max(0.0, due - time.monotonic())
                remaining = wait if remaining is None else min(remaining, wait)
        return remaining

    def _stopping(self) -> bool:
        """True once stop() began; asked again at every failure, since stop() shuts sockets down."""
        if self.deadline is None and self.session.stopping.is_set():
            # Half the stop budget: stop() still joins this thread within stop_timeout. What
            # is queued goes nowhere now (stop() shut the targets down): the first write
            # fails, and drops it.
            self.deadline = time.monotonic() + self.server.stop_timeout / 2
        return self.deadline is not None

    def _register(self, poller: Poller, masks: dict[int, int]) -> bool:
        """Ask the poller for what each socket waits on now; a syscall only when that changed.

        True when both wait only to be readable.
        """
        stopping = self.deadline is not None
        for inbound, outbound in self.pairs:
            # A socket is read for its inbound direction and written for its outbound one
            # (inbound.wants_read, inline).
            mask = 0
            if inbound.reading and (stopping or inbound.queued < inbound.limit):
                mask = OUT if inbound.read_wants_write else IN
            if outbound.write_blocked and outbound.queue:
                mask |= IN if outbound.write_wants_read else OUT
            fd = inbound.source_fd
            current = masks[fd]
            if mask == current:
                continue
            if current == 0:
                poller.register(fd, mask)
            elif mask == 0:
                poller.unregister(fd)
            else:
                poller.modify(fd, mask)
            masks[fd] = mask
        return all(mask == IN for mask in masks.values())

    def _ssl_pending(self, d: Direction) -> bool:
        """Decrypted bytes wait inside the SSL object, where select() cannot see them."""
        return d.wants_read(self.deadline is not None) and cast(ssl.SSLSocket, d.source).pending() > 0

    def settle(self, d: Direction) -> None:
        """Once ``d``'s source ended and all its bytes went, pass the end of file on."""
        if d.reading or d.queue or d.half_closed or self.reset_by is not None or self.refused:
            return
        if self._stopping():
            return  # stop() shut the target down already
        if self.faults is not None and not self.faults.may_pass_end(d):
            return
        d.half_closed = True
        with contextlib.suppress(OSError):  # the target is gone: its own read will tell
            socket.socket.shutdown(d.target, socket.SHUT_WR)

    # -- reading -----------------------------------------------------------------

    def _fill(self, d: Direction) -> None:
        """Read and take what ``d.source`` has (while ``d`` has room), and send it on at once.

        A read lands in the scratch buffer and only its bytes are copied out: a fresh
        READ_SIZE buffer per read is a memory mapping (glibc maps blocks over 128 KiB), cut
        to a page and kept by the recording: 4 KiB, a kernel mapping and three syscalls more
        per 6-byte message. A read that fills the scratch buffer puts ``d`` in bulk mode:
        fresh READ_SIZE buffers, the bytes copied once (by the kernel), until a short read.
        """
        if self.reset_by is not None or self.refused:
            return
        scratch = self.scratch
        small = len(scratch)
        while d.reading and (self.deadline is not None or d.queued < d.limit):  # d.wants_read, inline
            bulk = d.bulk
            try:
                data = d.source.recv(READ_SIZE) if bulk else scratch[: d.source.recv_into(scratch)].tobytes()
            except _WANTS_WRITE:
                d.read_wants_write = True
                break
            except _NOT_READY:
                d.read_wants_write = False
                break
            except ssl.SSLEOFError:  # a TLS peer left without close_notify: a normal close
                data = b""
            except ConnectionResetError:
                self._source_reset(d)
                break
            except OSError:
                if not self._stopping():
                    raise
                d.reading = False  # stop() shut it down
                break
            d.read_wants_write = False
            if not data:
                self._end_of_file(d)
                break
            size = len(data)
            full = size == (READ_SIZE if bulk else small)
            if bulk and size < small:
                data = bytes(memoryview(data))  # a copy of its size: the big buffer goes now
            d.bulk = size >= small
            if not self._take(d, data):
                return  # refused: nothing more moves
            if not (full or (d.ssl and cast(ssl.SSLSocket, d.source).pending())):
                break  # the kernel's queue is most likely empty; the poller says when not
        if d.queue and not d.write_blocked and self.reset_by is None and not self.refused:
            self.flush(d)
        elif not d.reading:  # (settle's first test, without the call while the source is read)
            self.settle(d)

    def _take(self, d: Direction, data: bytes) -> bool:
        """Record what ``d.source`` sent and queue it for ``d.target``; False if refused."""
        # A client turn (the connection's first bytes, or after the server spoke) may open TLS;
        # the call only for a turn that starts as TLS records do.
        client_turn = d.client and self.last_side != "client" and not self.client_tls
        if client_turn and data.startswith(TLS_RECORD_START) and opens_tls(data, self.last_side is None):
            self._refuse_tls(data)
            return False
        self.last_side = d.side
        if self.fault_list.version:  # 0 until a fault is first added: then faults decide
            self.faulted().take(d, data)
            return True
        self.record(d.side, data)
        if self.deadline is None:  # once stop() came, its shutdown stops every write
            d.queue.append(data)
            d.queued += len(data)
        return True

    def record(self, side: Side, data: bytes) -> None:
        """Record a chunk read from ``side``: in the cassette as it came, in the recording redacted."""
        self.log.data(side, data, _monotonic())
        shown = data if self.shown is None else self.shown(data)  # what every report shows
        if side == "client":
            self.sink.on_received_messages(shown, (shown,))  # raw: each read is a message
        else:
            self.sink.on_sent(shown)

    def _close(self, side: Side, how: CloseHow) -> None:
        self.log.close(side, how, time.monotonic())

    def _end_of_file(self, d: Direction) -> None:
        d.reading = False
        if self._closed_by_peer(d):
            self._close(d.side, "fin")

    def _source_reset(self, d: Direction) -> None:
        d.reading = False
        if self._closed_by_peer(d):
            self._reset(d.side, d.target)

    def _closed_by_peer(self, d: Direction) -> bool:
        """Was this end of file (or reset) the peer's doing, rather than stop()'s shutdown?"""
        self._stopping()
        return self.session.eof_from_peer(d.source_fd)

    def _refuse_tls(self, data: bytes) -> None:
        self.refused = True
        self.sink.on_note(f"the client's turn of {len(data)} bytes is TLS, not forwarded")
        self.sink.on_error(plain_proxy_error())

    # -- writing -----------------------------------------------------------------

    def flush(self, d: Direction) -> None:
        """Write queued chunks to ``d.target`` until it takes no more."""
        while d.queue:
            head = d.queue[0]
            try:
                sent = d.target.send(memoryview(head)[d.offset :] if d.offset else head)
            except ssl.SSLWantReadError:
                d.write_blocked = d.write_wants_read = True
                return
            except _NOT_READY:
                d.write_blocked, d.write_wants_read = True, False
                return
            except OSError:
                if self._stopping():
                    d.drop_queue()
                    return
                # The target reset (or closed and got our bytes back as a reset).
                self._reset("server" if d.side == "client" else "client", d.source)
                return
            d.write_blocked = d.write_wants_read = False
            d.offset += sent
            d.queued -= sent
            if d.offset == len(head):
                d.queue.popleft()
                d.offset = 0
        if not d.reading:  # (settle's first test, without the call while the source is read)
            self.settle(d)

    # -- endings -----------------------------------------------------------------

    def _reset(self, side: Side, other: socket.socket) -> None:
        """``side`` reset the connection: the other side gets a reset too."""
        self.reset_by = side
        self._close(side, "reset")
        with contextlib.suppress(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)

    def _reason(self) -> str:
        if self.refused:
            return "refused: the client speaks TLS to a plain proxy"
        if self.faults is not None and self.faults.reason is not None:
            if self.faults.reason == FAULT_RESET:
                self.session.reset_on_close()
            return self.faults.reason
        if self.reset_by == "server":
            self.session.reset_on_close()
            return "server reset"
        if self.reset_by == "client":
            return "client reset"
        if self._stopping():
            return "server stopped"
        return "client closed"
