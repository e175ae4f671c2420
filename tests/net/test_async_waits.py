"""The async waits on real servers: an asyncio client on the same loop is never blocked."""

from __future__ import annotations

import asyncio

import pytest

import socketdouble as sd


@pytest.mark.asyncio
async def test_an_asyncio_client_and_the_wait_share_one_loop() -> None:
    with sd.TCPServer() as server:
        server.on(b"PING\n").reply(b"PONG\n")
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            (record,) = await server.wait_for_connections_async(1)
            writer.write(b"PING\n")
            await writer.drain()
            assert await server.wait_for_requests_async(1) == [b"PING\n"]
            assert await asyncio.wait_for(reader.readline(), 5) == b"PONG\n"
            server.send(b"NEWS\n", connection=record)
            assert await asyncio.wait_for(reader.readline(), 5) == b"NEWS\n"
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.asyncio
async def test_an_async_wait_times_out_with_the_transcript() -> None:
    with sd.TCPServer(name="quiet") as server:
        with pytest.raises(sd.WaitTimeout, match=r"1 connection\(s\) on quiet, got 0"):
            await server.wait_for_connections_async(1, timeout=0.05)
        with pytest.raises(sd.WaitTimeout, match=r"1 request\(s\) on quiet, got 0"):
            await server.wait_for_requests_async(1, timeout=0.05)
