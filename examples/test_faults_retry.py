"""A client retry survives a connection reset by a fault: redis-py and requests (urllib3's Retry).

``reset(connections=[1])`` resets the first connection as it is accepted (a real RST);
the client sees ECONNRESET, retries on a new connection, and gets its answer.
"""

from __future__ import annotations

import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import socketdouble as sd
from examples.resp import RespCommands, arguments, bulk, command
from socketdouble.doubles import Doubles


def test_redis_py_retries_past_a_reset_first_connection(socketdouble: Doubles) -> None:
    server = socketdouble.tcp(framing=RespCommands(), faults=[sd.faults.reset(connections=[1])], seed=3)
    server.on(lambda m: arguments(m)[:2] == [b"CLIENT", b"SETINFO"]).reply(b"+OK\r\n")
    server.on(command(b"GET", b"greeting")).reply(bulk(b"hello"))
    host, port = server.address
    client = redis.Redis(
        host,
        port,
        socket_timeout=5,
        protocol=2,
        retry=RedisRetry(NoBackoff(), retries=2),
        retry_on_error=[redis.ConnectionError],
    )
    try:
        assert client.get("greeting") == b"hello"
    finally:
        client.close()
    first, second = server.wait_for_connections(2)
    assert first.faults == ["reset at accept"]
    assert first.close_reason == "fault: reset"
    assert first.requests == []  # reset before it could say anything
    assert second.faults == []
    assert [arguments(m)[0] for m in second.requests][-1] == b"GET"
    assert "faults seeded with seed=3" in server.recording.transcript()


def test_requests_retries_past_a_reset_first_connection(socketdouble: Doubles) -> None:
    server = socketdouble.tcp(framing=sd.http(), faults=[sd.faults.reset(connections=[1])])
    server.on(sd.prefix(b"GET /health ")).reply(sd.http_response(200, b"ok"))
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, backoff_factor=0)))
    try:
        response = session.get(f"http://{server.host}:{server.port}/health", timeout=5)
    finally:
        session.close()
    assert (response.status_code, response.content) == (200, b"ok")
    first, second = server.wait_for_connections(2)
    assert (first.faults, first.close_reason) == (["reset at accept"], "fault: reset")
    assert second.requests[0].startswith(b"GET /health HTTP/1.1\r\n")
