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
import selectors
import socket
import ssl
import time
from collections import deque
from typing import TYPE_CHECKING, cast

from ..core.cassette import CloseHow, ConnectionLog, Redactor, Side
from ..core.fault_spec import Flow
from ..core.stream_faults import Piece
from ..errors import ConfigurationError
from .faulty_io import FAULT_RESET
from .pump_faults import PumpFaults
from .stream import LINGER_RESET, StreamSession

__all__ = ["CLIENT_HELLO", "QUEUE_LIMIT", "READ_SIZE", "TLS_RECORD_START", "Pump"]

if TYPE_CHECKING:
    from .stream import StreamServer

#: Most bytes one direction holds while its target is slow (then its source waits).
QUEUE_LIMIT = 256 * 1024
#: Bytes asked for per read.
READ_SIZE = 256 * 1024
#: A TLS record header, as a TLS client's first bytes always start (handshake, TLS 1.x).
TLS_RECORD_START = b"\x16\x03"
#: The handshake type at offset 5 of a TLS record that opens a session.
CLIENT_HELLO = b"\x01"
_WANTS_WRITE = (ssl.SSLWantWriteError,)
_NOT_READY = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _Direction:
    """Bytes on their way from ``source`` to ``target``."""

    def __init__(self, side: Side, source: socket.socket, target: socket.socket) -> None:
        self.side = side
        self.source = source
        self.target = target
        self.source_fd = source.fileno()
        self.target_fd = target.fileno()
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.offset = 0  # bytes of queue[0] already written
        self.reading = True  # until the source's end of file (or reset)
        self.half_closed = False  # the target's write side was shut after end of file
        self.read_wants_write = False  # an SSL read waits for the socket to be writable
        self.write_blocked = False  # the last write could not take everything
        self.write_wants_read = False  # an SSL write waits for the socket to be readable
        self.ssl = isinstance(source, ssl.SSLSocket)
        # Faults (see pump_faults): the direction as a fault names it, the pieces a fault
        # delays (each with its time; they follow what is in ``queue``), and whether a fault
        # ended the direction.
        self.flow: Flow = "from_client" if side == "client" else "to_client"
        self.held: deque[Piece] = deque()
        self.cut = False

    def wants_read(self, stopping: bool) -> bool:
        return self.reading and (stopping or self.queued < QUEUE_LIMIT)

    def drop_queue(self) -> None:
        self.queue.clear()
        self.queued = self.offset = 0


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
        self.client_tls = client_tls
        self.up = _Direction("client", session.sock, upstream)
        self.down = _Direction("server", upstream, session.sock)
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
        self.selector: selectors.BaseSelector | None = None

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
        with selectors.DefaultSelector() as selector:
            self.selector = selector
            try:
                self._loop(first, selector, sockets, masks)
            finally:
                if self.faults is not None:
                    self.faults.finish()
        return self._reason()

    def _loop(
        self,
        first: bytes,
        selector: selectors.BaseSelector,
        sockets: dict[int, tuple[_Direction, _Direction]],
        masks: dict[int, int],
    ) -> None:
        up = self.up
        if self.fault_list.version:  # faults from the start: an ending the opening scheduled
            self.faulted().advance()
        if first and self.reset_by is None and self._take(up, first):
            self.flush(up)
        while not self._over():
            timeout = self._timeout()
            if timeout is not None and timeout < 0:
                break  # stop()'s deadline passed
            self._register(selector, masks)
            for key, events in selector.select(timeout):
                try:
                    inbound, outbound = sockets[key.fd]
                except KeyError:  # stop() shut the faults' wake socket down (free when not raised)
                    cast(PumpFaults, self.faults).woken()
                    continue
                if events & (selectors.EVENT_WRITE if inbound.read_wants_write else selectors.EVENT_READ):
                    self._fill(inbound)
                if outbound.write_blocked and events & (
                    selectors.EVENT_READ if outbound.write_wants_read else selectors.EVENT_WRITE
                ):
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
        """How long the next select() may wait: None (until something happens), 0, or
        what is left of stop()'s deadline (negative once it passed)."""
        remaining = None
        if self._check_stopping():
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
        return self._check_stopping()

    def _check_stopping(self) -> bool:
        if self.deadline is None and self.session.stopping.is_set():
            # Half the stop budget: stop() still joins this thread within stop_timeout. What
            # is queued goes nowhere now (stop() shut the targets down): the first write
            # fails, and drops it.
            self.deadline = time.monotonic() + self.server.stop_timeout / 2
        return self.deadline is not None

    def _register(self, selector: selectors.BaseSelector, masks: dict[int, int]) -> None:
        """Ask select() for what each socket waits on now; a syscall only when that changed."""
        stopping = self.deadline is not None
        for inbound, outbound in self.pairs:
            # A socket is read for its inbound direction and written for its outbound one.
            mask = 0
            if inbound.wants_read(stopping):
                mask = selectors.EVENT_WRITE if inbound.read_wants_write else selectors.EVENT_READ
            if outbound.write_blocked and outbound.queue:
                mask |= selectors.EVENT_READ if outbound.write_wants_read else selectors.EVENT_WRITE
            fd = inbound.source_fd
            current = masks[fd]
            if mask == current:
                continue
            if current == 0:
                selector.register(fd, mask)
            elif mask == 0:
                selector.unregister(fd)
            else:
                selector.modify(fd, mask)
            masks[fd] = mask

    def _ssl_pending(self, d: _Direction) -> bool:
        """Decrypted bytes wait inside the SSL object, where select() cannot see them."""
        return d.wants_read(self.deadline is not None) and cast(ssl.SSLSocket, d.source).pending() > 0

    def settle(self, d: _Direction) -> None:
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

    def _fill(self, d: _Direction) -> None:
        """Read what ``d.source`` has (while ``d`` has room), and send it on at once."""
        if self.reset_by is not None or self.refused:
            return
        self._read(d)
        if d.queue and not d.write_blocked and self.reset_by is None and not self.refused:
            self.flush(d)
        else:
            self.settle(d)

    def _read(self, d: _Direction) -> None:
        while d.wants_read(self.deadline is not None):
            try:
                data = d.source.recv(READ_SIZE)
            except _WANTS_WRITE:
                d.read_wants_write = True
                return
            except _NOT_READY:
                d.read_wants_write = False
                return
            except ssl.SSLEOFError:  # a TLS peer left without close_notify: a normal close
                data = b""
            except ConnectionResetError:
                self._source_reset(d)
                return
            except OSError:
                if not self._stopping():
                    raise
                d.reading = False  # stop() shut it down
                return
            d.read_wants_write = False
            if not data:
                self._end_of_file(d)
                return
            if not self._take(d, data):
                return
            if not (d.ssl and cast(ssl.SSLSocket, d.source).pending()) and len(data) < READ_SIZE:
                return  # the kernel's queue is most likely empty; select() says when not

    def _take(self, d: _Direction, data: bytes) -> bool:
        """Record what ``d.source`` sent and queue it for ``d.target``; False if refused."""
        if d.side == "client" and self.last_side != "client" and self._starts_tls(data):
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

    def _starts_tls(self, data: bytes) -> bool:
        """Does this client turn open a TLS session the proxy cannot see into?

        A connection's first bytes are checked for a TLS record header; a later turn (after
        STARTTLS, or PostgreSQL's SSLRequest answered ``S``) for a whole ClientHello header.
        """
        if self.client_tls or not data.startswith(TLS_RECORD_START):
            return False
        return self.last_side is None or data[5:6] == CLIENT_HELLO

    def record(self, side: Side, data: bytes) -> None:
        self.log.data(side, data, time.monotonic())
        shown = self.redact(data)  # what the recording (and so every report) shows
        if side == "client":
            self.sink.on_received(shown)
            self.sink.on_message(shown)
        else:
            self.sink.on_sent(shown)

    def _close(self, side: Side, how: CloseHow) -> None:
        self.log.close(side, how, time.monotonic())

    def _end_of_file(self, d: _Direction) -> None:
        d.reading = False
        if self._closed_by_peer(d):
            self._close(d.side, "fin")

    def _source_reset(self, d: _Direction) -> None:
        d.reading = False
        if self._closed_by_peer(d):
            self._reset(d.side, d.target)

    def _closed_by_peer(self, d: _Direction) -> bool:
        """Was this end of file (or reset) the peer's doing, rather than stop()'s shutdown?"""
        self._check_stopping()
        return self.session.eof_from_peer(d.source_fd)

    def _refuse_tls(self, data: bytes) -> None:
        self.refused = True
        self.sink.on_note(f"the client's turn of {len(data)} bytes is TLS, not forwarded")
        self.sink.on_error(
            ConfigurationError(
                "the client speaks TLS (its turn starts with a TLS record header, 0x16 0x03: at "
                "connect, or after STARTTLS or PostgreSQL's SSLRequest) but this "
                "proxy has no ssl_context, so the recording would hold ciphertext that can never "
                "replay; pass ssl_context= (and upstream_ssl_context= for a TLS upstream) to the "
                "proxy, or turn TLS off in the client"
            )
        )

    # -- writing -----------------------------------------------------------------

    def flush(self, d: _Direction) -> None:
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
