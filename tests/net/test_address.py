from __future__ import annotations

import socket

import pytest

from socketdouble.errors import ConfigurationError
from socketdouble.net import address
from socketdouble.net.address import InetEndpoint, listen_backlog


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


@pytest.mark.parametrize("host", ["localhost", "localhost", ["127.0.0.1"], "10.0.0.1"])
def test_a_bad_host_is_refused_every_time_even_with_parsing_remembered(host: object) -> None:
    with pytest.raises(ConfigurationError, match="host="):
        InetEndpoint(host, 0, allow_remote=False)  # type: ignore[arg-type]


def test_a_remembered_host_keeps_its_family() -> None:
    assert InetEndpoint("::1", 0, allow_remote=False).family == socket.AF_INET6
    assert InetEndpoint("127.0.0.1", 0, allow_remote=False).family == socket.AF_INET
    assert InetEndpoint("::1", 0, allow_remote=False).family == socket.AF_INET6
