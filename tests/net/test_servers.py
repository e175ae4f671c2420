"""Every server kind: lifecycle, addresses, and the errors a test can make."""

from __future__ import annotations

import os
import socket
import stat
from typing import Any

import pytest

import socketdouble as sd
from socketdouble import ConfigurationError, ServerStateError
from tests.helpers import connect, datagram_client

STREAM_KINDS: list[tuple[str, Any]] = [
    ("tcp", lambda **kw: sd.TCPServer(**kw)),
    ("tcp6", lambda **kw: sd.TCPServer(host="::1", **kw)),
    ("unix", lambda **kw: sd.UnixStreamServer(**kw)),
    ("tls", lambda **kw: sd.TLSServer(**kw)),
]
DATAGRAM_KINDS: list[tuple[str, Any]] = [
    ("udp", lambda **kw: sd.UDPServer(**kw)),
    ("udp6", lambda **kw: sd.UDPServer(host="::1", **kw)),
    ("unix_dgram", lambda **kw: sd.UnixDatagramServer(**kw)),
]


def client_context(server: Any) -> Any:
    return server.client_ssl_context() if isinstance(server, sd.TLSServer) else None


@pytest.mark.parametrize(("kind", "make"), STREAM_KINDS, ids=[k for k, _ in STREAM_KINDS])
@pytest.mark.parametrize("concurrency", ["thread", "serial"])
def test_stream_servers_answer_and_record(kind: str, make: Any, concurrency: str) -> None:
    with make(concurrency=concurrency) as server:
        server.on(b"PING\r\n").reply(b"+PONG\r\n")
        with connect(server, client_context(server)) as client:
            client.sendall(b"PI")
            client.sendall(b"NG\r\n")
            assert client.recv(100) == b"+PONG\r\n"
            assert server.recording.requests == [b"PING\r\n"]
            client.sendall(b"PING\r\n")
            assert client.recv(100) == b"+PONG\r\n"
    [connection] = server.recording.connections
    assert connection.received == b"PING\r\nPING\r\n"
    assert connection.sent == b"+PONG\r\n+PONG\r\n"
    assert connection.closed
    server.check()


@pytest.mark.parametrize(("kind", "make"), DATAGRAM_KINDS, ids=[k for k, _ in DATAGRAM_KINDS])
def test_datagram_servers_answer_each_sender(kind: str, make: Any) -> None:
    with make() as server:
        server.on(sd.ANY).reply(lambda m: m.upper())
        with datagram_client(server) as a, datagram_client(server) as b:
            a.sendto(b"one", server.address)
            b.sendto(b"two", server.address)
            assert a.recv(100) == b"ONE"
            assert b.recv(100) == b"TWO"
    assert sorted(server.recording.requests) == [b"one", b"two"]
    assert len(server.recording.connections) == 2
    server.check()


def test_addresses_are_literal_ips() -> None:
    with sd.TCPServer() as v4, sd.UDPServer(host="::1") as v6:
        assert v4.address == ("127.0.0.1", v4.port) and (v4.port or 0) > 0
        assert v4.host == "127.0.0.1" and v4.path is None
        assert v6.address == ("::1", v6.port)
        assert v4.server_address == v4.address


def test_unix_socket_files_live_in_a_private_folder_and_are_removed() -> None:
    server = sd.UnixStreamServer().start()
    path = server.path
    assert path is not None and server.address == path
    assert len(os.fsencode(path)) < 108
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    server.stop()
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))


def test_a_given_unix_path_is_used_and_removed(tmp_path: Any) -> None:
    path = str(tmp_path / "my.sock")
    with sd.UnixDatagramServer(path=path) as server:
        assert server.address == path
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_start_and_stop_are_idempotent_but_a_stopped_server_does_not_restart() -> None:
    server = sd.TCPServer()
    assert server.start() is server
    assert server.start() is server
    assert server.running
    server.stop()
    server.stop()
    assert not server.running
    with pytest.raises(ServerStateError, match="cannot start again; make a new server"):
        server.start()


def test_stop_before_start_is_harmless() -> None:
    sd.UDPServer().stop()


def test_a_port_in_use_is_named() -> None:
    with sd.TCPServer() as first:
        expected = f"port {first.port} on 127.0.0.1 is in use; pass port=0"
        with pytest.raises(ConfigurationError, match=expected):
            sd.TCPServer(port=first.port).start()


def test_two_servers_never_share_a_port() -> None:
    with sd.UDPServer() as first, pytest.raises(ConfigurationError, match="in use"):
        sd.UDPServer(port=first.port).start()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": "0.0.0.0"}, "not a loopback address.*allow_remote=True"),
        ({"host": ""}, "give an IP address"),
        ({"host": "localhost"}, "not an IP address; use '127.0.0.1' or '::1'"),
        ({"port": 70000}, "port=70000"),
        ({"concurrency": "async"}, "concurrency='async'"),
        ({"handler": object}, "not a socketserver.BaseRequestHandler subclass"),
        ({"path": "/tmp/x"}, "path='/tmp/x' given to an inet"),
        ({"framing": b"\n"}, "not a socketdouble framing"),
        ({"verify_request": 3}, "not callable"),
        ({"ssl_context": "yes"}, "TLS needs an ssl.SSLContext"),
        ({"stop_timeout": 0}, "stop_timeout=0"),
    ],
)
def test_bad_settings_are_refused_at_once(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        sd.TCPServer(**kwargs).start()


def test_a_unix_path_that_is_too_long_is_refused() -> None:
    path = "/tmp/" + "x" * 120
    with pytest.raises(ConfigurationError, match=r"is 125 bytes; a Unix socket path must be under 108"):
        sd.UnixStreamServer(path=path)


def test_unix_servers_take_no_host() -> None:
    with pytest.raises(ConfigurationError, match="pass path="):
        sd.UnixStreamServer(host="::1")


def test_datagram_servers_take_no_framing_and_no_greeting() -> None:
    with pytest.raises(ConfigurationError, match="each datagram is one message"):
        sd.UDPServer(framing=sd.raw())
    with pytest.raises(ConfigurationError, match="needs a stream server"):
        sd.UDPServer().on_connect()


def test_rules_and_handlers_do_not_mix() -> None:
    import socketserver

    server = sd.TCPServer(handler=socketserver.StreamRequestHandler)
    with pytest.raises(ConfigurationError, match="handler=StreamRequestHandler"):
        server.on(b"x")


def test_a_listen_backlog_takes_a_burst() -> None:
    with sd.TCPServer() as server:
        clients = [socket.create_connection(server.address, timeout=5) for _ in range(200)]
        try:
            for client in clients:
                client.sendall(b"hi\n")
            assert len(server.wait_for_requests(200, timeout=10)) == 200
        finally:
            for client in clients:
                client.close()
