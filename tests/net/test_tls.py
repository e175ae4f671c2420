"""TLS: plaintext recorded, trusted contexts for clients, mutual TLS, failed handshakes."""

from __future__ import annotations

import socket
import socketserver
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

import socketdouble as sd
from socketdouble.net.address import folders_under
from tests.helpers import connect, recv_until_closed


def test_the_recording_holds_plaintext() -> None:
    with sd.TLSServer() as server:
        server.on(b"secret\n").reply(b"answer\n")
        with connect(server, server.client_ssl_context()) as client:
            client.sendall(b"secret\n")
            assert client.recv(100) == b"answer\n"
    assert server.recording.requests == [b"secret\n"]
    assert server.recording.connections[0].sent == b"answer\n"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_certificate_is_valid_for_ip_literals(host: str) -> None:
    with sd.TLSServer(host=host) as server:
        server.on(sd.ANY).reply(b"ok\n")
        raw = socket.create_connection(server.address, timeout=5)
        with server.client_ssl_context().wrap_socket(raw, server_hostname=host) as client:
            client.sendall(b"x\n")
            assert client.recv(10) == b"ok\n"


def test_a_client_leaving_without_close_notify_closed_normally() -> None:
    with sd.TLSServer() as server:
        server.on(b"bye\n").reply(b"ok\n")
        client = connect(server, server.client_ssl_context())
        client.sendall(b"bye\n")
        assert client.recv(10) == b"ok\n"
        raw = socket.socket(fileno=client.detach())  # drop TLS without close_notify
        raw.close()
        server.recording.wait_for_requests(1)
    server.check()
    assert server.errors == []


def answer_without_certificate(server: sd.TLSServer, context: ssl.SSLContext) -> bytes:
    """What a client without a certificate gets: an error, or (TLS 1.3) end of file."""
    try:
        with connect(server, context) as client:
            client.sendall(b"hi\n")
            return client.recv(100)
    except (ssl.SSLError, ConnectionError):
        return b""


def test_mutual_tls_requires_a_client_certificate() -> None:
    with sd.TLSServer(client_auth=True) as server:
        server.on(b"hi\n").reply(b"hello, certified\n")
        with connect(server, server.client_ssl_context()) as client:
            client.sendall(b"hi\n")
            assert client.recv(100) == b"hello, certified\n"
        anonymous = ssl.create_default_context()
        server.ca.configure_trust(anonymous)
        assert answer_without_certificate(server, anonymous) == b""
        server.wait_for_requests(1)
    # the refused handshake is on record; the good connection is untouched
    assert len(server.recording.connections) == 2
    assert server.recording.connections[0].sent == b"hello, certified\n"
    failed = server.recording.connections[1]
    assert failed.close_reason in ("TLS handshake failed", "client closed during the TLS handshake")
    server.errors.clear()
    server.check()


def test_an_untrusting_client_fails_its_handshake_without_disturbing_others() -> None:
    with sd.TLSServer() as server:
        server.on(b"ping\n").reply(b"pong\n")
        other_ca = trustme.CA()
        wrong = ssl.create_default_context()
        other_ca.configure_trust(wrong)
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(server, wrong)
        with connect(server, server.client_ssl_context()) as client:
            client.sendall(b"ping\n")
            assert client.recv(10) == b"pong\n"
    first = server.recording.connections[0]
    assert first.close_reason == "TLS handshake failed"
    assert "unknown ca" in str(first.error).lower()
    assert [type(e) for e in server.errors] == [ssl.SSLError]
    server.errors.clear()
    server.check()


def test_a_socketserver_handler_over_tls() -> None:
    class Who(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(self.request.version().encode() + b"\n")

    with sd.TLSServer(handler=Who) as server, connect(server, server.client_ssl_context()) as client:
        assert recv_until_closed(client).startswith(b"TLSv1.")


def test_the_ca_file_serves_non_python_clients() -> None:
    with sd.TLSServer() as server:
        server.on(b"GET\n").reply(b"body\n")
        path = server.ca_file
        code = (
            "import socket, ssl, sys\n"
            "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
            "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=5),"
            " server_hostname='localhost')\n"
            "s.sendall(b'GET\\n'); print(s.recv(100).decode(), end='')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, path, str(server.port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert result.stdout == "body\n"
    import os

    assert not os.path.exists(path)


def test_unix_stream_over_tls() -> None:
    ca = trustme.CA()
    from socketdouble.net.tls import client_context, server_context

    with sd.UnixStreamServer(ssl_context=server_context(ca)) as server:
        server.on(b"u\n").reply(b"v\n")
        with connect(server, client_context(ca)) as client:
            client.sendall(b"u\n")
            assert client.recv(10) == b"v\n"


def test_the_ca_file_exists_only_while_the_server_runs(tmp_path: Path) -> None:
    with folders_under(tmp_path):
        server = sd.TLSServer()
        with pytest.raises(sd.ServerStateError, match=r"ca_file exists only while the server runs.* new"):
            server.ca_file  # noqa: B018 - the property is what is tested
        with server:
            path = server.ca_file
            assert Path(path).parent.parent == tmp_path
            assert server.ca_file == path
        assert list(tmp_path.iterdir()) == []  # stop() removed the folder
        with pytest.raises(sd.ServerStateError, match=r"this one is stopped"):
            server.ca_file  # noqa: B018
        assert list(tmp_path.iterdir()) == []  # and asking again after stop() made nothing
