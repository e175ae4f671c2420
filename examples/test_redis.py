"""redis-py talking to a double of a few Redis commands."""

from __future__ import annotations

import redis

from examples.resp import RespCommands, arguments, bulk, command
from socketdouble.doubles import Doubles


def test_redis_py_get_set(socketdouble: Doubles) -> None:
    server = socketdouble.tcp(framing=RespCommands())
    server.on(lambda m: arguments(m)[:2] == [b"CLIENT", b"SETINFO"]).reply(b"+OK\r\n")
    server.on(command(b"SET", b"greeting", b"hello")).reply(b"+OK\r\n")
    server.on(command(b"GET", b"greeting")).reply(bulk(b"hello"))
    server.on(command(b"PING")).reply(b"+PONG\r\n")
    host, port = server.address
    client = redis.Redis(host, port, socket_timeout=5, protocol=2)
    try:
        assert client.ping() is True
        assert client.set("greeting", "hello") is True
        assert client.get("greeting") == b"hello"
    finally:
        client.close()
    commands = [arguments(m)[0] for m in server.recording.requests]
    assert commands[-3:] == [b"PING", b"SET", b"GET"]
