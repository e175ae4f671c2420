"""dnspython through datagram faults: answers lost, doubled and swapped, as on a real network.

Each test fixes what the faults do (``connections=`` or a ``seed=``), so the same
answer is lost on every run; the recorded fault events say what happened.
"""

from __future__ import annotations

import socket
import time

import dns.exception
import dns.message
import dns.query
import dns.resolver
import dns.rrset

import socketdouble as sd
from socketdouble import Doubles, UDPServer

ADDRESSES = {"db.example.test.": "192.0.2.7", "cache.example.test.": "192.0.2.8"}


def answer(query: bytes) -> bytes:
    request = dns.message.from_wire(query)
    response = dns.message.make_response(request)
    name = request.question[0].name
    response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", ADDRESSES[name.to_text()]))
    return response.to_wire()


def dns_server(server: UDPServer) -> UDPServer:
    server.on(lambda m: dns.message.from_wire(m).question[0].name.to_text() in ADDRESSES).reply(answer)
    return server


def resolver_for(server: UDPServer, timeout: float) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host or ""]
    resolver.port = server.port or 0
    resolver.timeout = timeout  # per try
    resolver.lifetime = 5.0  # in all
    return resolver


def test_the_resolver_retries_past_a_lost_answer(socketdouble: Doubles) -> None:
    # Each try of the resolver comes from a new socket, a new peer: the first one's answer is lost.
    server = dns_server(socketdouble.udp(faults=[sd.faults.drop(connections=[1])]))
    started = time.monotonic()
    answer_ = resolver_for(server, timeout=0.3).resolve("db.example.test", "A")
    assert [record.address for record in answer_] == ["192.0.2.7"]
    assert time.monotonic() - started >= 0.3  # the first try timed out
    first, second = server.recording.connections
    lost = len(answer(first.requests[0]))
    assert first.faults == [f"dropped datagram 1 to the client ({lost} bytes)"]
    assert (second.faults, len(second.sent)) == ([], lost)


def test_a_retry_loop_on_one_socket_gets_the_second_answer(socketdouble: Doubles) -> None:
    # seed 3: of this peer's answers, drop(0.5) takes the first and lets the second go.
    server = dns_server(socketdouble.udp(seed=3, faults=[sd.faults.drop(0.5)]))
    query = dns.message.make_query("cache.example.test", "A")
    where, port = server.host or "", server.port or 0
    tries = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # as dnspython wants a socket it is given
        for attempt in range(1, 4):
            tries.append(attempt)
            try:
                response = dns.query.udp(query, where, port=port, timeout=0.3, sock=sock)
                break
            except dns.exception.Timeout:
                continue
    assert tries == [1, 2]
    assert response.answer[0][0].address == "192.0.2.8"
    [peer] = server.recording.connections
    assert peer.faults == [f"dropped datagram 1 to the client ({len(response.to_wire())} bytes)"]
    assert len(peer.requests) == 2


def test_a_doubled_answer_is_harmless(socketdouble: Doubles) -> None:
    server = dns_server(socketdouble.udp(faults=[sd.faults.duplicate()]))
    answer_ = resolver_for(server, timeout=2.0).resolve("db.example.test", "A")
    assert [record.address for record in answer_] == ["192.0.2.7"]
    assert server.recording.connections[0].faults == ["duplicated datagram 1 to the client (1 extra)"]


def test_swapped_answers_are_told_apart_by_their_ids(socketdouble: Doubles) -> None:
    # Two questions at once on one socket (as getaddrinfo asks for A and AAAA); seed 1
    # swaps the answers. dnspython, given the question, skips the answer that is not its own.
    server = dns_server(socketdouble.udp(seed=1, faults=[sd.faults.reorder(window=2, max_hold=1.0)]))
    destination = (server.host or "", server.port or 0)
    db = dns.message.make_query("db.example.test", "A")
    cache = dns.message.make_query("cache.example.test", "A")
    expiration = time.time() + 5.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # dnspython then waits until expiration, no longer
        dns.query.send_udp(sock, db, destination, expiration)
        dns.query.send_udp(sock, cache, destination, expiration)
        got, _ = dns.query.receive_udp(sock, destination, expiration, ignore_errors=True, query=db)
    assert db.is_response(got)
    assert got.answer[0][0].address == "192.0.2.7"
    assert server.recording.connections[0].faults == ["reordered datagrams to the client: sent as 2, 1"]


def test_without_the_check_the_first_answer_to_arrive_is_the_wrong_one(socketdouble: Doubles) -> None:
    server = dns_server(socketdouble.udp(seed=1, faults=[sd.faults.reorder(window=2, max_hold=1.0)]))
    destination = (server.host or "", server.port or 0)
    db = dns.message.make_query("db.example.test", "A")
    cache = dns.message.make_query("cache.example.test", "A")
    expiration = time.time() + 5.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # dnspython then waits until expiration, no longer
        dns.query.send_udp(sock, db, destination, expiration)
        dns.query.send_udp(sock, cache, destination, expiration)
        first, _ = dns.query.receive_udp(sock, destination, expiration)
        second, _ = dns.query.receive_udp(sock, destination, expiration)
    assert not db.is_response(first)  # dns.query.udp() would raise BadResponse here
    assert (cache.is_response(first), db.is_response(second)) == (True, True)
