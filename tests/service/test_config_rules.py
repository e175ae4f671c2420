"""Servers built from the doubles file answer as the file says (real sockets, in process)."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from socketdouble.net.server import BaseServer
from socketdouble.service.config import parse_text
from socketdouble.service.config_rules import parse_rule

TIMEOUT = 5.0


def built(text: str) -> BaseServer:
    (spec,) = parse_text(text, is_json=False, base=Path("/nowhere")).servers
    return spec.build()


def talk(server: BaseServer, *messages: bytes) -> bytes:
    """Send each message, then half-close; everything the server sent until it closed."""
    with socket.create_connection(server.address, timeout=TIMEOUT) as client:
        for message in messages:
            client.sendall(message)
        client.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := client.recv(4096):
            received += chunk
    return received


def test_rules_reply_close_and_record() -> None:
    server = built(
        '[[servers]]\nname = "s"\n'
        '[[servers.rules]]\nmatch = "PING\\n"\nreply = "PONG\\n"\ntimes = 1\n'
        '[[servers.rules]]\nprefix = "LOG "\n'
        '[[servers.rules]]\nmatch = "QUIT\\n"\nreply = "BYE\\n"\nclose = true\n'
    )
    with server:
        assert talk(server, b"PING\n", b"LOG x\n", b"PING\n", b"QUIT\n") == b"PONG\nBYE\n"
    assert server.recording.requests == [b"PING\n", b"LOG x\n", b"PING\n", b"QUIT\n"]
    assert server.recording.unmatched == [b"PING\n"]  # times = 1: the second is unmatched
    assert server.name == "s"


def test_a_greeting_and_a_script() -> None:
    greeted = built('[[servers]]\nname = "g"\ngreeting = "220 hi\\r\\n"\n')
    with greeted:
        assert talk(greeted) == b"220 hi\r\n"
    scripted = built(
        '[[servers]]\nname = "s"\n'
        'script = [{send = "220\\n"}, {expect_prefix = "EHLO"}, {send_hex = "00 01"}, {close = true}]\n'
    )
    with scripted:
        assert talk(scripted, b"EHLO me\n") == b"220\n\x00\x01"
    assert scripted.recording.unmatched == []


def test_length_prefixed_framing_and_binary_rules() -> None:
    server = built(
        '[[servers]]\nname = "bin"\nframing = {length_prefixed = {size = 2}}\n'
        '[[servers.rules]]\nmatch_hex = "0002 ab cd"\nreply_hex = "0001 ff"\n'
    )
    with server:
        assert talk(server, b"\x00\x02", b"\xab\xcd") == b"\x00\x01\xff"
    assert server.recording.requests == [b"\x00\x02\xab\xcd"]


def test_a_udp_double() -> None:
    server = built(
        '[[servers]]\nname = "dns"\nkind = "udp"\n[[servers.rules]]\nany = true\nreply_hex = "beef"\n'
    )
    with server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(TIMEOUT)
        client.sendto(b"query", server.address)
        assert client.recv(100) == b"\xbe\xef"


def test_tls_with_the_given_ca() -> None:
    (spec,) = parse_text(
        '[[servers]]\nname = "t"\nkind = "tls"\ngreeting = "hi"\n', is_json=False, base=Path()
    ).servers
    ca = trustme.CA()
    server = spec.build(ca)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with (
        server,
        socket.create_connection(server.address, timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as client,
    ):
        assert client.recv(10) == b"hi"


def test_a_rule_added_to_a_running_server_answers_at_once() -> None:
    server = built('[[servers]]\nname = "s"\n')
    with server:
        parse_rule({"any": True}, "").add_to(server)  # records only: complete without a reply
        assert not any(rule.pending for rule in server.rules.rules)
        parse_rule({"match": "a\n", "reply": "b\n"}, "").add_to(server)
        assert talk(server, b"a\n") == b""  # rule 1 (any) comes first and answers nothing
    assert server.recording.unmatched == []


def test_a_delayed_reply_and_a_reset() -> None:
    server = built(
        '[[servers]]\nname = "s"\n'
        '[[servers.rules]]\nmatch = "slow\\n"\nreply = "done\\n"\ndelay = 0.2\n'
        '[[servers.rules]]\nmatch = "crash\\n"\nreply = "bye\\n"\nreset = true\n'
    )
    with server, socket.create_connection(server.address, timeout=TIMEOUT) as client:
        started = time.monotonic()
        client.sendall(b"slow\n")
        assert client.recv(100) == b"done\n"
        assert time.monotonic() - started >= 0.2  # a lower bound only: the machine may be slow
        client.sendall(b"crash\n")
        assert client.recv(100) == b"bye\n"
        with pytest.raises(ConnectionResetError):
            client.recv(100)
