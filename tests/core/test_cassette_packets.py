"""A cassette as packets: TCP handshakes, sequence arithmetic, closes, UDP; read back with dpkt."""

from __future__ import annotations

from typing import Any

import dpkt  # type: ignore[import-untyped]
import pytest

from socketdouble.core import cassette_packets
from socketdouble.core.cassette import (
    Cassette,
    CassetteEvent,
    CloseEvent,
    DataEvent,
    RecordedConnection,
    Side,
)
from socketdouble.core.cassette_packets import INVENTED_SERVER_PORT, endpoints, initial_sequence, packets
from socketdouble.core.pcap import ACK, FIN, MAX_TCP_PAYLOAD, PSH, RST, SYN

REDIS = (("127.0.0.1", 50412), ("127.0.0.1", 6379))


def tcp(*events: CassetteEvent, opened: float = 1.0, addresses: Any = REDIS) -> Cassette:
    return Cassette("tcp", [RecordedConnection(opened, list(events), *addresses)])


def parsed(cassette: Cassette) -> list[tuple[float, Any]]:
    """Each packet's time and its dpkt IP (or IPv6) object."""
    result = []
    for t, packet in packets(cassette):
        ip = dpkt.ip.IP(packet) if packet[0] >> 4 == 4 else dpkt.ip6.IP6(packet)
        result.append((t, ip))
    return result


def segments(cassette: Cassette) -> list[tuple[int, int, int, int, bytes]]:
    """(source port, flags, seq, ack, payload) of each TCP segment."""
    return [
        (ip.data.sport, ip.data.flags, ip.data.seq, ip.data.ack, ip.data.data) for _, ip in parsed(cassette)
    ]


def test_a_conversation_becomes_a_handshake_turns_and_a_clean_close() -> None:
    cassette = tcp(
        DataEvent(0.001, "client", b"PING\r\n"),
        DataEvent(0.002, "server", b"+PONG\r\n"),
        CloseEvent(0.003, "client", "fin"),
        CloseEvent(0.004, "server", "fin"),
    )
    c, s = initial_sequence(1, 0), initial_sequence(1, 1)
    assert c != s and 0 not in (c, s)  # each direction its own initial sequence number
    assert segments(cassette) == [
        (50412, SYN, c, 0, b""),  # the SYN's ack field is 0
        (6379, SYN | ACK, s, c + 1, b""),
        (50412, ACK, c + 1, s + 1, b""),
        (50412, PSH | ACK, c + 1, s + 1, b"PING\r\n"),
        (6379, PSH | ACK, s + 1, c + 7, b"+PONG\r\n"),
        (50412, FIN | ACK, c + 7, s + 8, b""),
        (6379, FIN | ACK, s + 8, c + 8, b""),  # the client's FIN counted one
        (50412, ACK, c + 8, s + 9, b""),  # the last FIN is acknowledged
    ]
    times = [t for t, _ in parsed(cassette)]
    assert times == [1.0, 1.0, 1.0, 1.001, 1.002, 1.003, 1.004, 1.004]


def test_a_reset_is_an_rst_and_nothing_acknowledges_it() -> None:
    cassette = tcp(DataEvent(0.1, "client", b"Q"), CloseEvent(0.2, "server", "reset"))
    c, s = initial_sequence(1, 0), initial_sequence(1, 1)
    assert segments(cassette)[-2:] == [
        (50412, PSH | ACK, c + 1, s + 1, b"Q"),
        (6379, RST | ACK, s + 1, c + 2, b""),
    ]


def test_a_half_close_then_more_data_from_the_other_side() -> None:
    cassette = tcp(
        DataEvent(0.1, "client", b"all of it"),
        CloseEvent(0.2, "client", "fin"),
        DataEvent(0.3, "server", b"answer"),
        CloseEvent(0.4, "server", "fin"),
    )
    c, s = initial_sequence(1, 0), initial_sequence(1, 1)
    assert segments(cassette)[-3:] == [
        (6379, PSH | ACK, s + 1, c + 11, b"answer"),  # acknowledges the FIN too
        (6379, FIN | ACK, s + 7, c + 11, b""),
        (50412, ACK, c + 11, s + 8, b""),
    ]


def test_a_long_turn_is_cut_into_segments_whose_sequence_numbers_follow() -> None:
    payload = bytes(range(256)) * 600  # 153,600 bytes: three segments
    cassette = tcp(DataEvent(0.0, "server", payload), DataEvent(0.1, "client", b"ok"))
    data = [seg for seg in segments(cassette) if seg[4]]
    assert [len(seg[4]) for seg in data] == [MAX_TCP_PAYLOAD, MAX_TCP_PAYLOAD, 23600, 2]
    assert [seg[1] for seg in data] == [ACK, ACK, PSH | ACK, PSH | ACK]  # PSH ends a turn
    s = initial_sequence(1, 1)
    assert [seg[2] for seg in data[:3]] == [s + 1, s + 1 + MAX_TCP_PAYLOAD, s + 1 + 2 * MAX_TCP_PAYLOAD]
    assert b"".join(seg[4] for seg in data[:3]) == payload
    assert data[3][3] == s + 1 + len(payload)  # the client acknowledges all of it


