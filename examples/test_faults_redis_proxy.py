"""redis-py through a RecordingProxy with faults, in front of a real redis-server.

The proxy sits between redis-py and a real ``redis-server`` (on a free loopback port);
faults added at run time act on the open pooled connection from its next reply: a
latency beyond ``socket_timeout`` makes redis-py time out, and once cleared the next
command succeeds; a reset is a real RST (ECONNRESET under redis-py's ConnectionError);
bandwidth bounds how fast a known value can come back. The cassette keeps redis's
replies as they were, whatever the faults did to them.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import socketdouble as sd
from examples.redis_server import redis_server
from socketdouble.core.cassette import DataEvent
from socketdouble.doubles import Doubles


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def redis_address() -> Iterator[tuple[str, int]]:
    """A real redis-server on a free loopback port, stopped afterwards."""
    port = free_port()
    with redis_server("--port", str(port), "--bind", "127.0.0.1"):
        yield ("127.0.0.1", port)


def client_of(proxy: sd.BaseServer, timeout: float, retries: int = 0) -> redis.Redis:
    """redis-py on one pooled connection; ``retries`` (redis-py retries 3 times by default)."""
    return redis.Redis(
        host="127.0.0.1",
        port=proxy.port or 0,
        socket_timeout=timeout,
        protocol=2,
        retry=Retry(NoBackoff(), retries),
    )


def test_socket_timeout_fires_on_an_open_connection_once_latency_is_added_and_not_once_cleared(
    socketdouble: Doubles, redis_address: tuple[str, int]
) -> None:
    proxy = socketdouble.add(sd.RecordingProxy(redis_address))
    client = client_of(proxy, timeout=0.5)
    try:
        assert client.set("user:1", "ann")  # the pooled connection is open from here on
        proxy.faults.append(sd.faults.latency(1.0))
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.get("user:1")
        assert time.monotonic() - started >= 0.5
        proxy.faults.clear()
        assert client.get("user:1") == b"ann"  # redis-py reconnected: no fault any more
    finally:
        client.close()
    first, second = proxy.wait_for_connections(2)
    assert first.faults == ["latency 1.0 s on data to the client"]
    assert second.faults == []
    proxy.stop()
    # The cassette holds redis's late reply, as redis sent it.
    replies = [e.payload for e in proxy.cassette().connections[0].events if isinstance(e, DataEvent)]
    assert bytes(replies[-1]) == b"$3\r\nann\r\n"


def test_latency_under_the_timeout_slows_the_same_connection_until_cleared(
    socketdouble: Doubles, redis_address: tuple[str, int]
) -> None:
    proxy = socketdouble.add(sd.RecordingProxy(redis_address))
    client = client_of(proxy, timeout=5)
    try:
        client.set("k", "v")
        proxy.faults.append(sd.faults.latency(0.3, direction="both"))
        started = time.monotonic()
        assert client.get("k") == b"v"
        assert time.monotonic() - started >= 0.6  # 0.3 s each way
        proxy.faults.clear()
        started = time.monotonic()
        assert client.get("k") == b"v"
        assert time.monotonic() - started < 0.6
    finally:
        client.close()
    [connection] = proxy.recording.connections  # all on one pooled connection
    assert connection.faults == [
        "latency 0.3 s on data from the client",
        "latency 0.3 s on data to the client",
    ]


def test_a_reset_after_bytes_is_a_connection_error_with_econnreset_underneath(
    socketdouble: Doubles, redis_address: tuple[str, int]
) -> None:
    proxy = socketdouble.add(sd.RecordingProxy(redis_address))
    client = client_of(proxy, timeout=5)
    try:
        client.set("k", "value")
        proxy.faults.append(sd.faults.reset(after_bytes=4))
        with pytest.raises(redis.ConnectionError) as failure:
            client.get("k")
    finally:
        client.close()
    cause = failure.value.__cause__ or failure.value.__context__
    assert isinstance(cause, ConnectionResetError) and cause.errno == errno.ECONNRESET
    [connection] = proxy.recording.connections
    assert connection.faults == ["reset after 4 bytes to the client"]
    assert connection.sent.endswith(b"$5\r\n")  # four bytes of the reply, then the reset


def test_a_client_retry_survives_a_reset_of_the_first_connection(
    socketdouble: Doubles, redis_address: tuple[str, int]
) -> None:
    proxy = socketdouble.add(
        sd.RecordingProxy(redis_address, faults=[sd.faults.reset(after_bytes=2, connections=[1])])
    )
    client = client_of(proxy, timeout=5, retries=1)
    try:
        assert client.set("k", "v")  # connection 1 is reset mid-reply; the retry uses connection 2
        assert client.get("k") == b"v"
    finally:
        client.close()
    first, second = proxy.wait_for_connections(2)
    assert (first.faults, first.close_reason) == (["reset after 2 bytes to the client"], "fault: reset")
    assert second.faults == []


def test_bandwidth_is_a_lower_bound_on_reading_a_known_value(
    socketdouble: Doubles, redis_address: tuple[str, int]
) -> None:
    value = os.urandom(200_000)
    rate = 400_000.0
    proxy = socketdouble.add(sd.RecordingProxy(redis_address))
    client = client_of(proxy, timeout=10)
    try:
        client.set("blob", value)
        proxy.faults.append(sd.faults.bandwidth(rate))
        started = time.monotonic()
        assert client.get("blob") == value
        elapsed = time.monotonic() - started
    finally:
        client.close()
    # At most 0.1 s worth goes at once: the rest takes its time.
    assert elapsed >= (len(value) - rate * 0.1) / rate
    assert proxy.recording.connections[0].faults == ["bandwidth 400000.0 bytes/s to the client"]
