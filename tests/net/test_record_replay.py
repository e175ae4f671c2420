"""Recording through a proxy in front of a double, then replaying with no upstream."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import CloseEvent, DataEvent, load
from socketdouble.net.tls import client_context, server_context
from tests.helpers import connect, datagram_client, recv_exactly, recv_until_closed


def upstream_double(kind: str) -> sd.BaseServer:
    server: sd.BaseServer = {
        "tcp": sd.TCPServer,
        "unix": sd.UnixStreamServer,
        "udp": sd.UDPServer,
        "unix_dgram": sd.UnixDatagramServer,
    }[kind]()
    if kind in ("tcp", "unix"):
        server.on_connect().reply(b"+READY\r\n")
    server.on(b"GET key\r\n").reply(b"$5\r\nvalue\r\n")
    server.on(b"\x00\x01binary\r\n").reply(b"\xff\xfe\r\n")
    return server.start()


def talk_stream(server: Any) -> list[bytes]:
    with connect(server) as client:
        answers = [recv_exactly(client, 8)]
        client.sendall(b"GET ")
        client.sendall(b"key\r\n")
        answers.append(recv_exactly(client, 11))
        client.sendall(b"\x00\x01binary\r\n")
        answers.append(recv_exactly(client, 4))
    return answers


def talk_datagrams(server: Any) -> list[bytes]:
    with datagram_client(server) as client:
        client.sendto(b"GET key\r\n", server.address)
        first = client.recv(100)
        client.sendto(b"\x00\x01binary\r\n", server.address)
        return [first, client.recv(100)]


@pytest.mark.parametrize("kind", ["tcp", "unix", "udp", "unix_dgram"])
def test_record_then_replay_without_the_upstream(kind: str, tmp_path: Path) -> None:
    talk = talk_datagrams if kind in ("udp", "unix_dgram") else talk_stream
    upstream = upstream_double(kind)
    with sd.RecordingProxy(upstream.address, kind=kind) as proxy:
        live = talk(proxy)
        proxy.wait_for_requests(2)
        if kind in ("udp", "unix_dgram"):
            assert len(proxy.recording.connections[0].sent) == 15
    upstream.stop()
    upstream.check()
    proxy.check()
    path = tmp_path / "session.json"
    proxy.save(path)
    assert load(path).kind == kind
    with sd.ReplayServer(path) as replay:
        assert talk(replay) == live
    replay.check()
    assert replay.recording.requests == [b"GET key\r\n", b"\x00\x01binary\r\n"]


def test_a_different_request_fails_with_the_recorded_one_beside_it(tmp_path: Path) -> None:
    upstream = upstream_double("tcp")
    with sd.RecordingProxy(upstream.address) as proxy:
        talk_stream(proxy)
    upstream.stop()
    proxy.save(tmp_path / "c.json")
    with sd.ReplayServer(tmp_path / "c.json") as replay, connect(replay) as client:
        assert recv_exactly(client, 8) == b"+READY\r\n"
        client.sendall(b"GET kez\r\n")
        assert recv_until_closed(client) == b""  # closed at the first differing byte
    with pytest.raises(sd.CheckFailed) as failure:
        replay.check()
    message = str(failure.value)
    assert "b'GET kez\\r\\n'" in message
    assert "connection 1, client turn 1: first difference at byte 6" in message
    assert "recorded [0:9]  'GET key\\r\\n'\n" in message


def test_unused_recorded_connections_are_reported(tmp_path: Path) -> None:
    upstream = upstream_double("tcp")
    with sd.RecordingProxy(upstream.address) as proxy:
        talk_stream(proxy)
        talk_stream(proxy)
    upstream.stop()
    proxy.save(tmp_path / "c.json")
    with sd.ReplayServer(tmp_path / "c.json") as replay:
        talk_stream(replay)
    with pytest.raises(sd.CheckFailed, match="recorded connection\\(s\\) never replayed: 2"):
        replay.check()
    replay.report_unused = False
    replay.check()


def test_half_close_and_reset_are_recorded_and_replayed(tmp_path: Path) -> None:
    upstream = sd.TCPServer(framing=sd.raw()).start()
    upstream.script(sd.Script().expect(b"first").send(b"one").expect(sd.ANY).reset())
    with sd.RecordingProxy(upstream.address) as proxy:
        with connect(proxy) as client:
            client.sendall(b"first")
            assert client.recv(10) == b"one"
            client.sendall(b"second")
            with pytest.raises(ConnectionResetError):
                recv_until_closed(client)
        with connect(proxy) as client:  # half-close: the client stops writing, still reads
            client.sendall(b"first")
            client.shutdown(socket.SHUT_WR)
            assert recv_until_closed(client) == b"one"
    upstream.stop()
    cassette = proxy.cassette()
    first, second = cassette.connections
    assert CloseEvent(pytest.approx(0, abs=60), "server", "reset") in first.events  # type: ignore[arg-type]
    closes = [(e.side, e.how) for e in second.events if isinstance(e, CloseEvent)]
    assert closes[0] == ("client", "fin")
    proxy.save(tmp_path / "c.json")
    with sd.ReplayServer(tmp_path / "c.json") as replay:
        with connect(replay) as client:
            client.sendall(b"first")
            assert client.recv(10) == b"one"
            client.sendall(b"second")
            with pytest.raises(ConnectionResetError):
                recv_until_closed(client)
        with connect(replay) as client:
            client.sendall(b"first")
            client.shutdown(socket.SHUT_WR)
            assert recv_until_closed(client) == b"one"
    replay.check()


def test_redaction_never_reaches_the_cassette_and_still_replays(tmp_path: Path) -> None:
    upstream = sd.TCPServer().start()
    upstream.on(sd.prefix(b"AUTH ")).reply(b"+OK token=s3cr3t-value\n")
    redact = [rb"(?<=AUTH )\S+", rb"token=\S+"]
    with sd.RecordingProxy(upstream.address, redact=redact) as proxy, connect(proxy) as client:
        client.sendall(b"AUTH hunter2\n")
        assert client.recv(100) == b"+OK token=s3cr3t-value\n"
    upstream.stop()
    path = tmp_path / "c.json"
    proxy.save(path)
    text = path.read_text()
    assert "hunter2" not in text and "s3cr3t" not in text
    assert "AUTH *******" in text
    with sd.ReplayServer(path) as replay, connect(replay) as client:
        client.sendall(b"AUTH another\n")  # a different secret of the same length: fine
        assert client.recv(100) == b"+OK ******************\n"
    replay.check()


def test_length_prefixed_protocols_stay_valid_under_redaction(tmp_path: Path) -> None:
    upstream = sd.TCPServer(framing=sd.length_prefixed(size=2)).start()
    upstream.on(sd.ANY).reply(lambda m: m)
    with sd.RecordingProxy(upstream.address, redact=[rb"pw=\w+"]) as proxy, connect(proxy) as client:
        payload = b"user=a pw=xyz"
        client.sendall(struct.pack("!H", len(payload)) + payload)
        assert recv_exactly(client, 15)[2:] == payload
    upstream.stop()
    [data, *_] = [e for e in proxy.cassette().connections[0].events if isinstance(e, DataEvent)]
    assert struct.unpack("!H", data.payload[:2])[0] == len(data.payload) - 2


def test_tls_on_both_sides(tmp_path: Path) -> None:
    upstream = sd.TLSServer().start()
    upstream.on(b"hello\n").reply(b"secure\n")
    import trustme

    client_side_ca = trustme.CA()
    with (
        sd.RecordingProxy(
            upstream.address,
            upstream_ssl_context=upstream.client_ssl_context(),
            upstream_hostname="localhost",
            ssl_context=server_context(client_side_ca),
        ) as proxy,
        connect(proxy, client_context(client_side_ca)) as client,
    ):
        client.sendall(b"hello\n")
        assert client.recv(100) == b"secure\n"
    upstream.stop()
    proxy.save(tmp_path / "tls.json")
    assert "secure" in (tmp_path / "tls.json").read_text()  # plaintext on record
    replay = sd.ReplayServer(tmp_path / "tls.json", ssl_context=server_context(client_side_ca))
    with replay, connect(replay, client_context(client_side_ca)) as client:
        client.sendall(b"hello\n")
        assert client.recv(100) == b"secure\n"
    replay.check()


def test_an_unreachable_upstream_is_reported() -> None:
    gone = sd.UnixStreamServer().start()
    path = gone.path
    gone.stop()
    with sd.RecordingProxy(path, kind="unix") as proxy, connect(proxy) as client:
        assert recv_until_closed(client) == b""
    with pytest.raises(sd.CheckFailed, match="cannot reach the upstream"):
        proxy.check()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"upstream": "nowhere", "kind": "tcp"}, "a tcp upstream is \\(host, port\\)"),
        ({"upstream": ("127.0.0.1", 1), "kind": "unix"}, "a unix upstream is a socket path"),
        ({"upstream": ("127.0.0.1", 1), "kind": "sctp"}, "kind='sctp'"),
    ],
)
def test_bad_proxy_settings(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(sd.ConfigurationError, match=match):
        sd.RecordingProxy(**kwargs)


def test_bad_replay_settings(tmp_path: Path) -> None:
    with pytest.raises(sd.CassetteError, match="no such file"):
        sd.ReplayServer(tmp_path / "absent.json")
    with pytest.raises(sd.ConfigurationError, match="pass a cassette path"):
        sd.ReplayServer(42)  # type: ignore[arg-type]


def test_ignored_bytes_are_not_compared(tmp_path: Path) -> None:
    upstream = sd.TCPServer().start()
    upstream.on(sd.prefix(b"HELLO ")).reply(b"welcome\n")
    with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
        client.sendall(b"HELLO id=1700000000\n")
        assert client.recv(100) == b"welcome\n"
    upstream.stop()
    proxy.save(tmp_path / "c.json")
    with sd.ReplayServer(tmp_path / "c.json", ignore=[rb"id=\d+"]) as replay, connect(replay) as client:
        client.sendall(b"HELLO id=1800000000\n")  # another time stamp: same length, ignored
        assert client.recv(100) == b"welcome\n"
    replay.check()
