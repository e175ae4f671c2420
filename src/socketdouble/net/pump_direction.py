"""One direction of a proxied stream connection: bytes on their way from a source to a target.

The pump (:mod:`.pump`) moves both directions of a connection; this is what it keeps
for each: the outbound queue and how much of it is written, whether the source is still
read, what an SSL socket waits for, and what faults (:mod:`.pump_faults`) hold back.
"""

from __future__ import annotations

import socket
import ssl
from collections import deque

from ..core.cassette import Side
from ..core.fault_spec import Flow
from ..core.stream_faults import Piece

__all__ = ["Direction"]


class Direction:
    """Bytes on their way from ``source`` to ``target``."""

    def __init__(self, side: Side, source: socket.socket, target: socket.socket, limit: int) -> None:
        self.side = side
        self.client = side == "client"
        self.source = source
        self.target = target
        self.source_fd = source.fileno()
        self.target_fd = target.fileno()
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.limit = limit  # most bytes queued before the source is read no more
        self.offset = 0  # bytes of queue[0] already written
        self.reading = True  # until the source's end of file (or reset)
        self.half_closed = False  # the target's write side was shut after end of file
        self.read_wants_write = False  # an SSL read waits for the socket to be writable
        self.write_blocked = False  # the last write could not take everything
        self.write_wants_read = False  # an SSL write waits for the socket to be readable
        self.ssl = isinstance(source, ssl.SSLSocket)
        #: The last read was long: read straight into a fresh buffer of READ_SIZE (see Pump._fill).
        self.bulk = False
        # Faults (see pump_faults): the direction as a fault names it, the pieces a fault
        # delays (each with its time; they follow what is in ``queue``), and whether a fault
        # ended the direction.
        self.flow: Flow = "from_client" if side == "client" else "to_client"
        self.held: deque[Piece] = deque()
        self.cut = False

    def wants_read(self, stopping: bool) -> bool:
        """Is the source to be read (until its end, while the queue has room or stop() came)?"""
        return self.reading and (stopping or self.queued < self.limit)

    def drop_queue(self) -> None:
        """Forget what is queued (it can go nowhere now)."""
        self.queue.clear()
        self.queued = self.offset = 0
