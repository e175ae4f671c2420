"""ReadWatch: the serve loop's wait, on epoll (Linux) or on the selectors default."""

from __future__ import annotations

import os
import select
import socket
import threading

import pytest

from socketdouble.net.watch import ReadWatch

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
