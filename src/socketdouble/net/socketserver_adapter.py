"""socketserver compatibility: run a user's ``BaseRequestHandler`` unchanged.

The handler gets a :class:`RecordingSocket` as ``self.request``: it behaves like the
connection's socket (``recv``, ``sendall``, ``makefile``, options, TLS methods) and
feeds every byte through the connection's conversation, so traffic is framed and
recorded like any other. The server's faults act on that socket: what the handler
writes goes out in the faults' pieces at their times, what it reads comes through
the from_client faults, and a fault's close or reset happens under it (its reads then
see end of file, its writes are withheld and noted).
"""

from __future__ import annotations

import collections
import io
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.conversation import Dialogue
from ..core.events import EventSink
from ..core.stream_faults import Piece
from ..errors import ConfigurationError
from .faulty_io import FaultyStream

__all__ = [
    "UNBOUND",
    "RecordingDatagramSocket",
    "RecordingSocket",
    "check_handler",
    "handle_connection",
    "send_datagram",
]

if TYPE_CHECKING:
    from .session import StreamSession

_READ_SIZE = 65536
#: A handler's read into a buffer larger than this is recorded as a copy of its bytes when
#: short: CPython gives such a buffer a memory mapping of its own and only shrinks it to
#: what was read, so the recording would keep a page (and a mapping) per message.
_COPY_SHORT_READS_OVER = 128 * 1024


def _kept(data: bytes, bufsize: int) -> bytes:
    """What the recording keeps of ``data``, read with ``recv(bufsize)`` (see above)."""
    if bufsize > _COPY_SHORT_READS_OVER and len(data) < bufsize // 2:
        return bytes(memoryview(data))
    return data


_SSL_EOF = (ssl.SSLEOFError, ssl.SSLZeroReturnError)

#: How an unbound Unix datagram client's address comes back from recvfrom.
UNBOUND = (None, "", b"")


def check_handler(handler: object, datagram: bool) -> type[socketserver.BaseRequestHandler] | None:
    """Validate ``handler=``: None or a BaseRequestHandler subclass fit for the kind."""
    if handler is None:
        return None
    if isinstance(handler, socketserver.BaseRequestHandler):
        raise ConfigurationError(
            f"handler={handler!r} is an instance; pass the class itself, e.g. handler=MyHandler"
        )
    if not (isinstance(handler, type) and issubclass(handler, socketserver.BaseRequestHandler)):
        raise ConfigurationError(
            f"handler={handler!r} is not a socketserver.BaseRequestHandler subclass; pass such a "
            "class, or leave handler out and script the server with server.on(...).reply(...)"
        )
    if datagram and issubclass(handler, socketserver.StreamRequestHandler):
        raise ConfigurationError(
            f"handler={handler.__name__} is a StreamRequestHandler but this server is a datagram "
            "server; use a DatagramRequestHandler, or a stream server"
        )
    if not datagram and issubclass(handler, socketserver.DatagramRequestHandler):
        raise ConfigurationError(
            f"handler={handler.__name__} is a DatagramRequestHandler but this server is a stream "
            "server; use a StreamRequestHandler, or a datagram server"
        )
    return handler


def handle_connection(session: StreamSession) -> str:
    """Run the server's handler class on ``session``'s connection; return why it closed."""
    server = session.server
    assert server.handler is not None
    conversation = server.conversation(session.sink, session.rules)
    request = RecordingSocket(session.sock, conversation, session.stopping, session.faulty)
    stopping = session.stopping
    client_gone: str | None = None
    try:
        server.handler(request, session.peer, server)  # type: ignore[arg-type]
    except ConnectionError as error:
        # The client reset or left while the handler talked to it: the client's doing
        # (unless a fault or down() ended the connection under the handler).
        if not stopping.is_set() and _ended(session) is None:
            session.sink.on_note(f"the handler ended on the client's close: {error!r}")
            client_gone = "client reset" if isinstance(error, ConnectionResetError) else "client closed"
    except Exception as error:
        quiet = stopping.is_set() or _ended(session) is not None
        if not (quiet and isinstance(error, (OSError, ValueError))):
            session.sink.on_error(error)
    ended = _ended(session) or _held_close(session, request)
    if ended is not None:
        return ended
    if (stopping.is_set() or client_gone) and not request.eof and not request.closed:
        _read_rest(session, request)
    if request.eof and client_gone is None:
        if not session.eof_from_peer(session.fd):
            return "server stopped"
        conversation.end()
        return "client closed"
    if client_gone:
        return client_gone
    return "server stopped" if stopping.is_set() else "handler returned"


def _ended(session: StreamSession) -> str | None:
    return session.ended_by or session.faulty.ended


