"""Whatever clients do, the server keeps serving, stops in time and leaks nothing."""

from __future__ import annotations

import socket
import struct

import socketdouble as sd
from tests.helpers import connect

RESET = struct.pack("ii", 1, 0)


def test_garbage_half_messages_resets_and_bursts_do_not_stop_the_server() -> None:
    with sd.TCPServer(framing=sd.lines(max_length=64)) as server:
        server.on(b"ping\n").reply(b"pong\n")
        abusers = []
        for number in range(300):
            client = connect(server)
            kind = number % 4
            if kind == 0:
                client.sendall(bytes(range(256)) * 2)  # binary garbage, over-long "line"
            elif kind == 1:
                client.sendall(b"half a mess")  # and never the rest
            elif kind == 2:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
                client.sendall(b"ping\n")
                client.close()  # reset
                continue
            abusers.append(client)  # kind 3: connects and says nothing
        with connect(server) as good:
            good.sendall(b"ping\n")
            assert good.recv(10) == b"pong\n"
    for client in abusers:  # closed after stop(), so none of them ends its own connection
        client.close()
    connections = server.recording.connections
    assert len(connections) == 301
    framing_errors = [c for c in connections if isinstance(c.error, sd.FramingError)]
    assert len(framing_errors) == 75
    assert all(c.closed for c in connections)
    assert server.recording.unmatched == []  # half messages cut short by stop() are not
    server.errors.clear()  # the framing errors, asserted above
    server.check()


def test_a_burst_of_two_thousand_short_connections() -> None:
    with sd.UnixStreamServer() as server:
        server.on(b"hi\n").reply(b"ho\n")
        for _ in range(2000):
            with connect(server) as client:
                client.sendall(b"hi\n")
                assert client.recv(10) == b"ho\n"
    assert len(server.recording.requests) == 2000
    server.check()
