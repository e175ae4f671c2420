"""Talking first: bytes a server sends unasked (a broker's PUBLISH, a push, a keep-alive).

``server.send(data, connection=None)`` and ``server.broadcast(data)`` land here; each
server kind delivers through its ``_push(record, data)``. A push never cuts into a
reply: a stream session writes under its send lock (replies take it too), so the
client reads a reply then the push, or the push then the reply, never a mix; the bytes
are recorded as sent under that lock, in wire order. Datagrams go out whole. The
session also holds that lock from recording a message to sending its replies, so a
push made after ``wait_for_requests(n)`` returned follows the replies to those n
messages (a SUBACK before the PUBLISH). A script ``sleep`` in a reply delays pushes.

TLS: an SSL object must not be used by two threads at once, not even one reading and
one writing (OpenSSL's rule), and the session thread is always inside a read. So a
push to a TLS connection is queued in a :class:`PushQueue` and written by the session
thread itself, which waits for the client *or* a push.

A server that runs a socketserver ``handler=`` refuses pushes: the handler owns its
connections and may be halfway through writing an answer of its own.
"""

from __future__ import annotations

import collections
import select
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.recording import ConnectionRecord
from ..errors import ConfigurationError, ServerStateError

__all__ = ["READY_TIMEOUT", "PushQueue", "broadcast", "open_connections", "send"]

if TYPE_CHECKING:
    from .server import BaseServer

#: Longest a push waits for its connection to be ready (accepted, TLS handshake done).
READY_TIMEOUT = 5.0


def send(
    server: BaseServer, data: bytes, connection: ConnectionRecord | int | None = None
) -> ConnectionRecord:
    """Send ``data`` to one live connection of ``server`` and return its record.

    ``connection`` is a record from ``server.recording.connections``, or its 1-based
    number; by default the one open connection (a ConfigurationError if there are none
    or several, saying how many). Returns once the bytes are in the kernel's buffers:
    a client that never reads can block it (stop() ends the wait). The bytes are
    recorded as sent. A connection that closes as the push comes is a ConfigurationError.
    """
    payload = _pushable(server, data, "send()")
    record = _chosen(server, connection)
    if not server._push(record, payload):
        raise ConfigurationError(
            f"send() to connection {record.number} from {record.peer!r} on {server.name}: it closed "
            f"({record.close_reason or 'as the push came'}) before the bytes could go out"
        )
    return record


def broadcast(server: BaseServer, data: bytes) -> list[ConnectionRecord]:
    """Send ``data`` to every open connection (datagram servers: every peer); return those reached.

    No open connection is not an error (a keep-alive may find none): the list is empty.
    """
    payload = _pushable(server, data, "broadcast()")
    return [record for record in open_connections(server) if server._push(record, payload)]


def open_connections(server: BaseServer) -> list[ConnectionRecord]:
    """Connections a push can reach: not closed, and (datagrams) with an address to send to."""
    return [
        record for record in server.recording.connections if not record.closed and record.peer is not None
    ]


def _pushable(server: BaseServer, data: object, what: str) -> bytes:
    if server.not_scriptable:
        raise ConfigurationError(
            f"{what} on {server.name}: {server.not_scriptable}; it sends nothing of its own"
        )
    if server.handler is not None:
        raise ConfigurationError(
            f"{what} on a server with handler={server.handler.__name__}: the handler owns its "
            "connections and may be halfway through an answer; send from the handler "
            "(self.request.sendall / self.wfile.write), or drop handler= and use rules or a script"
        )
    if not server.datagram and server.concurrency == "fork":
        raise ConfigurationError(
            f"{what} on a server with concurrency='fork': each connection is served by a child "
            "process that alone writes to it; use concurrency='thread' or 'serial' to push"
        )
    if not server.running:
        raise ServerStateError(f"{what} on {server!r}: only a running server has connections to send to")
    if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigurationError(
            f"{what} takes bytes, got {data!r}; encode text first, e.g. {data!r}.encode()"
        )
    return bytes(data)


