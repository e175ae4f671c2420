"""dnspython resolving a name through a UDP double."""

from __future__ import annotations

import dns.message
import dns.resolver
import dns.rrset

from socketdouble import UDPServer


def answer_a_record(query: bytes) -> bytes:
    request = dns.message.from_wire(query)
    response = dns.message.make_response(request)
    question = request.question[0]
    response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", "192.0.2.7"))
    return response.to_wire()


def test_dnspython_resolves_through_the_double(udp_server: UDPServer) -> None:
    udp_server.on(lambda m: dns.message.from_wire(m).question[0].name.to_text() == "db.example.test.").reply(
        answer_a_record
    )
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [udp_server.host or ""]
    resolver.port = udp_server.port or 0
    resolver.lifetime = 5
    answer = resolver.resolve("db.example.test", "A")
    assert [record.address for record in answer] == ["192.0.2.7"]
    [query] = udp_server.recording.requests
    assert dns.message.from_wire(query).question[0].rdtype == dns.rdatatype.A