def _held_close(session: StreamSession, request: RecordingSocket) -> str | None:
    """The handler returned while a fault holds what goes to the client: the close waits too.

    A scheduled ending (timeout, a delayed reset) is carried out at its time; a
    blackhole holds the connection until the client closes or the server stops,
    recording what the client still sends. None when no fault holds the close.
    """
    faults = session.faulty.faults
    if faults is None or faults.to_client.ended is None or request.closed or session.stopping.is_set():
        return None
    session.sink.on_note("the server's close is held back by a fault, as its bytes are")
    ending = faults.to_client.ended
    while not request.eof and session.faulty.ended is None and not session.cut.is_set():
        try:
            request.recv(_READ_SIZE)  # recorded; returns at the ending, the client's close or stop()
        except (*_SSL_EOF, OSError):
            break  # the client reset or left: the connection is over either way
    if session.faulty.ended is None and ending.at != float("inf") and not session.cut.is_set():
        session.faulty.wait_until(ending.at)
        return session.faulty.end_now(session.sock, ending)
    return session.faulty.ended


def _read_rest(session: StreamSession, request: RecordingSocket) -> None:
    """Record what the handler left unread, up to end of file (bounded).

    After stop() the connection is shut down, so reads never block; when the client
    left before stop(), only what the kernel holds is read (never waiting).
    """
    flags = 0
    if not session.stopping.is_set():
        if isinstance(session.sock, ssl.SSLSocket):
            return  # no flags on TLS reads, and a blocking read could wait for a live client
        flags = socket.MSG_DONTWAIT
    while not request.eof:
        try:
            data = request.recv(_READ_SIZE, flags)
        except _SSL_EOF:
            request.eof = True
            return
        except OSError:
            return  # a reset, or nothing queued: the kernel has nothing more to give
        if session.stopping.is_set() and session.drain_spent(len(data)):
            return


