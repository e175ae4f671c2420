"""Waiting for a recording to reach a state, from threads and from event loops.

A thread waits on the recording's Condition. A coroutine cannot (it would block its
event loop, where the client under test usually runs), so it registers an
:class:`AsyncWaiters` entry instead: a readiness function and an asyncio future. The
worker that changes the recording calls :meth:`AsyncWaiters.wake` under the recording's
lock; each waiter whose function now returns a value gets it through
``loop.call_soon_threadsafe``, so the coroutine wakes on arrival, with no polling.

Only asyncio primitives are used: trio (and anyio on its trio backend) has no asyncio
loop to call back into; see :func:`await_ready`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import ConfigurationError

__all__ = ["NOT_READY", "AsyncWaiters", "await_ready"]

T = TypeVar("T")

#: Tells "not yet" from a ready value that happens to be falsy (an empty list).
NOT_READY: Any = object()


class _Waiter(Generic[T]):
    __slots__ = ("future", "loop", "ready")

    def __init__(self, ready: Callable[[], T], loop: asyncio.AbstractEventLoop) -> None:
        self.ready = ready
        self.loop = loop
        self.future: asyncio.Future[T] = loop.create_future()


class AsyncWaiters:
    """Coroutines waiting on one recording; every method runs under its lock."""

    def __init__(self) -> None:
        self._waiting: list[_Waiter[Any]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, ready: Callable[[], T]) -> asyncio.Future[T]:
        """A future on the running loop, resolved with ``ready()`` once it is not NOT_READY."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigurationError(
                "the *_async waits need a running asyncio event loop (trio has none); under trio, "
                "await trio.to_thread.run_sync(server.wait_for_requests, n) instead"
            ) from None
        waiter = _Waiter(ready, loop)
        self._waiting.append(waiter)
        return waiter.future

    def remove(self, future: asyncio.Future[Any]) -> None:
        """Forget the waiter of ``future`` (done, timed out or cancelled); idempotent."""
        self._waiting = [waiter for waiter in self._waiting if waiter.future is not future]

    def wake(self) -> None:
        """Resolve every waiter whose condition holds now (called when the state changed)."""
        still = []
        for waiter in self._waiting:
            value = waiter.ready()
            if value is NOT_READY:
                still.append(waiter)
                continue
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future, value)
            except RuntimeError:
                # The loop is closed: nothing can await this future any more. Dropping the
                # waiter is right; raising would break the worker that recorded the traffic.
                continue
        self._waiting = still


def _resolve(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # cancelled or timed out meanwhile: the waiter has gone
        future.set_result(value)


async def await_ready(future: asyncio.Future[T], timeout: float, forget: Callable[[], None]) -> T | None:
    """Await ``future`` for ``timeout`` seconds; None on timeout. ``forget`` runs in every case.

    Cancelling the awaiting task cancels the future and removes its waiter. Under trio
    there is no asyncio loop to register with; supporting it would take anyio's
    ``from_thread`` (a new dependency) or a trio token per waiter.
    """
    try:
        return await asyncio.wait_for(future, timeout)
    except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
        return None
    finally:
        forget()
