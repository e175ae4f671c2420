"""The public server kinds: TCP, UDP, Unix stream, Unix datagram."""

from __future__ import annotations

from .datagram import DatagramServer
from .stream import StreamServer


class TCPServer(StreamServer):
    """A TCP server on loopback (``host="::1"`` for IPv6), port 0 by default."""

    kind = "TCP"


class UnixStreamServer(StreamServer):
    """A Unix stream server; ``path`` defaults to a file in a private 0700 folder."""

    kind = "Unix stream"
    family_kind = "unix"


class UDPServer(DatagramServer):
    """A UDP server on loopback; each datagram is one message, up to 65,535 bytes."""

    kind = "UDP"


class UnixDatagramServer(DatagramServer):
    """A Unix datagram server; unbound clients are recorded as such."""

    kind = "Unix datagram"
    family_kind = "unix"
