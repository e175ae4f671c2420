"""The stream pump: TLS either side, full duplex, raw bytes of any size, never framed."""

from __future__ import annotations

import contextlib
import functools
import os
import select
import selectors
import socket
import socketserver
import ssl
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trustme

import socketdouble as sd
from socketdouble.core.cassette import CloseEvent, DataEvent
from socketdouble.net import pump
from socketdouble.net.poller import Poller
from socketdouble.net.tls import client_context, server_context
from tests.helpers import connect, recv_exactly

TLS_MODES = ["plain", "tls-upstream", "tls-client", "tls-both"]
CLIENT_CA = trustme.CA()


@contextmanager
def proxied(upstream: sd.BaseServer, mode: str, **kwargs: Any) -> Iterator[tuple[Any, socket.socket]]:
    """A started proxy in front of ``upstream`` (TLS as ``mode`` says) and a client of it."""
    if mode in ("tls-upstream", "tls-both"):
        assert isinstance(upstream, sd.TLSServer)
        context = upstream.client_ssl_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_3  # session tickets after the handshake
        kwargs.update(upstream_ssl_context=context, upstream_hostname="localhost")
    client_tls = mode in ("tls-client", "tls-both")
    if client_tls:
        kwargs["ssl_context"] = server_context(CLIENT_CA)
    with (
        sd.RecordingProxy(upstream.address, **kwargs) as proxy,
        connect(proxy, client_context(CLIENT_CA) if client_tls else None) as client,
    ):
        yield proxy, client


def make_upstream(mode: str, **kwargs: Any) -> sd.BaseServer:
    kind = sd.TLSServer if mode in ("tls-upstream", "tls-both") else sd.TCPServer
    return kind(framing=sd.raw(), **kwargs).start()


@pytest.mark.parametrize("mode", TLS_MODES)
def test_a_request_in_two_writes_through_a_tls13_upstream(mode: str) -> None:
    # A TLS 1.3 upstream sends session tickets after the handshake: the proxy's socket is
    # readable with no application data. The second half of the request must still go.
    upstream = make_upstream(mode)
    upstream.script(sd.Script().expect(b"GET ").expect(b"key\r\n").send(b"$5\r\nvalue\r\n"))
    try:
        with proxied(upstream, mode) as (proxy, client):
            client.sendall(b"GET ")
            upstream.wait_for_requests(1)
            client.sendall(b"key\r\n")
            assert recv_exactly(client, 11) == b"$5\r\nvalue\r\n"
    finally:
        upstream.stop()
    upstream.check()
    proxy.check()
    assert proxy.recording.connections[0].received == b"GET key\r\n"
    [connection] = proxy.cassette().connections
    assert [(e.side, bytes(e.payload)) for e in connection.events if isinstance(e, DataEvent)] == [
        ("client", b"GET key\r\n"),
        ("server", b"$5\r\nvalue\r\n"),
    ]


def exchange(sock: Any, outgoing: bytes, expected: int, timeout: float = 30.0) -> bytes:
    """Send ``outgoing`` while receiving ``expected`` bytes, in one thread (TLS allows no other)."""
    sock.setblocking(False)
    received = bytearray()
    view = memoryview(outgoing)
    sent = 0
    deadline = time.monotonic() + timeout
    pending = getattr(sock, "pending", lambda: 0)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while len(received) < expected or sent < len(outgoing):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"exchange stalled: sent {sent}, received {len(received)}")
            mask = (selectors.EVENT_READ if len(received) < expected else 0) | (
                selectors.EVENT_WRITE if sent < len(outgoing) else 0
            )
            selector.modify(sock, mask)
            if not pending():
                selector.select(remaining)
            if len(received) < expected:
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    chunk = None
                if chunk == b"":
                    raise ConnectionError(f"closed after {len(received)} of {expected} bytes")
                received += chunk or b""
            if sent < len(outgoing):
                # An SSL write is retried with the same bytes, as OpenSSL requires.
                with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    sent += sock.send(view[sent : sent + 65536])
    sock.setblocking(True)
    return bytes(received)


