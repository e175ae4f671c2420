"""shutdown_fd and peer_has_closed: what stop() asks of a connection's descriptor, by number."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from socketdouble.net.faulty_io import abort
from socketdouble.net.shutdown import peer_has_closed, shutdown_fd

TIMEOUT = 5.0


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        server, _ = listener.accept()
    return client, server


@pytest.fixture(params=["tcp", "unix"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = _tcp_pair() if request.param == "tcp" else socket.socketpair()
    with client, server:
        yield client, server


def test_a_peer_that_closed_is_told_from_one_still_there(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    assert not peer_has_closed(server.fileno())
    client.sendall(b"unread")  # data waiting is not a close
    assert not peer_has_closed(server.fileno())
    client.shutdown(socket.SHUT_WR)
    assert peer_has_closed(server.fileno())


def test_our_own_half_close_is_not_the_peers() -> None:
    client, server = _tcp_pair()
    with client, server:
        server.shutdown(socket.SHUT_WR)
        assert client.recv(1) == b""
        assert not peer_has_closed(server.fileno())
        client.close()
        assert server.recv(1) == b""  # its FIN came
        assert peer_has_closed(server.fileno())


def test_a_peer_that_reset_has_closed() -> None:
    client, server = _tcp_pair()
    with server:
        abort(client.fileno())
        client.close()
        with pytest.raises(ConnectionResetError):
            server.recv(1)
        assert peer_has_closed(server.fileno())


def test_shutdown_fd_wakes_a_reader_with_end_of_file(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    client.sendall(b"queued")
    shutdown_fd(server.fileno())
    assert server.recv(100) == b"queued"  # what had come is still read
    assert server.recv(100) == b""


def test_a_default_timeout_leaves_the_owners_socket_blocking(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A borrowed socket object must not switch the descriptor to non-blocking under its owner."""
    client, server = pair
    client.setblocking(True)
    server.setblocking(True)
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT)
    try:
        peer_has_closed(server.fileno())
        abort(client.fileno())
        shutdown_fd(server.fileno())
    finally:
        socket.setdefaulttimeout(before)
    assert os.get_blocking(server.fileno()) and os.get_blocking(client.fileno())
