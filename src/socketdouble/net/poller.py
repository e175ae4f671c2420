"""Waiting on a few descriptors for reading and writing, as the proxy's pump does per chunk.

Where there is ``select.epoll`` (Linux) a :class:`Poller` is that epoll, used directly:
:attr:`Poller.wait` is ``epoll.poll`` itself, so a wait costs the pump no Python-level
call and no ``selectors`` bookkeeping (a key per ready descriptor). Elsewhere it is the
``selectors`` default (kqueue on macOS), whose answers are translated to the same
``(fd, events)`` pairs. An error or hang-up makes a descriptor ready for what it is
watched for (epoll: for both), so test readiness with :data:`READABLE` and
:data:`WRITABLE`, not with :data:`IN` and :data:`OUT`; the pump's reads and writes are
non-blocking, so a readiness more than asked for costs one try.
"""

from __future__ import annotations

import select
import selectors
from collections.abc import Callable
from typing import TypeVar

__all__ = ["IN", "OUT", "READABLE", "WRITABLE", "EpollOrSelector", "Poller"]

W = TypeVar("W", bound="EpollOrSelector")

#: Wait until readable / writable (``EPOLLIN`` and ``EPOLLOUT`` on Linux).
IN, OUT = 1, 4
#: ``events & READABLE``: the descriptor can be read (or failed); ``& WRITABLE``: written.
READABLE, WRITABLE = ~OUT, ~IN
if hasattr(select, "epoll"):  # the values above are epoll's own, passed through untranslated
    assert (select.EPOLLIN, select.EPOLLOUT) == (IN, OUT)


class EpollOrSelector:
    """An epoll where there is one (Linux), else the ``selectors`` default; closed by close() or ``with``."""

    def __init__(self, *, use_epoll: bool = hasattr(select, "epoll")) -> None:
        self._epoll = select.epoll() if use_epoll else None
        self._selector = None if use_epoll else selectors.DefaultSelector()

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            assert self._selector is not None
            self._selector.close()

    def __enter__(self: W) -> W:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Poller(EpollOrSelector):
    """Descriptors watched for :data:`IN` and/or :data:`OUT`; :attr:`wait` returns the ready ones."""

    #: ``wait(timeout)``: the ready ``(fd, events)`` pairs, waiting at most ``timeout``
    #: seconds (negative: no limit).
    wait: Callable[[float], list[tuple[int, int]]]
    #: ``register(fd, events)``: watch ``fd`` for ``events`` (:data:`IN`, :data:`OUT`, or both).
    register: Callable[[int, int], None]
    #: ``modify(fd, events)``: watch ``fd`` for ``events`` instead.
    modify: Callable[[int, int], None]
    #: ``unregister(fd)``: stop watching ``fd``.
    unregister: Callable[[int], None]

    def __init__(self, *, use_epoll: bool = hasattr(select, "epoll")) -> None:
        super().__init__(use_epoll=use_epoll)
        if self._epoll is not None:
            epoll = self._epoll
            self.wait, self.register, self.modify, self.unregister = (
                epoll.poll,
                epoll.register,
                epoll.modify,
                epoll.unregister,
            )
        else:
            self.wait, self.register, self.modify, self.unregister = (
                self._select,
                self._register,
                self._modify,
                self._unregister,
            )

    # -- elsewhere: a selectors default, answering as epoll does ----------------

    def _register(self, fd: int, events: int) -> None:
        assert self._selector is not None
        self._selector.register(fd, _selector_events(events))

    def _modify(self, fd: int, events: int) -> None:
        assert self._selector is not None
        self._selector.modify(fd, _selector_events(events))

    def _unregister(self, fd: int) -> None:
        assert self._selector is not None
        self._selector.unregister(fd)

    def _select(self, timeout: float) -> list[tuple[int, int]]:
        assert self._selector is not None
        ready = self._selector.select(None if timeout < 0 else timeout)
        read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
        return [
            (key.fd, (IN if events & read else 0) | (OUT if events & write else 0)) for key, events in ready
        ]


def _selector_events(events: int) -> int:
    return (selectors.EVENT_READ if events & IN else 0) | (selectors.EVENT_WRITE if events & OUT else 0)
