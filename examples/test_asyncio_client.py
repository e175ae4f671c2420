"""An asyncio streams client on the test's own loop, with the double's async waits."""

from __future__ import annotations

import asyncio

import pytest

import socketdouble as sd
from socketdouble.doubles import Doubles


async def watch(host: str, port: int, symbol: bytes, ticks: int) -> list[bytes]:
    """The code under test: subscribe to a ticker, collect ``ticks`` price lines."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"WATCH " + symbol + b"\r\n")
        await writer.drain()
        assert await reader.readline() == b"OK\r\n"
        return [await reader.readline() for _ in range(ticks)]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
async def test_the_client_gets_pushed_prices(socketdouble: Doubles) -> None:
    ticker = socketdouble.tcp(framing=sd.lines(b"\r\n"))
    ticker.on(sd.prefix(b"WATCH ")).reply(b"OK\r\n")
    host, port = ticker.address
    client = asyncio.create_task(watch(host, port, b"ACME", ticks=2))
    # Waiting must not block the loop: the client runs on it.
    assert await ticker.wait_for_requests_async(1, timeout=5) == [b"WATCH ACME\r\n"]
    ticker.send(b"ACME 101.5\r\n")
    ticker.send(b"ACME 102.0\r\n")
    assert await asyncio.wait_for(client, 5) == [b"ACME 101.5\r\n", b"ACME 102.0\r\n"]
    (connection,) = await ticker.wait_for_connections_async(1)
    assert connection.sent == b"OK\r\nACME 101.5\r\nACME 102.0\r\n"