class RecordingSocket:
    """A connection socket whose traffic is framed and recorded, and faulted as the server says.

    Bytes count as sent once the socket took them. After stop() (``stopping`` set) a
    write that fails because the server shut the connection down is a note, not an
    exception: the handler goes on reading what its client had sent.
    """

    def __init__(
        self,
        sock: socket.socket,
        conversation: Dialogue,
        stopping: threading.Event | None = None,
        faulty: FaultyStream | None = None,
    ) -> None:
        self._sock = sock
        self._conversation = conversation
        self._sink: EventSink = conversation.sink
        self._stopping = stopping
        self._faulty = faulty
        self._pending: collections.deque[Piece] = collections.deque()  # client bytes a fault holds
        self._io_refs = 0
        self._closed = False
        #: True once a read returned end of file.
        self.eof = False

    @property
    def closed(self) -> bool:
        """True once the handler closed this socket."""
        return self._closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _seen(self, data: bytes) -> None:
        if data:
            self._conversation.receive(data)
        else:
            self.eof = True

    def _faulted(self) -> FaultyStream | None:
        """The connection's faults, once the server's fault list ever changed (else the plain path)."""
        faulty = self._faulty
        return faulty if faulty is not None and faulty.fault_list.version else None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        faulty = self._faulted()
        if faulty is not None:
            return self._recv_faulted(faulty, bufsize, flags)
        data = self._sock.recv(bufsize, flags)
        if not flags & socket.MSG_PEEK:
            self._seen(_kept(data, bufsize))
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        faulty = self._faulted()
        if faulty is not None:
            view = memoryview(buffer).cast("B")
            data = self._recv_faulted(faulty, nbytes or len(view), flags)
            view[: len(data)] = data
            return len(data)
        count = self._sock.recv_into(buffer, nbytes, flags)
        if not flags & socket.MSG_PEEK:
            self._seen(bytes(memoryview(buffer)[:count]))
        return count

    def _recv_faulted(self, faulty: FaultyStream, bufsize: int, flags: int) -> bytes:
        """Read through the from_client faults: each piece handed over at its time."""
        peek = bool(flags & socket.MSG_PEEK)
        while not self._pending:
            if faulty.ended is not None:
                self.eof = True  # the fault closed or reset the connection: nothing more comes
                return b""
            if not flags & socket.MSG_DONTWAIT:
                ending = faulty.wait_for_peer(self._sock)
                if ending is not None:
                    faulty.end_now(self._sock, ending)
                    continue
            data = self._sock.recv(bufsize, flags)
            if peek:
                return data  # a peek sees the wire as it is
            if not data:
                self.eof = True
                return data
            plan = faulty.plan("from_client", data)
            if plan is None:
                self._seen(_kept(data, bufsize))
                return data
            self._pending.extend(plan.pieces)
            self._end_if_due(faulty)
        piece = self._pending[0]
        data = piece.data[:bufsize]
        if peek:
            return data
        faulty.wait_until(piece.at)  # cut short by stop() or down()
        if len(data) < len(piece.data):
            self._pending[0] = Piece(piece.at, piece.data[len(data) :])
        else:
            self._pending.popleft()
        self._seen(_kept(data, bufsize))
        self._end_if_due(faulty)
        return data

    def _end_if_due(self, faulty: FaultyStream) -> None:
        if not self._pending and faulty.ended is None:
            ending = faulty.due()
            if ending is not None:
                faulty.end_now(self._sock, ending)

    def send(self, data: Any, flags: int = 0) -> int:
        faulty = self._faulted()
        if faulty is not None:
            view = _bytes_view(data)
            self._send_faulted(faulty, view, flags)
            return len(view)
        try:
            count = self._sock.send(data, flags)
        except OSError as error:
            view = _bytes_view(data)
            self._unsent(error, len(view), len(view))
            return len(view)
        if count:
            self._sink.on_sent(bytes(_bytes_view(data)[:count]))
        return count

    def sendall(self, data: Any, flags: int = 0) -> None:
        faulty = self._faulted()
        if faulty is not None:
            self._send_faulted(faulty, _bytes_view(data), flags)
        else:
            self._sendall(_bytes_view(data), flags)

    def _sendall(self, view: memoryview, flags: int) -> bool:
        sent = 0
        try:
            while sent < len(view):
                sent += self._sock.send(view[sent:], flags)
        except OSError as error:
            if sent:
                self._sink.on_sent(bytes(view[:sent]))
            self._unsent(error, len(view) - sent, len(view))
            return False
        if sent:
            self._sink.on_sent(bytes(view))
        return True

    def _send_faulted(self, faulty: FaultyStream, view: memoryview, flags: int) -> None:
        """Write through the to_client faults: each piece at its time; a due ending carried out."""
        if faulty.ended is not None:
            self._sink.on_note(f"not sent ({len(view)} byte(s)): the connection ended ({faulty.ended})")
            return
        faulty.send(bytes(view), lambda piece: self._sendall(memoryview(piece), flags))
        ending = faulty.due()
        if ending is not None:
            faulty.end_now(self._sock, ending)

    def _unsent(self, error: OSError, missing: int, size: int) -> None:
        """A write failed: a note after stop() (the handler goes on), else the handler's error."""
        if self._stopping is not None and self._stopping.is_set():
            self._sink.on_note(f"could not send {missing} of {size} byte(s): the server stopped")
            return
        self._sink.on_note(f"could not send {missing} of {size} byte(s): {error}")
        raise error

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """Like ``socket.makefile``: file objects over this (recording) socket."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        raw = socket.SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))  # type: ignore[arg-type]
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if "b" not in mode:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: io.BufferedIOBase
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if "b" in mode:
            return buffer
        text = io.TextIOWrapper(buffer, encoding, errors, newline)  # type: ignore[type-var]
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def __enter__(self) -> RecordingSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RecordingSocket {self._sock!r}>"


class RecordingDatagramSocket:
    """The server's datagram socket as a handler sees it: replies are recorded.

    ``send(data, address)``, when given, is how a reply goes out (the server's, through
    its faults); by default it is sent and recorded on ``sink`` at once.
    """

    def __init__(
        self, sock: socket.socket, sink: EventSink, send: Callable[[bytes, Any], None] | None = None
    ) -> None:
        self._sock = sock
        self._sink = sink
        self._send = send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendto(self, data: Any, *args: Any) -> int:
        payload = bytes(data)
        if self._send is not None:
            self._send(payload, args[-1])
        else:
            send_datagram(self._sock, payload, args[-1], self._sink)
        return len(payload)

    def __repr__(self) -> str:
        return f"<RecordingDatagramSocket {self._sock!r}>"


def send_datagram(
    sock: socket.socket, data: bytes, peer: Any, sink: EventSink, shown: bytes | None = None
) -> None:
    """Send a datagram to ``peer``, recording it; an unbound peer cannot be answered.

    ``shown`` is what the recording gets instead of ``data`` (a proxy's redacted copy).
    """
    shown = data if shown is None else shown
    if peer in UNBOUND:
        sink.on_note(f"reply to an unbound peer dropped: {shown!r}")
        return
    # Recorded first, so a client that has the reply finds it in the recording (a
    # datagram goes out whole or not at all; a failure is noted right after it).
    if data:
        sink.on_sent(shown)
    try:
        sock.sendto(data, peer)
    except OSError as error:
        sink.on_note(f"the datagram above was not sent to {peer!r}: {error}")


def _bytes_view(data: Any) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")
