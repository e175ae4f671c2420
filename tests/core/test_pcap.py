"""The pcap writer's bytes, read back by dpkt: an independent parser (test-only dependency)."""

from __future__ import annotations

import io
import ipaddress
import struct

import dpkt  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketdouble.core.pcap import (
    ACK,
    LINKTYPE_RAW,
    PSH,
    SNAPLEN,
    SYN,
    Direction,
    checksum,
    file_header,
    max_udp_payload,
    record,
)

V4 = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3"))
V6 = (ipaddress.ip_address("::1"), ipaddress.ip_address("2001:db8::7"))


def reference_sum(data: bytes) -> int:
    """RFC 1071 the slow way: 16-bit words, end-around carry."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4), st.integers(0, 0xFFFF))
def test_checksum_matches_rfc_1071_word_by_word(parts: list[bytes], extra: int) -> None:
    *head, last = parts
    head = [p + b"\0" if len(p) % 2 else p for p in head]  # only the last part may be odd
    words = b"".join(head) + last + (b"\0" if len(last) % 2 else b"")
    total = reference_sum(words + extra.to_bytes(2, "big"))
    assert checksum(*head, last, extra=extra) == (~total & 0xFFFF if total else 0xFFFF)


def test_checksum_of_words_summing_to_all_ones_is_zero() -> None:
    assert checksum(b"\xff\xfe", b"\x00\x01") == 0  # one's complement sum 0xFFFF: checksum 0
    assert checksum(b"\x00\x00") == 0xFFFF  # all zero: the sum is +0


def verified(packet: bytes, version: int) -> dpkt.Packet:
    """Parse ``packet``; assert dpkt computes the same IP and transport checksums."""
    parsed = dpkt.ip.IP(packet) if version == 4 else dpkt.ip6.IP6(packet)
    sums = (getattr(parsed, "sum", None), parsed.data.sum)
    parsed.data.sum = 0
    if version == 4:
        parsed.sum = 0
    again = dpkt.ip.IP(bytes(parsed)) if version == 4 else dpkt.ip6.IP6(bytes(parsed))
    assert (getattr(again, "sum", None), again.data.sum) == sums
    return again


@pytest.mark.parametrize("addresses", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("payload", [b"", b"x", b"PING\r\n", bytes(range(256)) * 254])
def test_tcp_segments_carry_the_right_checksums_and_fields(
    addresses: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], payload: bytes
) -> None:
    direction = Direction(addresses[0], 50412, addresses[1], 6379)
    packet = direction.tcp(0xFFFFFFF0 + 0x20, 7, PSH | ACK, payload)  # the sequence number wraps
    parsed = verified(packet, addresses[0].version)
    tcp = parsed.data
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags) == (50412, 6379, 0x10, 7, PSH | ACK)
    assert tcp.data == payload
    assert (parsed.src, parsed.dst) == (addresses[0].packed, addresses[1].packed)
    if addresses[0].version == 4:
        assert parsed.len == len(packet) and parsed.df and parsed.ttl == 64
    else:
        assert parsed.plen == len(packet) - 40 and parsed.hlim == 64


def test_a_syn_offers_mss_and_window_scale() -> None:
    parsed = verified(Direction(*V4[:1], 1, V4[1], 2).tcp(5, 0, SYN), 4)
    options = dict(dpkt.tcp.parse_opts(parsed.data.opts))
    assert options[dpkt.tcp.TCP_OPT_MSS] == struct.pack("!H", 65495)
    assert options[dpkt.tcp.TCP_OPT_WSCALE] == b"\x07"
    assert parsed.data.ack == 0


def test_ipv4_identification_counts_per_direction() -> None:
    direction = Direction(V4[0], 1, V4[1], 2)
    idents = [dpkt.ip.IP(direction.tcp(1, 1, ACK)).id for _ in range(3)]
    assert idents == [1, 2, 3]


@pytest.mark.parametrize("addresses", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("payload", [b"", b"\x00", b"hello", b"\xff\xff" * 10])
def test_udp_datagrams_carry_the_right_checksums(
    addresses: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], payload: bytes
) -> None:
    parsed = verified(Direction(addresses[0], 53000, addresses[1], 53).udp(payload), addresses[0].version)
    udp = parsed.data
    assert (udp.sport, udp.dport, udp.ulen, udp.data) == (53000, 53, 8 + len(payload), payload)
    assert udp.sum != 0  # zero would mean "no checksum"


@pytest.mark.parametrize("addresses", [V4, V6], ids=["ipv4", "ipv6"])
def test_a_udp_checksum_that_comes_out_zero_is_sent_as_all_ones(
    addresses: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address],
) -> None:
    direction = Direction(addresses[0], 1, addresses[1], 2)
    parse = dpkt.ip.IP if addresses[0].version == 4 else dpkt.ip6.IP6
    # Adding the checksum of a zero word as the word makes the sum 0xFFFF: checksum 0.
    word = parse(direction.udp(b"\0\0")).data.sum
    assert parse(direction.udp(word.to_bytes(2, "big"))).data.sum == 0xFFFF  # 0 would mean "none"


@pytest.mark.parametrize(("addresses", "limit"), [(V4, 65507), (V6, 65527)], ids=["ipv4", "ipv6"])
def test_a_datagram_too_long_for_one_packet_is_cut_to_what_the_length_fields_hold(
    addresses: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], limit: int
) -> None:
    assert max_udp_payload(addresses[0].version) == limit
    packet = Direction(addresses[0], 1, addresses[1], 2).udp(b"d" * 70000)
    parsed = verified(packet, addresses[0].version)
    assert parsed.data.data == b"d" * limit


def test_mixed_ip_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="not of one IP version"):
        Direction(V4[0], 1, V6[0], 2)


def test_a_pcap_file_is_read_by_dpkt_with_times_and_link_type() -> None:
    packets = [Direction(V4[0], 1, V4[1], 2).udp(b"one"), Direction(V6[0], 1, V6[1], 2).udp(b"two")]
    data = file_header() + record(0.0, packets[0]) + record(1234.5678905, packets[1])
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    assert reader.datalink() == LINKTYPE_RAW
    assert reader.snaplen == SNAPLEN
    read = list(reader)
    assert [packet for _, packet in read] == packets
    assert [t for t, _ in read] == [0.0, pytest.approx(1234.567891)]  # microseconds, rounded