def _chosen(server: BaseServer, connection: ConnectionRecord | int | None) -> ConnectionRecord:
    records = server.recording.connections
    if connection is None:
        live = open_connections(server)
        if len(live) != 1:
            numbers = ", ".join(str(record.number) for record in live)
            raise ConfigurationError(
                f"send() without connection= on {server.name}: it needs exactly one open connection, "
                f"and there are {len(live)}{f' ({numbers})' if live else ''}; pass connection= (a record "
                "from recording.connections or its number), use broadcast(), or wait for a client "
                "with wait_for_connections(1)"
            )
        return live[0]
    if isinstance(connection, int) and not isinstance(connection, bool):
        if not 1 <= connection <= len(records):
            raise ConfigurationError(
                f"send(connection={connection}) on {server.name}: connections are numbered 1 to "
                f"{len(records)} ({len(records)} seen so far)"
            )
        record = records[connection - 1]
    elif isinstance(connection, ConnectionRecord) and connection in records:
        record = connection
    else:
        raise ConfigurationError(
            f"send(connection={connection!r}): pass a record from {server.name}'s recording.connections "
            "or its 1-based number"
        )
    if record.closed:
        raise ConfigurationError(
            f"send() to connection {record.number} on {server.name}: it is closed ({record.close_reason})"
        )
    if record.peer is None:
        raise ConfigurationError(
            f"send() to connection {record.number} on {server.name}: an unbound Unix datagram client "
            "has no address to send to; bind the client socket"
        )
    return record


class _Push:
    __slots__ = ("data", "done", "sent")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.done = threading.Event()
        self.sent = False


class PushQueue:
    """Pushes to one TLS connection, written by its session thread (see the module docstring).

    The session reads through :meth:`recv`, which waits for the client's bytes or a
    wake-up from :meth:`submit`, and writes queued pushes with the session's ``send``.
    """

    def __init__(self, sock: ssl.SSLSocket, send: Callable[[bytes], None]) -> None:
        self._sock = sock
        self._send = send
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._lock = threading.Lock()
        self._queue: collections.deque[_Push] = collections.deque()
        self._closed = False
        self._poller = select.poll()
        self._poller.register(sock.fileno(), select.POLLIN)
        self._poller.register(self._wake_reader.fileno(), select.POLLIN)

    def submit(self, data: bytes) -> bool:
        """Queue ``data`` and wait until the session wrote it; False if the session ended first."""
        push = _Push(data)
        with self._lock:
            if self._closed:
                return False
            self._queue.append(push)
        try:
            self._wake_writer.send(b"\0")
        except BlockingIOError:
            pass  # the wake-up socket is full of wake-ups already: the session will look at the queue
        except OSError:
            pass  # closed meanwhile: close() resolved this push as not sent
        push.done.wait()  # the session writes it or ends (stop() ends every session)
        return push.sent

    def recv(self, size: int) -> bytes:
        """Read from the client like ``sock.recv``, writing pushes while waiting."""
        wake = self._wake_reader.fileno()
        while not self._sock.pending():
            events = dict(self._poller.poll())
            if wake in events:
                self._write_pushes()
            if len(events) > 1 or wake not in events:
                break  # the client sent something, closed, or stop() shut the socket down
        return self._sock.recv(size)

    def _write_pushes(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass  # every wake-up read: the queue is what counts
        while True:
            with self._lock:
                if not self._queue:
                    return
                push = self._queue.popleft()
            try:
                self._send(push.data)  # records what went out, notes a failure
                push.sent = True
            finally:
                push.done.set()

    def close(self) -> None:
        """The session ended: pushes still queued were not sent; release their senders."""
        with self._lock:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
        for push in left:
            push.done.set()
        self._wake_reader.close()
        self._wake_writer.close()
