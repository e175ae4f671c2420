"""A served double's recording as a cassette, so ``show`` and ``replay`` work on it.

A recording proxy has a cassette already (:meth:`RecordingProxy.cassette`). Any other
server's recording becomes one here: what the client sent (its messages, which laid end
to end are the stream), what the server sent, and how each connection closed, at the
times they happened.
"""

from __future__ import annotations

from typing import Any

from ..core.cassette import Cassette, CassetteEvent, CloseEvent, CloseHow, DataEvent, RecordedConnection, Side
from ..core.cassette_model import InetAddress, inet_address
from ..core.events import EventKind
from ..core.recording import ConnectionRecord, Recording
from ..net.proxy import RecordingProxy
from ..net.server import BaseServer

__all__ = ["cassette_of", "recording_cassette"]

#: How a connection's close reason reads as a cassette close: who closed, and how.
_CLOSES: dict[str, tuple[Side, CloseHow]] = {
    "client closed": ("client", "fin"),
    "client reset": ("client", "reset"),
    "server closed": ("server", "fin"),
    "server reset": ("server", "reset"),
    "server error": ("server", "fin"),
}


def cassette_of(server: BaseServer, kind: str) -> Cassette:
    """The cassette of ``server``: a proxy's own, else its recording's (``kind``: the cassette's)."""
    if isinstance(server, RecordingProxy):
        return server.cassette()
    return recording_cassette(server.recording, kind, server.address)


def recording_cassette(recording: Recording, kind: str, address: Any = None) -> Cassette:
    """``recording`` as a cassette of ``kind`` ("tcp", "udp", "unix" or "unix_dgram").

    ``address``: the server's, kept with each connection (as its peer's is) when both
    are IP endpoints, so a pcap export shows the real ports.
    """
    datagram = kind in ("udp", "unix_dgram")
    server = inet_address(address)
    return Cassette(kind, [_connection(record, datagram, server) for record in recording.connections])


def _connection(record: ConnectionRecord, datagram: bool, server: InetAddress | None) -> RecordedConnection:
    opened = record.opened_at
    # (time, side, chunks) per turn, or a close: chunks are joined once, at the end.
    entries: list[tuple[float, Side, list[bytes]] | CloseEvent] = []
    for event in list(record.events):
        t = max(0.0, event.offset - opened)
        if event.kind is EventKind.CLOSE and not datagram and event.text in _CLOSES:
            who, how = _CLOSES[event.text]
            entries.append(CloseEvent(t, who, how))
            continue
        if event.kind not in (EventKind.MESSAGE, EventKind.SEND):
            continue
        side: Side = "client" if event.kind is EventKind.MESSAGE else "server"
        last = entries[-1] if entries else None
        if not datagram and isinstance(last, tuple) and last[1] == side:
            last[2].append(event.data)  # a stream turn: all one side sends before the other speaks
        else:
            entries.append((t, side, [event.data]))
    events: list[CassetteEvent] = [
        entry if isinstance(entry, CloseEvent) else DataEvent(entry[0], entry[1], b"".join(entry[2]))
        for entry in entries
    ]
    client = inet_address(record.peer) if server is not None else None
    return RecordedConnection(max(0.0, opened), events, client, server if client is not None else None)
