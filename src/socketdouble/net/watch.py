"""Waiting for a few descriptors to be readable, as a server's serve loop does.

Each server runs its serve loop once, over two descriptors (the listener and the
wake-up socket): :class:`ReadWatch` is ``select.epoll`` used directly where there is
one (Linux), without the ``selectors`` module's bookkeeping, which a fixture would pay
on every test; elsewhere it is the ``selectors`` default (kqueue on macOS).

Not a plain ``poll()``: a descriptor closed while a thread waits on it in ``poll()``
stays open until that wait returns (the wait holds the socket), so a listener closed
by ``down()`` would still take connections for a moment. An epoll or a kqueue lets go
of it at once.
"""

from __future__ import annotations

import contextlib
import select
import selectors

__all__ = ["ReadWatch"]


class ReadWatch:
    """Descriptors watched for reading; :meth:`wait` returns those that are ready."""

    def __init__(self, *, use_epoll: bool = hasattr(select, "epoll")) -> None:
        self._epoll = select.epoll() if use_epoll else None
        self._selector = None if use_epoll else selectors.DefaultSelector()

    def add(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_READ)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd``, which may be closed already (then the kernel has forgotten it)."""
        if self._epoll is not None:
            with contextlib.suppress(OSError):  # closed, maybe reused: nothing of ours left to remove
                self._epoll.unregister(fd)
        else:
            assert self._selector is not None
            self._selector.unregister(fd)  # the selector copes with a closed descriptor itself

    def wait(self, timeout: float | None) -> list[int]:
        """The descriptors ready to read (an error counts), waiting at most ``timeout`` s (None: no limit)."""
        if self._epoll is not None:
            seconds = -1.0 if timeout is None else max(timeout, 0.0)
            return [fd for fd, _ in self._epoll.poll(seconds)]
        assert self._selector is not None
        return [key.fd for key, _ in self._selector.select(timeout)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            assert self._selector is not None
            self._selector.close()

    def __enter__(self) -> ReadWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
