"""server.send() and broadcast(): pushes reach the client whole, recorded, never inside a reply."""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any

import pytest

import socketdouble as sd
from tests.helpers import connect, datagram_client, recv_exactly

REPLY = b"R" * (16 * 1024 * 1024)  # far more than the kernel buffers: the reply is sent in parts
PUSH = b"P" * (1024 * 1024)


def test_a_push_reaches_the_one_open_connection_and_is_recorded() -> None:
    with sd.TCPServer() as server, connect(server) as client:
        (record,) = server.wait_for_connections(1)
        assert server.send(b"hello\n") is record
        assert recv_exactly(client, 6) == b"hello\n"
        assert record.sent == b"hello\n"
        assert "hello" in server.recording.transcript()


def test_pushes_follow_the_greeting_and_go_in_order_with_replies() -> None:
    with sd.TCPServer() as server:
        server.on_connect().reply(b"220 ready\n")
        server.on(b"PING\n").reply(b"PONG\n")
        with connect(server) as client:
            server.wait_for_connections(1)
            server.send(b"first\n")  # waits for the greeting to be out
            assert recv_exactly(client, 16) == b"220 ready\nfirst\n"
            client.sendall(b"PING\n")
            assert recv_exactly(client, 5) == b"PONG\n"
            server.send(b"second\n")
            assert recv_exactly(client, 7) == b"second\n"
        assert server.recording.connections[0].sent == b"220 ready\nfirst\nPONG\nsecond\n"


def test_connections_are_chosen_by_record_or_number_and_broadcast_reaches_all() -> None:
    with sd.TCPServer() as server, connect(server) as one, connect(server) as two:
        first, second = server.wait_for_connections(2)
        assert (first.number, second.number) == (1, 2)
        server.send(b"to two\n", connection=2)
        server.send(b"to one\n", connection=first)
        assert recv_exactly(two, 7) == b"to two\n"
        assert recv_exactly(one, 7) == b"to one\n"
        assert server.broadcast(b"all\n") == [first, second]
        assert recv_exactly(one, 4) == recv_exactly(two, 4) == b"all\n"


def test_a_script_server_pushes_between_its_steps() -> None:
    with sd.TCPServer() as server:
        server.script(sd.Script().send(b"hi\n").expect(b"bye\n").send(b"ok\n"))
        with connect(server) as client:
            server.wait_for_connections(1)
            server.send(b"news\n")
            assert recv_exactly(client, 8) == b"hi\nnews\n"
            client.sendall(b"bye\n")
            assert recv_exactly(client, 3) == b"ok\n"


def test_send_without_connection_needs_exactly_one_open() -> None:
    with sd.TCPServer() as server:
        with pytest.raises(sd.ConfigurationError, match="there are 0;"):
            server.send(b"x")
        assert server.broadcast(b"x") == []
        with connect(server), connect(server):
            server.wait_for_connections(2)
            with pytest.raises(sd.ConfigurationError, match=r"there are 2 \(1, 2\)"):
                server.send(b"x")


def test_unknown_and_foreign_connections_and_text_are_refused() -> None:
    with sd.TCPServer() as server, sd.TCPServer() as other, connect(server), connect(other):
        (foreign,) = other.wait_for_connections(1)
        server.wait_for_connections(1)
        with pytest.raises(sd.ConfigurationError, match=r"recording\.connections"):
            server.send(b"x", connection=foreign)
        with pytest.raises(sd.ConfigurationError, match="numbered 1 to 1"):
            server.send(b"x", connection=2)
        with pytest.raises(sd.ConfigurationError, match="takes bytes"):
            server.send("text", connection=1)  # type: ignore[arg-type]


def test_a_closed_connection_is_refused_by_name() -> None:
    with sd.TCPServer() as server:
        server.on(b"bye\n").reply(b"ok\n")
        with connect(server) as client:
            client.sendall(b"bye\n")
            assert recv_exactly(client, 3) == b"ok\n"
        _wait_closed(server.recording.connections[0])
        with pytest.raises(sd.ConfigurationError, match="closed \\(client closed\\)"):
            server.send(b"x", connection=1)


