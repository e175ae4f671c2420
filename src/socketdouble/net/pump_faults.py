"""Stream faults in the proxy's pump: chunks held until their time, endings, slow closes.

A :class:`PumpFaults` exists only on a connection of a proxy whose fault list ever
changed (``server.faults.version != 0``); a pump without one pays an int comparison per
chunk. The connection's faults are its session's (``session.faulty``, which also did
the opening plan before the pump began: a refuse or a reset at accept never gets
here). Each chunk read goes through their plan: its pieces wait in their direction's
``held`` queue until their time, then join the write queue. The cassette keeps what
was read, before faults (the upstream's traffic as it was); the recording shows what
the client sent and, for the other way, the pieces sent to it.

Endings act on the client's side, and the upstream connection ends with it (in the
cassette, as the client's close, which is what the upstream saw); the connection's
close reason is the session's for a fault's ending ("fault: closed", "fault: reset"):

- ``close``: what already passed is written, then the client gets a FIN and the
  upstream a FIN; the upstream is read (and recorded) until its own close.
- ``reset``: at once, an RST to the client (SO_LINGER 0) and to the upstream.
- a blackhole (``at`` is infinite): nothing more passes to the client, not even the
  upstream's close; the connection stays open until the client closes or stop().
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from typing import TYPE_CHECKING, cast

from ..core.stream_faults import ConnectionFaults, Ending, Piece, Plan
from .faulty_io import FAULT_CLOSED, FAULT_RESET, set_linger_reset
from .poller import IN, Poller

if TYPE_CHECKING:
    from .pump import Pump
    from .pump_direction import Direction

__all__ = ["PumpFaults"]


class PumpFaults:
    """What the faults do to one proxied connection, driven by its :class:`~.pump.Pump`."""

    def __init__(self, pump: Pump) -> None:
        self.pump = pump
        self.faulty = pump.session.faulty
        self.ending: Ending | None = None  # the earliest close or reset a fault scheduled
        self.acted = False  # the ending happened
        #: The close reason once a fault ended the connection (FAULT_RESET, FAULT_CLOSED).
        self.reason: str | None = None
        self.closing = False  # a fault closed the connection: passing what is left, then FIN
        self.client_shut = False  # the client got its FIN
        self.fin_at: float | None = None  # when the upstream's close reaches the client (slow_close)
        self.lost = 0  # bytes a fault still held when the connection ended (stop(), a reset)
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._watched = False
        self._follow()

    @property
    def faults(self) -> ConnectionFaults | None:
        """The connection's faults, up to date; None while none acts on it."""
        return self.faulty.current()

    def _follow(self) -> None:
        """Mark the directions a fault ended, and note the earliest ending."""
        faults = self.faulty.faults
        if faults is None:
            return
        for d in self.pump.directions:
            d.cut = d.cut or faults.flow(d.flow).ended is not None
        if not self.acted:
            self.ending = faults.ending()

    # -- chunks --------------------------------------------------------------------

    def take(self, d: Direction, data: bytes) -> None:
        """Record ``data`` read from ``d.source`` and queue what the faults let through."""
        pump = self.pump
        faults = self.faults
        active = faults is not None and faults.flow(d.flow).active
        if pump.deadline is not None or not (active or d.held or self.closing):
            pump.record(d.side, data)  # no fault on this direction now: as without faults
            if pump.deadline is None:  # once stop() came, nothing more is written
                d.queue.append(data)
                d.queued += len(data)
            return
        now = time.monotonic()
        if d.side == "client":
            pump.record(d.side, data)
            # The recording shows what the client is sent: the pieces, as they go.
        else:
            pump.log.data(d.side, data, now)
            if self.closing:  # the client was closed: the upstream is only read to its end
                pump.sink.on_note(f"withheld by a fault: {len(data)} byte(s) to the client")
                return
        # The session's faults record the events (and withheld bytes, as a note). With none
        # acting on this direction, the chunk still waits behind the pieces held before it.
        plan = (self.faulty.plan(d.flow, data) if active else None) or Plan([Piece(now, data)])
        if plan.ending is not None or plan.withheld:
            self._follow()
        for piece in plan.pieces:
            d.held.append(piece)
            d.queued += len(piece.data)
        self.release(d, time.monotonic())
        if d.held and not d.wants_read(False) and self._wake is None:
            self._make_wake()

    def release(self, d: Direction, now: float) -> None:
        """Move the pieces whose time came to the write queue."""
        held = d.held
        sent = d.side == "server"
        while held and held[0].at <= now:
            data = held.popleft().data
            d.queue.append(data)
            if sent:
                self.pump.sink.on_sent(self.pump.redact(data))

    # -- time ----------------------------------------------------------------------

    def due(self) -> float | None:
        """The next time something is to happen: a piece, the ending, a slow close."""
        times = [d.held[0].at for d in self.pump.directions if d.held]
        if self.ending is not None and not self.acted and self.ending.at != math.inf:
            times.append(self.ending.at)
        if self.fin_at is not None and not self.pump.down.half_closed and self.pump.deadline is None:
            times.append(self.fin_at)
        return min(times, default=None)

    def advance(self) -> None:
        """Do what is due now: pass pieces on, act on an ending, pass a slow close on."""
        pump = self.pump
        now = time.monotonic()
        for d in pump.directions:
            if d.held:
                self.release(d, now)
                if d.queue and not d.write_blocked:
                    pump.flush(d)
        ending = self.ending
        if ending is not None and not self.acted and now >= ending.at and pump.reset_by is None:
            self.acted = True
            if ending.how == "reset":
                self._reset()
            else:
                self._close()
        if self.closing and not self.client_shut and not pump.down.queue and pump.reset_by is None:
            self.client_shut = True
            with contextlib.suppress(OSError):  # the client is gone already
                socket.socket.shutdown(pump.down.target, socket.SHUT_WR)
        if self.fin_at is not None and now >= self.fin_at:
            pump.settle(pump.down)

    def _drop_held(self) -> None:
        for d in self.pump.directions:
            dropped = sum(len(piece.data) for piece in d.held)
            d.held.clear()
            d.queued -= dropped
            self.lost += dropped

    def _reset(self) -> None:
        """RST to the client (by the session's close: see Pump._reason) and to the upstream."""
        pump = self.pump
        for d in pump.directions:
            self.lost += d.queued - sum(len(piece.data) for piece in d.held)
        self._drop_held()
        for d in pump.directions:
            d.drop_queue()
        self.reason = FAULT_RESET
        pump.reset_by = "server"  # the pump ends now, as when the upstream resets
        pump.log.close("client", "reset", time.monotonic())
        set_linger_reset(pump.up.target)

    def _close(self) -> None:
        """Close the client's side and the upstream's once what passed is written."""
        pump = self.pump
        self.closing = True
        self.reason = FAULT_CLOSED
        self._drop_held()  # everything due went out by now; the rest never will
        pump.down.cut = True
        if pump.up.reading:  # the upstream sees the client close: so the cassette says
            pump.up.reading = False
            pump.log.close("client", "fin", time.monotonic())
        pump.settle(pump.up)

    # -- closes --------------------------------------------------------------------

    def may_pass_end(self, d: Direction) -> bool:
        """May ``d.source``'s close pass to ``d.target`` now?"""
        if d.held:
            return False
        if d is self.pump.up or self.closing:
            return True  # the client's close always reaches the upstream
        if d.cut:  # a blackhole: the client hears nothing, not even the close
            d.half_closed = True
            return False
        if self.fin_at is None:
            delay = self.faulty.closing_delay()
            if delay <= 0:
                return True
            self.fin_at = time.monotonic() + delay
            self.pump.sink.on_fault(f"slow close: the server's close comes {delay:g} s late")
            # The upstream's close, passed on, is the server's close: the session's own close
            # at the end must not wait again.
            self.pump.session.note_slow_close()
        return time.monotonic() >= self.fin_at

    # -- stop ----------------------------------------------------------------------

    def _make_wake(self) -> None:
        """A socket stop() shuts down: the pump waits on it when neither side is read nor written.

        Both directions over their bound with delayed pieces leave no socket to wait on, so
        stop() would wait for the next piece's time.
        """
        pump = self.pump
        self._wake = socket.socketpair()
        pump.server.track_fd(pump.session, self._wake[0].fileno())
        cast(Poller, pump.poller).register(self._wake[0].fileno(), IN)
        self._watched = True

    def woken(self) -> None:
        """stop() shut the wake socket down: wait on it no more (it stays readable)."""
        if self._wake is not None and self._watched:
            self._watched = False
            cast(Poller, self.pump.poller).unregister(self._wake[0].fileno())

    def finish(self) -> None:
        """The pump ended: note what a fault held and never passed on; free the wake socket."""
        pump = self.pump
        for d in pump.directions:
            if d.held:
                self.lost += sum(len(piece.data) for piece in d.held)
                d.held.clear()
        if self.lost:
            pump.sink.on_note(f"not sent ({self.lost} byte(s)): the connection ended while a fault held them")
        if self._wake is not None:
            self.woken()
            pump.server.untrack_fd(pump.session, self._wake[0].fileno())
            for end in self._wake:
                end.close()
