"""One suite every server kind passes: plain, TLS, proxy and replay, stream and datagram."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, save
from tests.helpers import connect, datagram_client

Make = Callable[[Path], Any]


def replay(kind: str) -> Make:
    def make(folder: Path) -> Any:
        save(Cassette(kind), folder / f"{kind}.json")
        return sd.ReplayServer(folder / f"{kind}.json", report_unused=False)

    return make


STREAMS: dict[str, Make] = {
    "tcp": lambda _: sd.TCPServer(),
    "tcp6": lambda _: sd.TCPServer(host="::1"),
    "unix": lambda _: sd.UnixStreamServer(),
    "tls": lambda _: sd.TLSServer(),
    "tcp-proxy": lambda _: sd.RecordingProxy(("127.0.0.1", 9)),
    "unix-proxy": lambda folder: sd.RecordingProxy(str(folder / "nowhere.sock"), kind="unix"),
    "tcp-replay": replay("tcp"),
    "unix-replay": replay("unix"),
}
DATAGRAMS: dict[str, Make] = {
    "udp": lambda _: sd.UDPServer(),
    "udp6": lambda _: sd.UDPServer(host="::1"),
    "unix_dgram": lambda _: sd.UnixDatagramServer(),
    "udp-proxy": lambda _: sd.RecordingProxy(("127.0.0.1", 9), kind="udp"),
    "udp-replay": replay("udp"),
    "unix_dgram-replay": replay("unix_dgram"),
}


def ends(client: Any, most: int = 1 << 20) -> bool:
    """True once the connection is over: end of file, or a reset (unread data at close).

    False if it is still open when the client's timeout expires, or if more than
    ``most`` bytes keep coming (a server that never stops sending has not ended it).
    """
    received = 0
    try:
        while received <= most:
            chunk = client.recv(65536)
            if not chunk:
                return True
            received += len(chunk)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_ends_tells_an_open_connection_from_a_closed_one() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(0.05)
        right.sendall(b"still here")
        assert not ends(left)  # open: the timeout expires
        right.sendall(b"0123456789")
        assert not ends(left, most=4)  # more than `most` keeps coming
        right.close()
        assert ends(left)


def check_lifecycle(server: Any) -> None:
    assert server.start() is server and server.start() is server
    if server.path is None:
        host, port = server.address
        assert host in ("127.0.0.1", "::1") and port > 0
    else:
        assert isinstance(server.address, str)
    assert str(server.endpoint) in server.name


@pytest.mark.parametrize("make", STREAMS.values(), ids=STREAMS.keys())
def test_stream_kinds(make: Make, tmp_path: Path) -> None:
    server = make(tmp_path)
    check_lifecycle(server)
    context = server.client_ssl_context() if isinstance(server, sd.TLSServer) else None
    with connect(server, context) as client:
        with contextlib.suppress(ConnectionError):  # a replay with nothing recorded hangs up at once
            client.sendall(b"hello\n")
        server.stop()  # however the server answered, stop() ends the connection
        assert ends(client)
    server.stop()
    assert server.recording.connections and all(c.closed for c in server.recording.connections)
    assert server.path is None or not Path(server.path).exists()
    with pytest.raises(sd.ServerStateError):
        server.start()


@pytest.mark.parametrize("make", DATAGRAMS.values(), ids=DATAGRAMS.keys())
def test_datagram_kinds(make: Make, tmp_path: Path) -> None:
    server = make(tmp_path)
    check_lifecycle(server)
    with datagram_client(server) as client:
        client.sendto(b"hello", server.address)
        assert server.wait_for_requests(1) == [b"hello"]
    server.stop()
    assert all(c.closed for c in server.recording.connections)
    assert server.path is None or not Path(server.path).exists()
    with pytest.raises(sd.ServerStateError):
        server.start()
