"""ReadWatch: the serve loop's wait, on epoll (Linux) or on the selectors default."""

from __future__ import annotations

import os
import select
import socket
import threading

import pytest

from socketdouble.net.watch import ReadWatch, Waker

KINDS = [pytest.param(True, id="epoll"), pytest.param(False, id="selectors")]


@pytest.mark.parametrize("use_epoll", KINDS)
def test_it_says_which_descriptors_are_readable(use_epoll: bool) -> None:
    if use_epoll and not hasattr(select, "epoll"):
        pytest.skip("no epoll on this platform")
    (a, b), (c, d) = socket.socketpair(), socket.socketpair()
    with a, b, c, d, ReadWatch(use_epoll=use_epoll) as watch:
        watch.add(a.fileno())
        watch.add(c.fileno())
        assert watch.wait(0) == []
        d.send(b"x")
        assert watch.wait(5) == [c.fileno()]
        b.send(b"y")
        assert sorted(watch.wait(5)) == sorted([a.fileno(), c.fileno()])
        watch.remove(c.fileno())
        assert watch.wait(5) == [a.fileno()]


@pytest.mark.parametrize("use_epoll", KINDS)
def test_a_descriptor_closed_while_watched_can_still_be_removed(use_epoll: bool) -> None:
    if use_epoll and not hasattr(select, "epoll"):
        pytest.skip("no epoll on this platform")
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with b, c, d, ReadWatch(use_epoll=use_epoll) as watch:
        fd = a.fileno()
        watch.add(fd)
        watch.add(c.fileno())
        a.close()  # as down() closes the listener the serve loop watches
        watch.remove(fd)
        d.send(b"x")
        assert watch.wait(5) == [c.fileno()]


def _asleep(native_id: int) -> bool:
    """True once the thread is blocked in the kernel (Linux: its state is S)."""
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "S"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc to see the wait begin")
def test_a_listener_closed_during_the_wait_refuses_connections_at_once() -> None:
    """What the serve loop needs from its wait (a plain poll() would keep the listener open)."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    wake_reader, wake_writer = socket.socketpair()
    ids: list[int] = []

    def wait() -> None:
        ids.append(threading.get_native_id())
        watch.wait(10)

    with wake_reader, wake_writer, ReadWatch() as watch:
        watch.add(listener.fileno())
        watch.add(wake_reader.fileno())
        waiter = threading.Thread(target=wait)
        waiter.start()
        try:
            began = threading.Event()
            for _ in range(5000):  # bounded: until the other thread sits in its wait
                if ids and _asleep(ids[0]):
                    break
                began.wait(0.001)
            listener.close()  # while the other thread waits on it
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(address, timeout=5).close()
        finally:
            wake_writer.send(b"\0")
            waiter.join(10)


WAKERS = [pytest.param(True, id="eventfd"), pytest.param(False, id="socketpair")]


@pytest.mark.parametrize("use_eventfd", WAKERS)
def test_a_waker_is_readable_from_wake_to_take(use_eventfd: bool) -> None:
    if use_eventfd and not hasattr(os, "eventfd"):
        pytest.skip("no eventfd on this platform")
    with Waker(use_eventfd=use_eventfd) as waker, ReadWatch() as watch:
        watch.add(waker.fileno())
        waker.take()  # nothing to take: no error
        assert watch.wait(0) == []
        for _ in range(3):
            waker.wake()
        assert watch.wait(5) == [waker.fileno()]
        waker.take()  # three wakes are one wake-up
        assert watch.wait(0) == []
        waker.wake()
        assert watch.wait(5) == [waker.fileno()]


@pytest.mark.parametrize("use_eventfd", WAKERS)
def test_a_closed_waker_ignores_late_wakes(use_eventfd: bool) -> None:
    if use_eventfd and not hasattr(os, "eventfd"):
        pytest.skip("no eventfd on this platform")
    waker = Waker(use_eventfd=use_eventfd)
    waker.close()
    waker.close()
    assert waker.fileno() == -1
    waker.wake()  # a nudge from a thread that outlived stop(): nothing happens
    waker.take()


def test_wait_reports_every_ready_descriptor_it_watches() -> None:
    """maxevents follows what is watched: all of them at once, none lost after a removal."""
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        with ReadWatch() as watch:
            for reader, writer in pairs:
                watch.add(reader.fileno())
                writer.send(b"x")
            assert sorted(watch.wait(5)) == sorted(r.fileno() for r, _ in pairs)
            watch.remove(pairs[0][0].fileno())
            watch.remove(pairs[0][0].fileno())  # twice: no longer watched, still counted right
            assert sorted(watch.wait(5)) == sorted(r.fileno() for r, _ in pairs[1:])
    finally:
        for reader, writer in pairs:
            reader.close()
            writer.close()
