"""StopRequest: woken by SIGTERM and SIGINT whichever thread the signal lands on, and by set()."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from socketdouble.service.signals import StopRequest

TIMEOUT = 5.0


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_on_another_thread_wakes_the_main_thread(number: signal.Signals) -> None:
    # A signal taken by a server thread must still end the main thread's wait. The delay
    # only lets the main thread be asleep when it comes (the bug needs that); the test
    # passes whenever it comes.
    with StopRequest() as stop:
        sender = threading.Timer(0.05, lambda: signal.pthread_kill(threading.get_ident(), number))
        sender.start()
        started = time.monotonic()
        try:
            assert stop.wait(TIMEOUT) is True
        finally:
            sender.join(TIMEOUT)
        assert time.monotonic() - started < TIMEOUT / 2
        assert stop.signal_name == number.name


def test_set_from_another_thread_wakes_the_wait() -> None:
    with StopRequest() as stop:
        setter = threading.Thread(target=stop.set)
        setter.start()
        try:
            assert stop.wait(TIMEOUT) is True
        finally:
            setter.join(TIMEOUT)
        assert stop.signal_name == "shutdown requested"
        stop.set("again")  # a second request changes nothing
        assert stop.signal_name == "shutdown requested"


def test_wait_times_out_and_exit_restores_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert signal.getsignal(signal.SIGTERM) != before
        assert stop.wait(0.01) is False
        assert not stop.is_set()
    assert signal.getsignal(signal.SIGTERM) == before
    assert signal.set_wakeup_fd(-1) == -1  # no wake-up socket left installed
    stop.set()  # after exit: nothing to wake, no error
    assert stop.wait(0) is True