def test_sequence_numbers_wrap_at_two_to_the_32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cassette_packets, "initial_sequence", lambda number, side: 0xFFFFFF00 + side)
    cassette = tcp(DataEvent(0.0, "server", b"x" * 0x200), DataEvent(0.1, "client", b"y"))
    server_data, client_data = segments(cassette)[-2:]
    assert server_data[2] == 0xFFFFFF02
    assert client_data[3] == (0xFFFFFF02 + 0x200) - 2**32 == 0x102


def test_every_byte_reaches_its_direction_in_order() -> None:
    turns: list[tuple[Side, bytes]] = [
        ("client", b"a" * 70000),
        ("server", b"b"),
        ("client", b"c\x00"),
        ("server", b"d" * 65000),
    ]
    cassette = tcp(*(DataEvent(0.01 * i, side, data) for i, (side, data) in enumerate(turns)))
    sent = {50412: b"", 6379: b""}
    for port, _, _, _, payload in segments(cassette):
        sent[port] += payload
    assert sent == {50412: b"a" * 70000 + b"c\x00", 6379: b"b" + b"d" * 65000}


def test_connections_interleave_by_time_and_each_has_its_own_handshake() -> None:
    first = RecordedConnection(0.0, [DataEvent(0.5, "client", b"late")], *REDIS)
    second = RecordedConnection(0.1, [DataEvent(0.1, "client", b"early")], *REDIS)  # same address pair
    result = parsed(Cassette("tcp", [first, second]))
    times = [t for t, _ in result]
    assert times == sorted(times)
    assert [ip.data.flags for _, ip in result].count(SYN) == 2
    assert [ip.data.data for _, ip in result if ip.data.data] == [b"early", b"late"]


def test_events_stamped_out_of_order_by_two_threads_keep_their_recorded_order() -> None:
    cassette = tcp(DataEvent(0.2, "client", b"first"), DataEvent(0.1999, "server", b"second"))
    result = parsed(cassette)
    assert [ip.data.data for _, ip in result if ip.data.data] == [b"first", b"second"]
    assert [t for t, _ in result][-1] == 1.2


def test_missing_addresses_are_invented_on_loopback_one_client_port_per_connection() -> None:
    cassette = Cassette("unix", [RecordedConnection(0.0, []), RecordedConnection(0.0, [])])
    assert endpoints(1, cassette.connections[0]) == (
        ("127.0.0.1", 49152),
        ("127.0.0.1", INVENTED_SERVER_PORT),
    )
    assert endpoints(2, cassette.connections[1])[0] == ("127.0.0.1", 49153)
    syns = [ip for _, ip in parsed(cassette) if ip.data.flags == SYN]
    assert [(ip.data.sport, ip.data.dport) for ip in syns] == [(49152, 40000), (49153, 40000)]


def test_a_client_of_the_other_ip_version_is_given_the_servers_loopback() -> None:
    connection = RecordedConnection(0.0, [], ("::1", 5555), ("127.0.0.1", 80))
    assert endpoints(1, connection) == (("127.0.0.1", 5555), ("127.0.0.1", 80))
    only_client = RecordedConnection(0.0, [], ("::1", 5555), None)
    assert endpoints(1, only_client) == (("127.0.0.1", 5555), ("127.0.0.1", INVENTED_SERVER_PORT))
    ipv6 = RecordedConnection(0.0, [], None, ("::1", 53))
    assert endpoints(1, ipv6) == (("::1", 49152), ("::1", 53))


def test_ipv6_connections_are_ipv6_packets() -> None:
    cassette = tcp(DataEvent(0.0, "client", b"hi"), addresses=(("::1", 40001), ("::1", 6379)))
    result = parsed(cassette)
    assert all(isinstance(ip, dpkt.ip6.IP6) for _, ip in result)
    assert result[-1][1].data.data == b"hi"


def test_datagrams_are_udp_packets_each_way_and_closes_are_nothing() -> None:
    peer = RecordedConnection(
        2.0,
        [DataEvent(0.0, "client", b"query"), DataEvent(0.5, "server", b"answer")],
        ("127.0.0.1", 53000),
        ("127.0.0.1", 53),
    )
    result = parsed(Cassette("udp", [peer]))
    assert [(t, ip.data.sport, ip.data.dport, ip.data.data) for t, ip in result] == [
        (2.0, 53000, 53, b"query"),
        (2.5, 53, 53000, b"answer"),
    ]
    assert all(isinstance(ip.data, dpkt.udp.UDP) for _, ip in result)


def test_a_unix_datagram_cassette_is_udp_between_invented_endpoints() -> None:
    cassette = Cassette("unix_dgram", [RecordedConnection(0.0, [DataEvent(0.0, "client", b"<13>hi")])])
    [(_, ip)] = parsed(cassette)
    assert (ip.data.sport, ip.data.dport, ip.data.data) == (49152, INVENTED_SERVER_PORT, b"<13>hi")


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_an_empty_cassette_has_no_packets(kind: str) -> None:
    assert list(packets(Cassette(kind, []))) == []
