"""socketserver compatibility: run a user's ``BaseRequestHandler`` unchanged.

The handler gets a :class:`RecordingSocket` as ``self.request``: it behaves like the
connection's socket (``recv``, ``sendall``, ``makefile``, options, TLS methods) and
feeds every byte through the connection's conversation, so traffic is framed and
recorded like any other.
"""

from __future__ import annotations

import io
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any

from ..core.conversation import Dialogue
from ..core.events import EventSink
from ..errors import ConfigurationError

__all__ = ["UNBOUND", "RecordingDatagramSocket", "RecordingSocket", "check_handler", "send_datagram"]

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


class RecordingSocket:
    """A connection socket whose traffic is framed and recorded.

    Bytes count as sent once the socket took them. After stop() (``stopping`` set) a
    write that fails because the server shut the connection down is a note, not an
    exception: the handler goes on reading what its client had sent.
    """

    def __init__(
        self, sock: socket.socket, conversation: Dialogue, stopping: threading.Event | None = None
    ) -> None:
        self._sock = sock
        self._conversation = conversation
        self._sink: EventSink = conversation.sink
        self._stopping = stopping
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

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = self._sock.recv(bufsize, flags)
        if not flags & socket.MSG_PEEK:
            self._seen(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        count = self._sock.recv_into(buffer, nbytes, flags)
        if not flags & socket.MSG_PEEK:
            self._seen(bytes(memoryview(buffer)[:count]))
        return count

    def send(self, data: Any, flags: int = 0) -> int:
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
        view = _bytes_view(data)
        sent = 0
        try:
            while sent < len(view):
                sent += self._sock.send(view[sent:], flags)
        except OSError as error:
            if sent:
                self._sink.on_sent(bytes(view[:sent]))
            self._unsent(error, len(view) - sent, len(view))
            return
        if sent:
            self._sink.on_sent(bytes(view))

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
