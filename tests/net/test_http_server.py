"""http() on a real connection: a request that breaks the framing is that connection's error."""

from __future__ import annotations

import pytest

import socketdouble as sd
from tests.helpers import connect, recv_until_closed


def test_a_bad_content_length_is_a_framing_error_of_its_connection() -> None:
    with sd.TCPServer(framing=sd.http()) as server:
        server.on(sd.ANY).reply(sd.http_response(body=b"ok"))
        with connect(server) as good:
            good.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert good.recv(100).endswith(b"\r\n\r\nok")
            with connect(server) as bad:
                bad.sendall(b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
                assert recv_until_closed(bad) == b""  # closed, and the server goes on
            good.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            assert good.recv(100).endswith(b"\r\n\r\nok")
    assert isinstance(server.recording.connections[1].error, sd.FramingError)
    with pytest.raises(sd.CheckFailed, match="Content-Length '-5' is not a number of bytes"):
        server.check()
    server.errors.clear()
