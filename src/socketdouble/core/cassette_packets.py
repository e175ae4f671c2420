"""A cassette as the packets a capture of it would hold: what ``socketdouble export --pcap`` writes.

Each stream connection becomes a TCP connection as tshark and Wireshark expect one:
a SYN (its acknowledgement number 0), SYN-ACK and ACK at the connection's opening, so
two connections between one address pair are still two streams; each direction with
its own initial sequence number, the SYN and the FIN each counting one; every segment
acknowledging the peer's next sequence number (a zero or gapped one makes "Follow TCP
stream" lose data); each turn cut into segments of at most
:data:`~.pcap.MAX_TCP_PAYLOAD` bytes; and the close as recorded, a FIN (acknowledged
when it is the last word) or an RST. Each datagram becomes a UDP packet.

Addresses come from the cassette (version 3 keeps the client's and the upstream's);
where it has none (Unix kinds, older cassettes) loopback ones are invented: the server
on :data:`INVENTED_SERVER_PORT`, each connection's client on its own port. Packet times
are the recorded ones, counted from the Unix epoch (a cassette keeps no wall-clock time).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterator

from .cassette_model import Cassette, CassetteEvent, DataEvent, InetAddress, RecordedConnection, Side
from .pcap import ACK, FIN, MAX_TCP_PAYLOAD, PSH, RST, SYN, Direction

__all__ = ["INVENTED_SERVER_PORT", "Packet", "endpoints", "initial_sequence", "packets"]

#: The server port given to connections recorded without addresses: no tshark dissector claims it.
INVENTED_SERVER_PORT = 40000
#: Invented client ports count up from here, one per connection.
_CLIENT_PORTS = (49152, 16384)

Packet = tuple[float, bytes]
"""A packet and its time (seconds since the start of the recording)."""
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def packets(cassette: Cassette) -> Iterator[Packet]:
    """Every packet of ``cassette``, connections interleaved by time (ties in recorded order)."""
    flows = (
        _flow(cassette.datagram, number, connection)
        for number, connection in enumerate(cassette.connections, start=1)
    )
    return heapq.merge(*flows, key=lambda packet: packet[0])


def endpoints(number: int, connection: RecordedConnection) -> tuple[InetAddress, InetAddress]:
    """The (client, server) addresses of connection ``number`` (1-based), invented where missing.

    Both are of one IP version, the server's: a client that reached the proxy over the
    other version is given the loopback address of the server's, keeping its port.
    """
    server = connection.server or ("127.0.0.1", INVENTED_SERVER_PORT)
    version = ipaddress.ip_address(server[0]).version
    loopback = "127.0.0.1" if version == 4 else "::1"
    client = connection.client or (loopback, _CLIENT_PORTS[0] + (number - 1) % _CLIENT_PORTS[1])
    if ipaddress.ip_address(client[0]).version != version:
        client = (loopback, client[1])
    return client, server


def initial_sequence(number: int, side: int) -> int:
    """A fixed, well-spread initial sequence number per connection and side (0 client, 1 server)."""
    return (2654435761 * (2 * number + side + 1)) & 0xFFFFFFFF  # Knuth's multiplicative hash


def _flow(datagram: bool, number: int, connection: RecordedConnection) -> Iterator[Packet]:
    (client_ip, client_port), (server_ip, server_port) = endpoints(number, connection)
    client, server = ipaddress.ip_address(client_ip), ipaddress.ip_address(server_ip)
    up = Direction(client, client_port, server, server_port)
    down = Direction(server, server_port, client, client_port)
    if datagram:
        return _datagrams(connection, up, down)
    return _tcp(number, connection, up, down)


def _timed(connection: RecordedConnection) -> Iterator[tuple[float, CassetteEvent]]:
    """Each event with its time, never earlier than the one before (two threads stamp events)."""
    last = connection.opened
    for event in connection.events:
        last = max(last, connection.opened + event.t)
        yield last, event


def _datagrams(connection: RecordedConnection, up: Direction, down: Direction) -> Iterator[Packet]:
    for t, event in _timed(connection):
        if isinstance(event, DataEvent):
            yield t, (up if event.side == "client" else down).udp(event.payload)


def _tcp(number: int, connection: RecordedConnection, up: Direction, down: Direction) -> Iterator[Packet]:
    t = connection.opened
    isn: dict[Side, int] = {"client": initial_sequence(number, 0), "server": initial_sequence(number, 1)}
    yield t, up.tcp(isn["client"], 0, SYN)
    yield t, down.tcp(isn["server"], isn["client"] + 1, SYN | ACK)
    yield t, up.tcp(isn["client"] + 1, isn["server"] + 1, ACK)
    # The next sequence number of each side: what the other acknowledges.
    following: dict[Side, int] = {"client": isn["client"] + 1, "server": isn["server"] + 1}
    directions: dict[Side, Direction] = {"client": up, "server": down}
    last_fin: Side | None = None  # the side whose FIN was the last word, if one was
    for t, event in _timed(connection):
        side, other = event.side, _other(event.side)
        way = directions[side]
        last_fin = None
        if isinstance(event, DataEvent):
            payload = event.payload  # a whole-bytes slice is the object itself: no copy when it fits
            for start in range(0, len(payload), MAX_TCP_PAYLOAD):
                piece = payload[start : start + MAX_TCP_PAYLOAD]
                flags = ACK | (PSH if start + MAX_TCP_PAYLOAD >= len(payload) else 0)
                yield t, way.tcp(following[side], following[other], flags, piece)
                following[side] += len(piece)
        elif event.how == "reset":
            yield t, way.tcp(following[side], following[other], RST | ACK)
        else:
            yield t, way.tcp(following[side], following[other], FIN | ACK)
            following[side] += 1  # a FIN counts one, as a SYN does
            last_fin = side
    if last_fin is not None:  # its peer acknowledges the last FIN, as TCP's close ends
        peer = _other(last_fin)
        yield t, directions[peer].tcp(following[peer], following[last_fin], ACK)


def _other(side: Side) -> Side:
    return "server" if side == "client" else "client"
