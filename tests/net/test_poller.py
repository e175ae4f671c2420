"""The pump's poller: epoll used directly, or the selectors default, answering alike."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator

import pytest

from socketdouble.net.poller import IN, OUT, READABLE, WRITABLE, Poller

KINDS = [
    pytest.param(True, id="epoll", marks=pytest.mark.skipif(not hasattr(select, "epoll"), reason="no epoll")),
    pytest.param(False, id="selectors"),
]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def ready(poller: Poller, fd: int, timeout: float) -> int:
    """The events ``fd`` is ready for (0: none) within ``timeout`` s."""
    return sum(events for ready_fd, events in poller.wait(timeout) if ready_fd == fd)


@pytest.mark.parametrize("use_epoll", KINDS)
def test_a_poller_reports_what_each_descriptor_is_ready_for(
    use_epoll: bool, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    fd = a.fileno()
    with Poller(use_epoll=use_epoll) as poller:
        poller.register(fd, IN)
        assert poller.wait(0) == []  # nothing to read yet
        b.sendall(b"x")
        events = ready(poller, fd, 5.0)
        assert events & READABLE and not events & WRITABLE
        poller.modify(fd, OUT)
        events = ready(poller, fd, -1)  # -1: no limit; writable at once
        assert events & WRITABLE and not events & READABLE
        poller.modify(fd, IN | OUT)
        events = ready(poller, fd, 5.0)
        assert events & READABLE and events & WRITABLE
        poller.unregister(fd)
        assert poller.wait(0) == []  # readable still, but no longer watched


@pytest.mark.parametrize("use_epoll", KINDS)
@pytest.mark.parametrize(("watched", "test"), [(IN, READABLE), (OUT, WRITABLE)])
def test_a_hang_up_makes_a_descriptor_ready_for_what_it_is_watched_for(
    use_epoll: bool, watched: int, test: int, pair: tuple[socket.socket, socket.socket]
) -> None:
    # A pump waiting to read learns of the peer's close by reading; one waiting to write
    # (its queue full) by writing.
    a, b = pair
    a.setblocking(False)
    with Poller(use_epoll=use_epoll) as poller:
        if watched == OUT:
            with contextlib.suppress(BlockingIOError):
                while True:  # fill the buffers: not writable until the peer goes
                    a.send(bytes(65536))
        poller.register(a.fileno(), watched)
        assert poller.wait(0) == []
        b.close()
        assert ready(poller, a.fileno(), 5.0) & test
