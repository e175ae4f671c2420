"""Waiting for a few descriptors to be readable, as a server's serve loop does; waking it.

Each server runs its serve loop once, over two descriptors (the listener and the
wake-up descriptor): :class:`ReadWatch` is ``select.epoll`` used directly where there is
one (Linux), without the ``selectors`` module's bookkeeping, which a fixture would pay
on every test; elsewhere it is the ``selectors`` default (kqueue on macOS).

Not a plain ``poll()``: a descriptor closed while a thread waits on it in ``poll()``
stays open until that wait returns (the wait holds the socket), so a listener closed
by ``down()`` would still take connections for a moment. An epoll or a kqueue lets go
of it at once.

:class:`Waker` is what other threads write to wake the loop: an ``eventfd`` (Linux: one
descriptor, a counter, no buffer to fill), elsewhere a socket pair.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import socket
import threading

from .poller import EpollOrSelector

__all__ = ["ReadWatch", "Waker"]


class ReadWatch(EpollOrSelector):
    """Descriptors watched for reading; :meth:`wait` returns those that are ready."""

    def __init__(self, *, use_epoll: bool = hasattr(select, "epoll")) -> None:
        super().__init__(use_epoll=use_epoll)
        # What is watched, to size each epoll.poll(): without maxevents it makes room for
        # FD_SETSIZE - 1 events on every call.
        self._fds: set[int] = set()

    def add(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
            self._fds.add(fd)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_READ)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd``, which may be closed already (then the kernel has forgotten it)."""
        if self._epoll is not None:
            # Counted off even when closed: the kernel dropped it from the set with its last close.
            self._fds.discard(fd)
            with contextlib.suppress(OSError):  # closed, maybe reused: nothing of ours left to remove
                self._epoll.unregister(fd)
        else:
            assert self._selector is not None
            self._selector.unregister(fd)  # the selector copes with a closed descriptor itself

    def wait(self, timeout: float | None) -> list[int]:
        """The descriptors ready to read (an error counts), waiting at most ``timeout`` s (None: no limit)."""
        if self._epoll is not None:
            seconds = -1.0 if timeout is None else max(timeout, 0.0)
            return [fd for fd, _ in self._epoll.poll(seconds, len(self._fds) or 1)]
        assert self._selector is not None
        return [key.fd for key, _ in self._selector.select(timeout)]


class Waker:
    """A descriptor that turns readable when any thread calls :meth:`wake`, until :meth:`take`.

    Wakes are counted, not queued: any number of them before a :meth:`take` is one
    wake-up, and a wake never blocks. :meth:`wake` after :meth:`close` does nothing
    (a late nudge from another thread never writes to a reused descriptor number).
    """

    def __init__(self, *, use_eventfd: bool = hasattr(os, "eventfd")) -> None:
        self._lock = threading.Lock()  # wake() against close(): the number is never reused under it
        self._pair: tuple[socket.socket, socket.socket] | None = None
        if use_eventfd:
            self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:
            reader, writer = self._pair = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._fd = reader.fileno()

    def fileno(self) -> int:
        """The descriptor to watch for reading (-1 once closed)."""
        return self._fd

    def wake(self) -> None:
        """Make the descriptor readable; from any thread, never blocking."""
        with self._lock:
            if self._fd < 0:
                return  # closed: whoever waited is gone
            try:
                if self._pair is None:
                    os.eventfd_write(self._fd, 1)
                else:
                    self._pair[1].send(b"\1")
            except BlockingIOError:  # the counter or buffer is full: the descriptor is readable already
                return

    def take(self) -> None:
        """Consume the wakes so far: the descriptor is no longer readable (until the next wake)."""
        with self._lock:  # against close(): never a read of a reused descriptor number
            if self._fd < 0:
                return
            if self._pair is None:
                with contextlib.suppress(BlockingIOError):  # no wake since the last take
                    os.eventfd_read(self._fd)
                return
            reader = self._pair[0]
            for _ in range(16):  # a few reads empty it; anything left wakes the next wait at once
                try:
                    if not reader.recv(4096):
                        return
                except (BlockingIOError, InterruptedError):  # emptied: every wake so far is taken
                    return

    def close(self) -> None:
        """Close the descriptor(s); later wakes do nothing."""
        with self._lock:
            fd, self._fd = self._fd, -1
            if fd < 0:
                return
            if self._pair is None:
                os.close(fd)
            else:
                for sock in self._pair:
                    sock.close()

    def __enter__(self) -> Waker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
