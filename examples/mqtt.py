"""A user-written MQTT 3.1.1 framing and a few packets: enough to be a broker double.

An MQTT packet is a fixed header (type and flags in one byte, then the remaining
length as a base-128 varint of one to four bytes) and that many bytes. Written by a
user of socketdouble with the public Framing API; not part of the library.
"""

from __future__ import annotations

from collections.abc import Callable

import socketdouble as sd

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 8, 9, 14


class MqttPackets(sd.Framing):
    """One MQTT control packet per message."""

    def frame_length(self, buffer: bytes | bytearray) -> int | None:
        remaining = 0
        for i in range(1, 5):
            if len(buffer) <= i:
                return None
            remaining |= (buffer[i] & 0x7F) << (7 * (i - 1))
            if not buffer[i] & 0x80:
                total = 1 + i + remaining
                return total if len(buffer) >= total else None
        raise sd.FramingError(f"MQTT remaining length {bytes(buffer[1:5]).hex()} runs past 4 bytes")


def packet_type(kind: int) -> Callable[[bytes], bool]:
    """A matcher for packets of one type (CONNECT, SUBSCRIBE...)."""
    return lambda message: message[0] >> 4 == kind


def packet(first: int, body: bytes) -> bytes:
    """A packet with the fixed header ``first`` and ``body``, its length encoded."""
    length = bytearray()
    size = len(body)
    while True:
        byte, size = size & 0x7F, size >> 7
        length.append(byte | (0x80 if size else 0))
        if not size:
            return bytes([first]) + bytes(length) + body


def connack() -> bytes:
    """Connection accepted, no session present."""
    return packet(CONNACK << 4, b"\x00\x00")


def suback(subscribe: bytes) -> bytes:
    """Grant QoS 0 to the one topic filter of ``subscribe`` (its packet id echoed)."""
    header = 2 if subscribe[1] < 0x80 else 3  # a SUBSCRIBE this small has a 1-byte length
    packet_id = subscribe[header : header + 2]
    return packet(SUBACK << 4, packet_id + b"\x00")


def publish(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH of ``payload`` on ``topic``."""
    name = topic.encode()
    return packet(PUBLISH << 4, len(name).to_bytes(2, "big") + name + payload)
