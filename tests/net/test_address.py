from __future__ import annotations

import socket

import pytest

from socketdouble.net import address
from socketdouble.net.address import listen_backlog


def test_the_listen_backlog_is_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return 4242

    monkeypatch.setattr(address, "_system_backlog", read)
    listen_backlog.cache_clear()
    try:
        assert [listen_backlog() for _ in range(3)] == [4242, 4242, 4242]
        assert reads == [1]
    finally:
        listen_backlog.cache_clear()  # the next caller reads the real value again


def test_the_listen_backlog_is_at_least_the_system_default() -> None:
    assert listen_backlog() >= socket.SOMAXCONN
    assert address._system_backlog() == listen_backlog()
