"""Running until told to stop: SIGTERM or SIGINT, or an in-process request (admin ``/shutdown``).

Why a wake-up socket and not a bare ``threading.Event().wait()``: a process signal goes to
any thread that does not block it. When it lands on a server thread, the main thread,
asleep in a lock, is never interrupted, so its Python signal handler does not run until
something else wakes it: the service would ignore SIGTERM. ``signal.set_wakeup_fd`` makes
the C-level handler, whichever thread it runs in, write to a socket the main thread
waits on; the main thread wakes, and its Python handler runs.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import threading
import time
from types import FrameType

__all__ = ["StopRequest"]


class StopRequest:
    """Set by SIGTERM, SIGINT or :meth:`set`; :meth:`wait` blocks until then.

    Used as a context manager in the main thread: the signal handlers (and the wake-up
    socket) are installed on entry and the previous ones restored on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}
        self._previous_wakeup: int | None = None
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None

    def set(self, why: str = "shutdown requested") -> None:
        """Request the stop (from any thread); ``why`` is kept in :attr:`signal_name` if first."""
        if self.signal_name is None:
            self.signal_name = why
        self._event.set()
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(OSError):  # full (a wake-up is queued already) or closed (exited)
                writer.send(b"\0")

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested (True), or ``timeout`` seconds pass (False)."""
        reader = self._reader
        if reader is None:  # not entered: no signal handler to wake up for
            return self._event.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(reader, selectors.EVENT_READ)
            # The handler runs in this thread between two bytecodes, once woken: check after each.
            while not self._event.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if selector.select(remaining):
                    _drain(reader)
        return True

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.set(signal.Signals(number).name)

    def __enter__(self) -> StopRequest:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        try:
            self._previous_wakeup = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._on_signal)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        self._previous.clear()
        if self._previous_wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            self._previous_wakeup = None
        for end in (self._reader, self._writer):
            if end is not None:
                end.close()
        self._reader = self._writer = None


def _drain(reader: socket.socket) -> None:
    """Empty the wake-up socket (its bytes only say "look again")."""
    with contextlib.suppress(BlockingIOError):  # empty: drained
        while reader.recv(4096):
            pass
