"""Datagram servers (UDP, Unix datagram): one record and conversation per peer.

Faults (``faults=``, ``server.faults``) act per datagram through
:class:`~socketdouble.net.faulty_datagrams.FaultyDatagrams`: ``from_client`` ones on each
datagram received (once ``verify_request`` let it in), before the double's logic sees
it; ``to_client`` ones on each reply and push. Datagrams due later wait in a queue that
the serve loop serves. A server whose fault list never changed pays an attribute read
and an integer comparison per datagram and per reply, and one call per serve-loop wake-up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.actions import Action, Close, Reset, Send, Sleep
from ..core.conversation import DatagramDialogue
from ..core.events import EventSink
from ..core.recording import ConnectionRecord
from ..errors import ConfigurationError
from . import fork
from .faulty_datagrams import Deliver, FaultyDatagrams
from .server import BaseServer
from .socketserver_adapter import UNBOUND, RecordingDatagramSocket, send_datagram

__all__ = ["MAX_DATAGRAM", "STOP_DRAIN_MAX", "DatagramServer", "UDPServer", "UnixDatagramServer"]

MAX_DATAGRAM = 65535
#: Most datagrams stop() takes from the socket's queue to record them.
STOP_DRAIN_MAX = 4096


class DatagramServer(BaseServer):
    """Receives datagrams; each is one message, answered to its sender."""

    kind = "datagram"
    datagram = True
    socket_type = socket.SOCK_DGRAM

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peers: dict[Any, tuple[ConnectionRecord, DatagramDialogue | None]] = {}
        self._children = fork.Children(self._spawn)
        self._send_lock = threading.RLock()  # replies and pushes are recorded in the order they go out
        self._faulty = FaultyDatagrams(self._faults, self.seed, self._nudge, self.recording.add_error)
        self._fork_warned: set[int] = set()  # peers told that their forked replies pass no faults
        if self.concurrency == "fork" and any(fault.acts_on("to_client") for fault in self._faults):
            raise ConfigurationError(
                f"faults={self._faults!r} on a {type(self).__name__} with concurrency='fork': a forked "
                "child sends its replies itself, so faults cannot act on them; use concurrency='thread' "
                "or 'serial', or direction='from_client' faults only"
            )

    def _serve(self) -> None:
        assert self.socket is not None
        self._serve_while_readable(self.socket, self._receive_pending, self._held_due)

    def _held_due(self) -> float | None:
        """The serve loop's timer: pass on the datagrams a fault held whose time came."""
        if self._faults.version == 0:  # never a fault: nothing can be held
            return None
        return self._faulty.run_due()

    def _receive_pending(self) -> bool:
        """Take every pending datagram; False when stopping."""
        assert self.socket is not None
        while True:
            try:
                data, peer = self.socket.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as error:  # e.g. ICMP port unreachable from an earlier reply
                self.recording.add_error(error)
                return True
            try:
                self._receive(self.socket, data, None if peer in UNBOUND else peer)
            except Exception as error:  # a subclass, a thread that cannot start: serving goes on
                self.recording.add_error(error)
            if self._stopping.is_set():
                return False

    def _drain_queue(self) -> None:
        """At stop: receive and record the datagrams already queued (bounded, never blocking)."""
        sock = self.socket
        if sock is None:
            return
        for _ in range(STOP_DRAIN_MAX):
            if time.monotonic() >= self.drain_deadline:
                for record, _ in list(self._peers.values()):
                    record.on_note("stop() had no time left to record more queued datagrams")
                return
            try:
                data, peer = sock.recvfrom(MAX_DATAGRAM, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):  # nothing more was queued: all recorded
                return
            except OSError:
                continue  # an ICMP error from an earlier reply: the next datagram may still be there
            try:
                self._receive_at_stop(sock, data, None if peer in UNBOUND else peer)
            except Exception as error:
                self.recording.add_error(error)

    def _receive_at_stop(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        """A datagram that was queued when stop() came: recorded, answered by rules.

        A handler does not run (its thread could not be joined any more), nor does a
        subclass's own ``_receive`` (it may start threads or open sockets): the message
        is recorded and noted.
        """
        if self.handler is None and type(self)._receive is DatagramServer._receive:
            self._receive(sock, data, peer)
            return
        if not self.verified((data, sock), peer):
            return
        record = self._record_of(peer)

        def noted(data: bytes) -> None:
            self.datagram_dialogue(record).datagram(data)
            record.on_note("received as the server stopped: not handled")

        self._from_client(record, data, noted)

    def _receive(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        if not self.verified((data, sock), peer):
            return
        record, conversation = self._peers.get(peer, (None, None))
        if record is None:  # as _record_of(), inline: this is the path of every datagram
            record = self.recording.open_connection(peer)
            self._peers[peer] = (record, None)
        if self._faults.version:  # a fault was added once: the faults see the datagram first
            self._faulty.pass_on(record, "from_client", data, lambda got: self._take_later(sock, got, peer))
        else:
            self._take(sock, data, peer, record, conversation)

    def _record_of(self, peer: Any) -> ConnectionRecord:
        """The record of ``peer``, opened with its first datagram."""
        record, _ = self._peers.get(peer, (None, None))
        if record is None:
            record = self.recording.open_connection(peer)
            self._peers[peer] = (record, None)
        return record

    def _from_client(self, record: ConnectionRecord, data: bytes, deliver: Deliver) -> None:
        """A datagram from ``record``'s peer, through the from_client faults to ``deliver``."""
        if self._faults.version:  # a fault was added once: the faults see it first
            self._faulty.pass_on(record, "from_client", data, deliver)
        else:
            deliver(data)

    def _take_later(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        """A datagram the faults let through, now: with the peer's conversation as it is now."""
        self._take(sock, data, peer, *self._peers[peer])

    def _take(
        self,
        sock: socket.socket,
        data: bytes,
        peer: Any,
        record: ConnectionRecord,
        conversation: DatagramDialogue | None,
    ) -> None:
        """The double's logic: a datagram that reached it (past the faults)."""
        if self.handler is not None:
            self._run_handler(sock, data, peer, record)
            return
        if conversation is None:
            conversation = self.datagram_dialogue(record)
            self._peers[peer] = (record, conversation)
            if not self._perform(sock, peer, record, conversation.open()):
                return
        with self._send_lock:  # a push waits for the replies to what was recorded
            ended = not self._perform(sock, peer, record, conversation.datagram(data))
        if ended:
            self._peers[peer] = (record, None)

    def _perform(
        self, sock: socket.socket, peer: Any, record: ConnectionRecord, actions: list[Action]
    ) -> bool:
        """Carry out actions; False when the conversation ended (close or reset)."""
        for action in actions:
            if isinstance(action, Send):
                if self._faults.version:  # a fault was added once: the reply passes the faults
                    self._send_out(sock, action.data, peer, record)
                else:
                    with self._send_lock:
                        send_datagram(sock, action.data, peer, record)
            elif isinstance(action, Sleep):
                if self._stopping.wait(action.seconds):
                    return False
            elif isinstance(action, (Close, Reset)):
                record.on_note(f"conversation ended by {action}; the next datagram starts a new one")
                return False
        return True

    def _send_out(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        """Send a datagram to ``peer`` (a reply, a push, an upstream's answer) through to_client faults."""
        if self._faults.version and peer not in UNBOUND:  # an unbound peer cannot be sent to at all
            self._faulty.pass_on(record, "to_client", data, lambda d: self._send_now(sock, d, peer, record))
            return
        with self._send_lock:  # as _send_now(), inline: this is the path of every reply
            send_datagram(sock, data, peer, record)

    def _send_now(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        """Send a datagram the faults let through."""
        with self._send_lock:
            send_datagram(sock, data, peer, record)

    def _push(self, record: ConnectionRecord, data: bytes) -> bool:
        """Send a pushed datagram to ``record``'s peer from the server's socket."""
        assert self.socket is not None
        with self._send_lock:  # after the replies to what the test saw, faults included
            self._send_out(self.socket, data, record.peer, record)
        return True

    def _run_handler(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        if self.concurrency == "fork":
            self._fork(sock, data, peer, record)
        elif self.concurrency == "serial":
            self._handle(sock, data, peer, record, self._replier(sock, record))
        else:
            self._spawn(
                lambda: self._handle(sock, data, peer, record, self._replier(sock, record)),
                f"datagram-{record.number}",
            )

    def _replier(self, sock: socket.socket, record: ConnectionRecord) -> Callable[[bytes, Any], None]:
        """How a handler's ``sendto`` goes out: through the to_client faults of ``record``'s peer."""
        return lambda data, address: self._send_out(sock, data, address, record)

    def _handle(
        self,
        sock: socket.socket,
        data: bytes,
        peer: Any,
        sink: EventSink,
        send: Callable[[bytes, Any], None] | None = None,
    ) -> None:
        assert self.handler is not None
        self.datagram_dialogue(sink).datagram(data)
        try:
            request = RecordingDatagramSocket(sock, sink, send)
            self.handler((data, request), peer, self)  # type: ignore[arg-type]
        except Exception as error:
            if not (self._stopping.is_set() and isinstance(error, OSError)):
                sink.on_error(error)

    def _fork(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        if (
            self._faults.version
            and record.number not in self._fork_warned
            and self._faulty.acts_on(record, "to_client")
        ):
            self._fork_warned.add(record.number)
            shown = ", ".join(fault.describe() for fault in self._faults if fault.acts_on("to_client"))
            record.on_error(
                ConfigurationError(
                    f"to_client faults ({shown}) cannot act on the replies of forked children: each "
                    "child sends its replies itself; use concurrency='thread' or 'serial'"
                )
            )

        def work(sink: fork.ChannelSink) -> None:
            self._handle(sock, data, peer, sink)

        self._children.fork(work, [sock.fileno()], record, self.rules)

    def _abandon(self, threads: list[threading.Thread]) -> None:
        self._children.abandon(self.stop_timeout)
        for thread in threads:
            if thread.name.startswith("socketdouble-datagram"):
                self.recording.add_error(self._stuck_error(thread))

    def _close(self) -> None:
        try:
            self._drain_queue()
            self._faulty.stop()  # after the drain: a queued datagram may have been held
            for record, _ in list(self._peers.values()):
                record.on_closed("server stopped")
        finally:
            super()._close()


class UDPServer(DatagramServer):
    """A UDP server on loopback; each datagram is one message, up to 65,535 bytes."""

    kind = "UDP"


class UnixDatagramServer(DatagramServer):
    """A Unix datagram server; unbound clients are recorded as such."""

    kind = "Unix datagram"
    family_kind = "unix"