@pytest.mark.parametrize("mode", ["tls-client", "tls-both"])
def test_bytes_waiting_inside_an_ssl_object_are_forwarded(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads smaller than a TLS record, and a queue that fills after a read or two, leave
    # decrypted bytes inside the SSL object, where select() cannot see them.
    monkeypatch.setattr(pump, "READ_SIZE", 1000)
    monkeypatch.setattr(pump, "QUEUE_LIMIT", 3000)
    payload = os.urandom(1 << 20)
    done = threading.Event()
    got: dict[str, bytes] = {}

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            got["upstream"] = exchange(self.request, payload, len(payload))
            done.set()

    upstream = make_upstream(mode, handler=Echo)
    try:
        with proxied(upstream, mode) as (proxy, client):
            got["client"] = exchange(client, payload, len(payload))
            assert done.wait(30)
    finally:
        upstream.stop()
    assert got == {"client": payload, "upstream": payload}
    proxy.check()


UP = os.urandom(8 << 20)  # several MB each way, binary, no newline framing could cut
DOWN = os.urandom(8 << 20)


@pytest.mark.parametrize("writes_first", ["client", "upstream"])
@pytest.mark.parametrize("mode", TLS_MODES)
def test_full_duplex_neither_direction_waits_for_the_other(writes_first: str, mode: str) -> None:
    # One end writes everything before it reads; the other sends and reads at once. A
    # pump that blocks writing one direction stops reading the other: both ends stall.
    got: dict[str, bytes] = {}
    done = threading.Event()

    class Upstream(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            if writes_first == "upstream":
                self.request.sendall(DOWN)
                got["upstream"] = recv_exactly(self.request, len(UP))
            else:
                got["upstream"] = exchange(self.request, DOWN, len(UP))
            done.set()

    upstream = make_upstream(mode, handler=Upstream)
    try:
        with proxied(upstream, mode) as (proxy, client):
            client.settimeout(30)
            if writes_first == "client":
                client.sendall(UP)
                got["client"] = recv_exactly(client, len(DOWN))
            else:
                got["client"] = exchange(client, UP, len(DOWN))
            assert done.wait(30), "the upstream did not get everything"
    finally:
        upstream.stop()
    assert got["client"] == DOWN and got["upstream"] == UP
    upstream.check()
    proxy.check()
    [record] = proxy.recording.connections
    assert record.received == UP and record.sent == DOWN
    [connection] = proxy.cassette().connections
    up = b"".join(e.payload for e in connection.events if isinstance(e, DataEvent) and e.side == "client")
    down = b"".join(e.payload for e in connection.events if isinstance(e, DataEvent) and e.side == "server")
    assert up == UP and down == DOWN


def test_binary_bytes_are_never_framed() -> None:
    # No newline in 3 MiB: line framing would fail every read after 1 MiB.
    payload = bytes(range(256)).replace(b"\n", b"") * (3 * 4096 + 1)
    upstream = sd.TCPServer(framing=sd.raw()).start()
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""  # the upstream (a recorder) closed after our FIN
    finally:
        upstream.stop()
    proxy.check()
    assert proxy.recording.connections[0].received == payload
    assert b"".join(proxy.recording.requests) == payload
    [connection] = proxy.cassette().connections
    assert [bytes(e.payload) for e in connection.events if isinstance(e, DataEvent)] == [payload]
    assert CloseEvent(pytest.approx(0, abs=60), "client", "fin") in connection.events  # type: ignore[arg-type]


def test_framing_is_refused_with_the_reason() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"never frames them.*drop framing="):
        sd.RecordingProxy(("127.0.0.1", 9), framing=sd.lines())
    with pytest.raises(sd.ConfigurationError, match="never frames them"):
        sd.RecordingProxy(("127.0.0.1", 9), kind="udp", framing=sd.raw())


def test_a_slow_upstream_holds_the_client_back() -> None:
    # The proxy reads a client only while the upstream takes what it already read.
    release = threading.Event()

    class NeverReads(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            release.wait(30)

    upstream = sd.TCPServer(handler=NeverReads, framing=sd.raw()).start()
    most = 64 << 20
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.setblocking(False)
            chunk = bytes(1 << 20)
            pushed = 0
            while pushed < most:
                try:
                    pushed += client.send(chunk)
                except BlockingIOError:
                    if not select.select([], [client], [], 1.0)[1]:
                        break  # no room for a second: the client is held back
            held = len(proxy.recording.connections[0].received)
            release.set()
    finally:
        release.set()
        upstream.stop()
    assert pushed < most, "nothing held the client back"
    assert held < 16 << 20  # the proxy's queue, and kernel buffers; never all the client sent


def test_a_proxy_answers_nothing_itself() -> None:
    proxy = sd.RecordingProxy(("127.0.0.1", 9))
    with pytest.raises(sd.ConfigurationError, match=r"on\(\) on .*: a RecordingProxy .* nothing itself"):
        proxy.on(b"PING\r\n")
    with pytest.raises(sd.ConfigurationError, match="answers nothing itself"):
        proxy.on_connect()
    with pytest.raises(sd.ConfigurationError, match="answers nothing itself"):
        proxy.script(sd.Script())


def echo_upstream() -> sd.BaseServer:
    """An upstream that answers each read with its bytes."""
    upstream = sd.TCPServer(framing=sd.raw())
    upstream.on(sd.ANY).reply(lambda message: message)
    return upstream.start()


def round_trips(client: socket.socket, count: int) -> None:
    for n in range(count):
        message = b"PING %d\r\n" % n
        client.sendall(message)
        assert recv_exactly(client, len(message)) == message


def test_a_short_read_takes_no_buffer_of_read_size() -> None:
    # A fresh READ_SIZE (256 KiB) buffer per read is a memory mapping of its own (glibc maps
    # blocks over 128 KiB, until its threshold moves), cut down to the bytes read: kept by
    # the recording, 4 KiB and a kernel mapping per 10-byte message, three more syscalls per
    # read, and no more mappings (65530) after some 30,000 round trips. The peak of traced
    # memory over what is left at the end shows a buffer taken per read.
    upstream = echo_upstream()
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.settimeout(30)
            round_trips(client, 10)
            tracemalloc.start()
            try:
                round_trips(client, 200)
                current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        upstream.stop()
    proxy.check()
    assert len(proxy.recording.requests) == 210
    assert peak - current < pump.READ_SIZE // 2, f"{peak - current} bytes taken and given back"


def test_the_pump_runs_on_the_selectors_default_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where there is no epoll (macOS: kqueue), the poller is the selectors default.
    monkeypatch.setattr(pump, "Poller", functools.partial(Poller, use_epoll=False))
    payload = os.urandom(3 << 20)
    upstream = echo_upstream()
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.settimeout(30)
            round_trips(client, 3)
            assert exchange(client, payload, len(payload)) == payload
    finally:
        upstream.stop()
    proxy.check()
    [connection] = proxy.cassette().connections
    sent = b"".join(e.payload for e in connection.events if isinstance(e, DataEvent) and e.side == "client")
    assert sent == b"PING 0\r\nPING 1\r\nPING 2\r\n" + payload


def test_bytes_queued_for_a_slow_upstream_go_once_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pump's queue takes all the client sends (its bound is raised here); the upstream
    # reads nothing at first, so a write blocks. Then the client goes quiet: only the
    # upstream becoming writable again can send the rest on.
    monkeypatch.setattr(pump, "QUEUE_LIMIT", 64 << 20)
    payload = os.urandom(24 << 20)
    release, done = threading.Event(), threading.Event()
    got: dict[str, bytes] = {}

    class Late(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            release.wait(30)
            self.request.settimeout(30)
            got["upstream"] = recv_exactly(self.request, len(payload))
            done.set()

    upstream = sd.TCPServer(handler=Late, framing=sd.raw()).start()
    try:
        with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
            client.settimeout(30)
            client.sendall(payload)  # more than kernel buffers hold: the pump has read
            release.set()
            assert done.wait(30), "the bytes queued behind a blocked write never went"
    finally:
        release.set()
        upstream.stop()
    assert got["upstream"] == payload
    proxy.check()
