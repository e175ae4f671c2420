"""Rules, greetings and scripts over real sockets: what the client sees, what is recorded."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

import socketdouble as sd
from tests.helpers import connect, datagram_client, recv_exactly, recv_until_closed


def test_greeting_and_script_then_close() -> None:
    script = sd.Script().send(b"220 ready\r\n").expect(b"EHLO x\r\n").send(b"250 ok\r\n").close()
    with sd.TCPServer(framing=sd.lines(b"\r\n")) as server:
        server.script(script)
        with connect(server) as client:
            assert client.recv(100) == b"220 ready\r\n"
            client.sendall(b"EHLO x\r\n")
            assert recv_until_closed(client) == b"250 ok\r\n"
    [connection] = server.recording.connections
    assert connection.close_reason == "server closed"
    server.check()


def test_a_script_runs_again_on_every_connection() -> None:
    with sd.UnixStreamServer() as server:
        server.script(sd.Script().expect(b"hi\n").send(b"hello\n"))
        for _ in range(3):
            with connect(server) as client:
                client.sendall(b"hi\n")
                assert client.recv(100) == b"hello\n"
    assert server.recording.requests == [b"hi\n"] * 3
    server.check()


def test_a_script_mismatch_closes_and_is_reported_with_the_expected_step() -> None:
    with sd.TCPServer() as server:
        server.script(sd.Script().expect(b"LOGIN\n").send(b"OK\n"))
        with connect(server) as client:
            client.sendall(b"LOGOUT\n")
            assert recv_until_closed(client) == b""
    with pytest.raises(sd.CheckFailed) as failure:
        server.check()
    assert "b'LOGOUT\\n'" in str(failure.value)
    assert "expected: script step 1: expect(b'LOGIN\\n')" in str(failure.value)


def test_a_script_reset_reaches_the_client_as_a_reset() -> None:
    with sd.TCPServer() as server:
        server.script(sd.Script().expect(b"x\n").reset())
        with connect(server) as client:
            client.sendall(b"x\n")
            with pytest.raises(ConnectionResetError):
                recv_until_closed(client)
    assert server.recording.connections[0].close_reason == "server reset"


def test_a_script_sleep_is_cut_short_by_stop() -> None:
    server = sd.TCPServer().start()
    server.script(sd.Script().send(b"wait\n").sleep(60).send(b"never\n"))
    with connect(server) as client:
        assert client.recv(100) == b"wait\n"
        server.stop()
        assert recv_until_closed(client) == b""
    assert server.recording.connections[0].close_reason == "server stopped"
    assert server.recording.connections[0].sent == b"wait\n"


def test_a_framing_error_closes_that_connection_and_the_server_goes_on() -> None:
    with sd.TCPServer(framing=sd.lines(max_length=16)) as server:
        server.on(b"ok\n").reply(b"fine\n")
        with connect(server) as bad:
            bad.sendall(b"x" * 100)
            assert recv_until_closed(bad) == b""
        with connect(server) as good:
            good.sendall(b"ok\n")
            assert good.recv(10) == b"fine\n"
    assert isinstance(server.recording.connections[0].error, sd.FramingError)
    with pytest.raises(sd.CheckFailed, match="max_length=16"):
        server.check()


def test_a_rule_that_closes_after_replying() -> None:
    with sd.TCPServer() as server:
        server.on(b"QUIT\n").reply(b"bye\n", close=True)
        with connect(server) as client:
            client.sendall(b"QUIT\n")
            assert recv_until_closed(client) == b"bye\n"
    server.check()


def test_rules_added_while_running_apply_to_open_connections() -> None:
    with sd.TCPServer() as server:
        server.on(b"a\n").reply(b"1\n")
        with connect(server) as client:
            client.sendall(b"a\n")
            assert client.recv(10) == b"1\n"
            server.on(b"b\n").reply(b"2\n")
            client.sendall(b"b\n")
            assert client.recv(10) == b"2\n"
    server.check()


def test_a_client_reset_is_recorded() -> None:
    with sd.TCPServer(concurrency="serial") as server:  # serial: the next client waits its turn
        client = connect(server)
        client.sendall(b"x\n")
        server.wait_for_requests(1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        with connect(server) as second:
            second.sendall(b"y\n")
            server.wait_for_requests(2)
    assert server.recording.connections[0].close_reason == "client reset"


def test_half_a_message_at_close_is_unmatched_when_rules_wait_for_messages() -> None:
    with sd.TCPServer() as server:
        server.on(b"full\n")
        with connect(server) as client:
            client.sendall(b"full\nhal")
            client.shutdown(socket.SHUT_WR)
            assert recv_until_closed(client) == b""
    assert server.recording.unmatched == [b"hal"]


def test_length_prefixed_messages_over_a_stream() -> None:
    with sd.TCPServer(framing=sd.length_prefixed(size=2)) as server:
        server.on(b"\x00\x03abc").reply(b"\x00\x02ok")
        with connect(server) as client:
            client.sendall(b"\x00")
            client.sendall(b"\x03a")
            client.sendall(b"bc")
            assert recv_exactly(client, 4) == b"\x00\x02ok"
    server.check()


def test_datagram_scripts_run_per_peer_and_close_ends_the_conversation() -> None:
    with sd.UDPServer() as server:
        server.script(sd.Script().expect(b"hello").send(b"welcome").close())
        with datagram_client(server) as client:
            client.sendto(b"hello", server.address)
            assert client.recv(100) == b"welcome"
            client.sendto(b"hello", server.address)  # a new conversation
            assert client.recv(100) == b"welcome"
    assert "conversation ended by close()" in server.recording.transcript()
    server.check()


def test_datagram_rules_with_a_sleep_step() -> None:
    with sd.UnixDatagramServer() as server:
        server.script(sd.Script().expect(sd.ANY).sleep(0).send(b"late"))
        with datagram_client(server) as client:
            client.sendto(b"x", server.address)
            assert client.recv(100) == b"late"


def test_unmatched_datagrams_are_reported() -> None:
    with sd.UDPServer() as server:
        server.on(b"known").reply(b"yes")
        with datagram_client(server) as client:
            client.sendto(b"unknown", server.address)
            server.wait_for_requests(1)
    assert server.recording.unmatched == [b"unknown"]


# -- rules added while the server runs ----------------------------------------------------


def test_a_message_that_comes_before_reply_on_a_running_server_still_gets_it() -> None:
    deciding = threading.Event()

    def ping(message: bytes) -> bool:
        deciding.set()
        return message == b"PING\n"

    with sd.TCPServer() as server:
        server.rules.settle_timeout = 30.0  # only reply() may end the wait
        rule = server.on(ping)
        with connect(server) as client:
            client.sendall(b"PING\n")
            assert deciding.wait(5)  # the worker has the message before the rule has its reply
            rule.reply(b"PONG\n")
            assert client.recv(100) == b"PONG\n"
    server.check()


def test_a_bare_rule_on_a_running_server_accepts_and_records() -> None:
    with sd.TCPServer() as server:
        server.rules.settle_timeout = 30.0  # longer than the client waits: a trigger must end it
        server.on(b"PING\n").reply(b"PONG\n")
        bare = server.on(sd.ANY)
        assert bare.pending
        with connect(server) as client:
            client.sendall(b"anything\n")
            server.wait_for_requests(1)  # the test waits on traffic: its rules are configured
            assert not bare.pending
            client.sendall(b"PING\n")
            assert client.recv(100) == b"PONG\n"
    assert bare.used == 1
    assert server.recording.unmatched == []
    server.check()


# -- what check() shows beside an unmatched message -------------------------------------------


def test_check_lists_the_rules_beside_an_unmatched_message_and_cuts_long_ones() -> None:
    with sd.TCPServer() as server:
        server.on(sd.regex(rb"\AGET ")).reply(b"ok\n")
        server.on(sd.prefix(b"PUT ")).reply(b"stored\n")
        with connect(server) as client:
            client.sendall(b"GET /\n")
            assert client.recv(100) == b"ok\n"
            client.sendall(b"DELETE " + b"x" * 500 + b"\n")
            server.wait_for_requests(2)
    problems = server.problems()
    assert len(problems) == 1
    first, *hint = problems[0].splitlines()
    assert first.endswith("b'DELETE " + "x" * 113 + "' ... (388 more bytes, 508 in all)")
    assert hint == [
        "    no rule matches",
        "    rules (2):",
        "      rule 1: on(regex(b'\\\\AGET ')) -> b'ok\\n' (used 1)",
        "      rule 2: on(prefix(b'PUT ')) -> b'stored\\n' (used 0)",
    ]


def test_rules_added_before_start_are_complete_at_once() -> None:
    server = sd.TCPServer()
    assert not server.on(sd.ANY).pending  # nothing can arrive before start()
