"""Packets for capture files: pcap (LINKTYPE_RAW), IPv4 and IPv6, TCP and UDP, checksummed.

Sans-IO: every function returns bytes; :mod:`.cassette_packets` decides which packets a
cassette becomes, and the caller writes them. A pcap file is :func:`file_header` then,
per packet, :func:`record`. With ``LINKTYPE_RAW`` a packet starts at its IP header (no
Ethernet frame to invent), and tshark, Wireshark and tcpdump read it.

Checksums use one arithmetic fact: 2**16 is 1 modulo 0xFFFF, so the one's-complement sum
of 16-bit words equals the big-endian integer of the bytes modulo 0xFFFF. ``int.from_bytes``
and ``%`` run in C, so a 65,000-byte segment is summed without a Python loop.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = [
    "ACK",
    "FIN",
    "LINKTYPE_RAW",
    "MAX_TCP_PAYLOAD",
    "PSH",
    "RST",
    "SNAPLEN",
    "SYN",
    "Direction",
    "checksum",
    "file_header",
    "max_udp_payload",
    "record",
]

#: The pcap link type of packets that begin with an IPv4 or IPv6 header.
LINKTYPE_RAW = 101
#: The largest packet a reader is told to expect (tcpdump's default).
SNAPLEN = 262144
#: Payload bytes per TCP segment: an IPv4 packet is at most 65,535 bytes, headers included.
MAX_TCP_PAYLOAD = 65000

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_TCP, _UDP = 6, 17
_WINDOW = 0xFFFF
#: Options of a SYN: MSS 65495 (loopback's), NOP, window scale 7, so the window is not a bottleneck.
_SYN_OPTIONS = struct.pack("!BBHBBBB", 2, 4, 65495, 1, 3, 3, 7)
_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_UDP_HEADER = struct.Struct("!HHHH")


def file_header(snaplen: int = SNAPLEN, linktype: int = LINKTYPE_RAW) -> bytes:
    """The pcap global header: microsecond timestamps, little-endian, version 2.4."""
    return _PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def record(t: float, packet: bytes) -> bytes:
    """One packet's record header and the packet; ``t`` in seconds since the epoch (>= 0)."""
    seconds, micros = divmod(round(t * 1_000_000), 1_000_000)
    return _RECORD_HEADER.pack(seconds, micros, len(packet), len(packet)) + packet


def checksum(*parts: bytes, extra: int = 0) -> int:
    """The Internet checksum (RFC 1071) of ``parts`` laid end to end, plus ``extra`` words.

    Every part but the last must have an even length; the last is padded with a zero byte.
    """
    total = extra
    for part in parts:
        value = int.from_bytes(part, "big")
        total += value << 8 if len(part) % 2 else value
    # In one's complement a sum of words that are not all zero is never +0, but 0xFFFF.
    if total and total % 0xFFFF == 0:
        return 0
    return 0xFFFF - total % 0xFFFF


def max_udp_payload(version: int) -> int:
    """The longest UDP payload one packet of this IP version carries (the length fields' limit)."""
    return 65535 - 8 - (20 if version == 4 else 0)


@dataclass
class Direction:
    """One direction of a flow: source and destination endpoints, and its IP identification counter.

    Builds whole packets (IP header and TCP or UDP segment) going that way.
    """

    source: ipaddress.IPv4Address | ipaddress.IPv6Address
    source_port: int
    destination: ipaddress.IPv4Address | ipaddress.IPv6Address
    destination_port: int
    ident: int = 0

    def __post_init__(self) -> None:
        if self.source.version != self.destination.version:
            raise ValueError(f"{self.source} and {self.destination} are not of one IP version")
        self._src = self.source.packed
        self._dst = self.destination.packed
        # The pseudo-header's addresses and protocol, summed once (its length is added per packet).
        self._pseudo = int.from_bytes(self._src, "big") % 0xFFFF + int.from_bytes(self._dst, "big") % 0xFFFF

    @property
    def version(self) -> int:
        return self.source.version

    def tcp(self, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        """An IP packet holding one TCP segment (a SYN carries MSS and window-scale options)."""
        options = _SYN_OPTIONS if flags & SYN else b""
        offset = (20 + len(options)) // 4
        header = _TCP_HEADER.pack(
            self.source_port,
            self.destination_port,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            offset << 4,
            flags,
            _WINDOW,  # after the SYNs, scaled by 2**7: 8 MB, never a bottleneck in the picture
            0,
            0,
        )
        length = len(header) + len(options) + len(payload)
        summed = checksum(header, options, payload, extra=self._pseudo + _TCP + length)
        segment = b"".join((header[:16], summed.to_bytes(2, "big"), header[18:], options, payload))
        return self._ip(_TCP, segment)

    def udp(self, payload: bytes) -> bytes:
        """An IP packet holding one UDP datagram (cut to :func:`max_udp_payload` bytes)."""
        payload = payload[: max_udp_payload(self.version)]
        length = 8 + len(payload)
        header = _UDP_HEADER.pack(self.source_port, self.destination_port, length, 0)
        summed = checksum(header, payload, extra=self._pseudo + _UDP + length) or 0xFFFF  # 0: "none"
        return self._ip(_UDP, header[:6] + summed.to_bytes(2, "big") + payload)

    def _ip(self, protocol: int, segment: bytes) -> bytes:
        if self.version == 6:
            return _IPV6.pack(6 << 28, len(segment), protocol, 64, self._src, self._dst) + segment
        self.ident = (self.ident + 1) & 0xFFFF
        total = 20 + len(segment)
        header = _IPV4.pack(0x45, 0, total, self.ident, 0x4000, 64, protocol, 0, self._src, self._dst)
        summed = checksum(header)
        return header[:10] + summed.to_bytes(2, "big") + header[12:] + segment
