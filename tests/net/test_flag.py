"""Flag: a threading.Event made of one lock, for the flags every server and connection carries."""

from __future__ import annotations

import os
import threading

import pytest

from socketdouble.net.flag import Flag

TIMEOUT = 5.0


def test_it_is_an_event_that_starts_clear_and_stays_set() -> None:
    flag = Flag()
    assert isinstance(flag, threading.Event)
    assert not flag.is_set() and not flag.wait(0) and not flag.wait(0.01) and not flag.wait(-1)
    flag.set()
    flag.set()  # twice is once
    assert flag.is_set() and flag.wait() and flag.wait(0) and flag.wait(TIMEOUT)
    assert repr(flag) == "<Flag set>"


def test_clear_makes_waits_block_again() -> None:
    flag = Flag()
    flag.set()
    flag.clear()
    flag.clear()
    assert not flag.is_set() and not flag.wait(0.01)
    flag.set()
    assert flag.wait(0)


def _asleep(native_id: int) -> bool:
    """True once the thread is blocked in the kernel (Linux: its state is S)."""
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "S"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc to see the waits begin")
def test_set_wakes_every_waiting_thread() -> None:
    flag = Flag()
    ids: list[int] = []
    woke: list[bool] = []

    def wait() -> None:
        ids.append(threading.get_native_id())
        woke.append(flag.wait(TIMEOUT))

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for thread in threads:
        thread.start()
    pause = threading.Event()
    for _ in range(5000):  # bounded: until all three sit in their wait
        if len(ids) == 3 and all(_asleep(i) for i in ids):
            break
        pause.wait(0.001)
    flag.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert woke == [True, True, True]
    assert not flag._gate.locked()  # every waiter passed the gate and left it open


def test_a_wait_that_times_out_says_false_and_leaves_the_flag_usable() -> None:
    flag = Flag()
    assert flag.wait(0.01) is False
    waiter_result: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_result.append(flag.wait(TIMEOUT)))
    waiter.start()
    flag.set()
    waiter.join(TIMEOUT)
    assert waiter_result == [True]