def _wait_closed(record: sd.ConnectionRecord) -> None:
    recording = record._recording
    with recording.lock:
        recording._waiters += 1  # on_closed wakes waiters
        try:
            assert recording.lock.wait_for(lambda: record.closed, 5), f"{record!r} did not close"
        finally:
            recording._waiters -= 1


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.readline())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: sd.TCPServer(Echo), "handler=Echo: the handler owns its connections"),
        (lambda: sd.TCPServer(concurrency="fork"), "concurrency='fork'"),
        (lambda: sd.RecordingProxy(upstream=("127.0.0.1", 9)), "forwards every byte"),
    ],
)
def test_servers_that_do_not_own_their_writes_refuse_pushes(make: Any, match: str) -> None:
    with make() as server:
        with pytest.raises(sd.ConfigurationError, match=match):
            server.send(b"x", connection=1)
        with pytest.raises(sd.ConfigurationError, match=match):
            server.broadcast(b"x")


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_push_never_cuts_into_a_large_reply(tls: bool) -> None:
    server = sd.TLSServer() if tls else sd.TCPServer()
    with server:
        server.on(b"big\n").reply(REPLY)
        context = server.client_ssl_context() if isinstance(server, sd.TLSServer) else None
        with connect(server, context) as client:
            client.sendall(b"big\n")
            server.wait_for_requests(1)  # the reply is going out now, stuck on the unread client
            pusher = threading.Thread(target=server.send, args=(PUSH,))
            pusher.start()
            received = _read(client, len(REPLY) + len(PUSH))
            pusher.join(5)
            assert not pusher.is_alive()
        assert received in (REPLY + PUSH, PUSH + REPLY), _shape(received)
        assert server.recording.connections[0].sent == received


def _read(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size and (chunk := sock.recv(1 << 20)):
        data += chunk
    return bytes(data)


def _shape(data: bytes) -> str:
    """Runs of equal bytes, e.g. R*212992 P*1048576 R*..., so a failure shows the mix."""
    runs: list[str] = []
    start = 0
    for i in range(1, len(data) + 1):
        if i == len(data) or data[i] != data[start]:
            runs.append(f"{chr(data[start])}*{i - start}")
            start = i
    return " ".join(runs[:20])


def test_a_tls_push_right_after_the_handshake_goes_out_encrypted() -> None:
    with sd.TLSServer() as server, connect(server, server.client_ssl_context()) as client:
        server.wait_for_connections(1)
        server.send(b"welcome\n")
        assert recv_exactly(client, 8) == b"welcome\n"
        client.sendall(b"x\n")
        server.wait_for_requests(1)
        server.send(b"again\n")
        assert recv_exactly(client, 6) == b"again\n"


@pytest.mark.parametrize("make", [sd.UDPServer, sd.UnixDatagramServer])
def test_datagram_servers_push_to_the_peer(make: Any) -> None:
    with make() as server, datagram_client(server) as client:
        client.sendto(b"subscribe", server.address)
        (peer,) = server.wait_for_connections(1)
        assert server.send(b"event") is peer
        assert client.recv(100) == b"event"
        assert server.broadcast(b"again") == [peer]
        assert client.recv(100) == b"again"
        assert peer.sent == b"eventagain"


def test_an_unbound_unix_datagram_peer_cannot_be_pushed_to() -> None:
    with sd.UnixDatagramServer() as server, datagram_client(server, bind=False) as client:
        client.sendto(b"hi", server.address)
        server.wait_for_connections(1)
        with pytest.raises(sd.ConfigurationError, match="unbound Unix datagram client"):
            server.send(b"x", connection=1)
        assert server.broadcast(b"x") == []


def test_wait_for_connections_times_out_with_the_transcript() -> None:
    with sd.UDPServer() as server, datagram_client(server) as client:
        client.sendto(b"only one", server.address)
        with pytest.raises(sd.WaitTimeout, match=r"(?s)2 connection\(s\).*got 1.*only one"):
            server.wait_for_connections(2, timeout=0.2)


def test_a_push_to_a_stopped_server_is_refused() -> None:
    with sd.TCPServer() as server, connect(server):
        server.wait_for_connections(1)
    with pytest.raises(sd.ServerStateError, match="running server"):
        server.send(b"x", connection=1)


def test_a_push_after_the_test_saw_a_message_follows_its_reply() -> None:
    gate = threading.Event()

    def slow_ack(message: bytes) -> bytes:
        gate.wait(5)  # the reply is being made while the test pushes
        return b"SUBACK\n"

    with sd.TCPServer() as server:
        server.on(b"SUB\n").reply(slow_ack)
        with connect(server) as client:
            client.sendall(b"SUB\n")
            server.wait_for_requests(1)
            pusher = threading.Thread(target=server.send, args=(b"PUBLISH\n",))
            pusher.start()
            pusher.join(0.1)
            assert pusher.is_alive()  # it waits for the reply, however long that takes
            gate.set()
            pusher.join(5)
            assert recv_exactly(client, 15) == b"SUBACK\nPUBLISH\n"


def test_a_datagram_push_after_the_test_saw_a_message_follows_its_reply() -> None:
    gate = threading.Event()
    with sd.UDPServer() as server, datagram_client(server) as client:
        server.on(b"SUB").reply(lambda message: b"SUBACK" if gate.wait(5) else None)
        client.sendto(b"SUB", server.address)
        server.wait_for_requests(1)
        pusher = threading.Thread(target=server.send, args=(b"PUBLISH",))
        pusher.start()
        pusher.join(0.1)
        assert pusher.is_alive()
        gate.set()
        pusher.join(5)
        assert (client.recv(100), client.recv(100)) == (b"SUBACK", b"PUBLISH")
