"""A proxy fails loudly: an upstream it cannot reach, a TLS client on a plain proxy."""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

import socketdouble as sd
from socketdouble.net.tls import client_context
from socketdouble.net.upstream import Upstream
from tests.helpers import connect, recv_until_closed


def closed_port() -> int:
    """A TCP port nothing listens on (it was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def ends(client: socket.socket) -> bytes:
    """What the client reads until the proxy closes (an empty read, or a reset)."""
    try:
        return recv_until_closed(client)
    except ConnectionResetError:
        return b""


def check_text(server: Any) -> str:
    with pytest.raises(sd.CheckFailed) as failure:
        server.check()
    return str(failure.value)


def test_an_unreachable_tcp_upstream_fails_the_check_naming_it() -> None:
    port = closed_port()
    with sd.RecordingProxy(("127.0.0.1", port)) as proxy, connect(proxy) as client:
        assert ends(client) == b""
    text = check_text(proxy)
    assert f"cannot reach the upstream 127.0.0.1:{port}: connection refused" in text
    assert proxy.recording.connections[0].close_reason == "upstream unreachable"
    assert proxy.cassette().connections == []  # nothing that could replay


def test_an_unreachable_unix_upstream_fails_the_check_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "gone.sock")
    with sd.RecordingProxy(path, kind="unix") as proxy, connect(proxy) as client:
        assert ends(client) == b""
    assert f"cannot reach the upstream {path}: no such file or directory" in check_text(proxy)


@contextmanager
def unanswering_upstream() -> Iterator[tuple[str, int]]:
    """A listener whose accept queue is full: a connect to it waits for an answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fill = socket.create_connection(listener.getsockname(), timeout=5)  # takes the one place
    try:
        yield listener.getsockname()
    finally:
        fill.close()
        listener.close()


def test_connect_timeout_bounds_the_wait_for_the_upstream() -> None:
    with unanswering_upstream() as address:
        proxy = sd.RecordingProxy(address, connect_timeout=0.2)
        assert proxy.connect_timeout == 0.2
        with proxy, connect(proxy) as client:
            started = time.monotonic()
            assert ends(client) == b""
            assert time.monotonic() - started >= 0.15  # a loose lower bound only
    text = check_text(proxy)
    assert f"cannot reach the upstream 127.0.0.1:{address[1]}: no answer within connect_timeout=0.2s" in text


def test_stop_interrupts_a_connect_in_progress() -> None:
    with unanswering_upstream() as address:
        proxy = sd.RecordingProxy(address, connect_timeout=60).start()
        with connect(proxy) as client:
            deadline = time.monotonic() + 5
            while not proxy.recording.connections and time.monotonic() < deadline:
                time.sleep(0.001)  # bounded wait for the accept; the connect is what is tested
            proxy.stop()  # joins the connection's thread within stop_timeout, or reports it stuck
            assert ends(client) == b""
    assert proxy.errors == []
    assert [c.close_reason for c in proxy.recording.connections] == ["server stopped"]


@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_a_bad_connect_timeout_is_refused(value: Any) -> None:
    with pytest.raises(sd.ConfigurationError, match=r"connect_timeout=.*seconds > 0"):
        sd.RecordingProxy(("127.0.0.1", 9), connect_timeout=value)


def test_a_tls_client_on_a_plain_proxy_is_refused_with_the_fix() -> None:
    upstream = sd.TCPServer(framing=sd.raw()).start()
    ca = trustme.CA()
    try:
        with (
            sd.RecordingProxy(upstream.address) as proxy,
            connect(proxy) as plain,
            pytest.raises((ssl.SSLError, ConnectionError)),
        ):
            client_context(ca).wrap_socket(plain, server_hostname="localhost")
    finally:
        upstream.stop()
    text = check_text(proxy)
    assert "the client speaks TLS" in text
    assert "pass ssl_context= (and upstream_ssl_context= for a TLS upstream) to the proxy" in text
    assert "or turn TLS off in the client" in text
    assert upstream.recording.connections[0].received == b""  # nothing went on
    assert [c.events for c in proxy.cassette().connections] == [[]]  # no ciphertext on record


SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # PostgreSQL's "may I speak TLS?"


def test_tls_started_after_the_server_agreed_is_refused_too() -> None:
    upstream = sd.TCPServer(framing=sd.raw()).start()
    upstream.on(SSL_REQUEST).reply(b"S")
    ca = trustme.CA()
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as plain:
            plain.sendall(SSL_REQUEST)
            assert plain.recv(1) == b"S"
            with pytest.raises((ssl.SSLError, ConnectionError)):
                client_context(ca).wrap_socket(plain, server_hostname="localhost")
    finally:
        upstream.stop()
    text = check_text(proxy)
    assert "after STARTTLS or PostgreSQL's SSLRequest" in text
    assert upstream.recording.requests == [SSL_REQUEST]  # the ClientHello went nowhere


def test_a_later_binary_turn_that_merely_starts_like_tls_is_forwarded() -> None:
    upstream = sd.TCPServer(framing=sd.raw()).start()
    upstream.on(sd.ANY).reply(b"ok")
    not_a_hello = b"\x16\x03\x00\x00\x05\x07data"  # record header, but no ClientHello
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.sendall(b"hi")
            assert client.recv(2) == b"ok"
            client.sendall(not_a_hello)
            assert client.recv(2) == b"ok"
    finally:
        upstream.stop()
    proxy.check()
    assert upstream.recording.requests == [b"hi", not_a_hello]


@pytest.mark.parametrize(
    ("kind", "upstream", "shown"),
    [
        ("tcp", ("127.0.0.1", 6379), "127.0.0.1:6379"),
        ("udp", ("::1", 53), "[::1]:53"),
        ("unix", "/run/x.sock", "/run/x.sock"),
    ],
)
def test_the_upstream_is_named_as_a_person_writes_it(kind: str, upstream: Any, shown: str) -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    error = Upstream.for_kind(kind, upstream, 5.0).unreachable(refused)
    assert str(error) == f"cannot reach the upstream {shown}: connection refused"


def test_an_upstream_name_that_does_not_resolve_is_named_as_a_failed_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The lookup happens inside connect_ex; no DNS is asked here: the name fails as an
    # unknown one does (getaddrinfo's EAI_NONAME, errno -2, "unknown error -2" to os.strerror).
    connect_ex = socket.socket.connect_ex

    def lookup_fails(sock: socket.socket, address: Any) -> int:
        if address[0] == "upstream.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect_ex", lookup_fails)
    with sd.RecordingProxy(("upstream.invalid", 6379)) as proxy, connect(proxy) as client:
        assert ends(client) == b""
    text = check_text(proxy)
    assert (
        "cannot reach the upstream upstream.invalid:6379: the host name 'upstream.invalid' could not be "
        "looked up (Name or service not known); check its spelling and this machine's DNS, or give the "
        "upstream's IP address, e.g. upstream=('127.0.0.1', 6379)"
    ) in text
    assert "unknown error" not in text
    assert proxy.recording.connections[0].close_reason == "upstream unreachable"
