"""Waiting on a recording: threads on its Condition, coroutines woken on arrival, cancellable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

import socketdouble as sd
from socketdouble.core.recording import Recording
from socketdouble.core.waiting import NOT_READY, AsyncWaiters


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_opening_a_connection_wakes_a_waiting_thread() -> None:
    recording = Recording()
    with recording.lock:  # held until the wait starts, so the connection opens while we wait
        thread = _in_thread(lambda: recording.open_connection(("127.0.0.1", 1)))
        recording._waiters += 1
        woken = recording.lock.wait(5)  # False if nobody notified (CPython wakes no one spuriously)
        recording._waiters -= 1
        assert woken and len(recording._connections) == 1
    thread.join(5)
    (record,) = recording.wait_for_connections(1, timeout=5)
    assert record.number == 1


def test_wait_for_connections_times_out_with_the_transcript() -> None:
    recording = Recording("broker")
    recording.open_connection(("127.0.0.1", 1)).on_message(b"CONNECT")
    with pytest.raises(sd.WaitTimeout, match=r"(?s)2 connection\(s\) on broker, got 1.*CONNECT"):
        recording.wait_for_connections(2, timeout=0.05)
    assert isinstance(sd.WaitTimeout("x"), TimeoutError)


@pytest.mark.asyncio
async def test_an_async_wait_wakes_when_a_thread_records() -> None:
    recording = Recording()
    waiting = asyncio.create_task(recording.wait_for_requests_async(2, timeout=5))
    await asyncio.sleep(0)  # one turn of the loop: the task has registered its waiter
    assert len(recording._async_waiters) == 1
    record = recording.open_connection(None)

    def arrive() -> None:
        for message in (b"one", b"two", b"three"):
            record.on_message(message)

    thread = _in_thread(arrive)
    assert await waiting == [b"one", b"two"]
    thread.join(5)
    assert len(recording._async_waiters) == 0 and recording._waiters == 0


@pytest.mark.asyncio
async def test_an_async_wait_for_connections_returns_the_records() -> None:
    recording = Recording()
    waiting = asyncio.create_task(recording.wait_for_connections_async(1, timeout=5))
    await asyncio.sleep(0)
    thread = _in_thread(lambda: recording.open_connection(("::1", 2)))
    (record,) = await waiting
    thread.join(5)
    assert (record.number, record.peer) == (1, ("::1", 2))


@pytest.mark.asyncio
async def test_what_has_arrived_already_is_returned_at_once() -> None:
    recording = Recording()
    recording.open_connection(None).on_message(b"early")
    assert await recording.wait_for_requests_async(1) == [b"early"]
    assert await recording.wait_for_requests_async(0) == []
    assert len(recording._async_waiters) == 0


@pytest.mark.asyncio
async def test_an_async_timeout_raises_wait_timeout_and_forgets_the_waiter() -> None:
    recording = Recording("mqtt")
    with pytest.raises(sd.WaitTimeout, match=r"waited 0.05s for 1 request\(s\) on mqtt, got 0"):
        await recording.wait_for_requests_async(1, timeout=0.05)
    assert len(recording._async_waiters) == 0 and recording._waiters == 0


@pytest.mark.asyncio
async def test_a_cancelled_wait_removes_its_waiter() -> None:
    recording = Recording()
    waiting = asyncio.create_task(recording.wait_for_requests_async(1, timeout=5))
    await asyncio.sleep(0)
    assert len(recording._async_waiters) == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert len(recording._async_waiters) == 0 and recording._waiters == 0
    recording.open_connection(None).on_message(b"later")  # nobody to wake: no error
    assert recording.requests == [b"later"]


@pytest.mark.asyncio
async def test_the_loop_runs_while_a_coroutine_waits() -> None:
    recording = Recording()
    waiting = asyncio.create_task(recording.wait_for_requests_async(1, timeout=5))
    ran = []
    for i in range(3):
        await asyncio.sleep(0)
        ran.append(i)
    assert ran == [0, 1, 2] and not waiting.done()
    recording.open_connection(None).on_message(b"x")  # from the loop's own thread works too
    assert await waiting == [b"x"]


def test_a_waiter_of_a_closed_loop_is_dropped_without_breaking_the_worker() -> None:
    waiters = AsyncWaiters()
    loop = asyncio.new_event_loop()

    async def register() -> None:
        waiters.add(lambda: NOT_READY)
        waiters.add(lambda: "ready")

    loop.run_until_complete(register())
    loop.close()
    waiters.wake()  # the second is ready, but its loop is closed: dropped, no RuntimeError
    assert len(waiters) == 1


def test_without_an_asyncio_loop_the_error_names_the_way_out() -> None:
    waiting = Recording().wait_for_requests_async(1)
    with pytest.raises(sd.ConfigurationError, match=r"trio\.to_thread\.run_sync"):
        waiting.send(None)  # driven as trio would: no asyncio loop is running
    waiting.close()
