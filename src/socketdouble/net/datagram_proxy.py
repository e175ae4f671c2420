"""Proxying datagrams (UDP, Unix datagram): one upstream socket and relay thread per client peer.

The serve thread forwards each client datagram on its peer's *link* (a socket connected
to the upstream); the link's relay thread forwards what the upstream answers back to
that peer. The links are shared by the serve thread (which adds them) and stop() (which
shuts them down), so they live under a lock, and no link is opened once stop() began:
every relay thread is then woken by stop() and joined, or reported as abandoned.

Faults act between the client and the upstream: ``from_client`` ones on each client
datagram before it is forwarded, ``to_client`` ones on each upstream datagram before it
is relayed back (see :mod:`.faulty_datagrams`). The cassette keeps the traffic as it was
before faults, each side's datagrams as that side sent them; the recording shows what
passed (what was forwarded, what the client was sent) with the fault events beside it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..core.cassette import CassetteRecorder, ConnectionLog, Redactor
from ..core.conversation import DatagramDialogue
from ..core.recording import ConnectionRecord
from ..errors import HandlerError
from .datagram import MAX_DATAGRAM, DatagramServer
from .socketserver_adapter import UNBOUND, send_datagram
from .upstream import Upstream

__all__ = ["DatagramProxying"]


@dataclass
class _Link:
    """One client peer's way to the upstream."""

    upstream: socket.socket
    log: ConnectionLog
    record: ConnectionRecord


class DatagramProxying(DatagramServer):
    """What a datagram server does to proxy: each client peer gets its own upstream socket."""

    _upstream: Upstream
    recorder: CassetteRecorder
    redactor: Redactor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._links: dict[Any, _Link] = {}
        self._links_lock = threading.Lock()

    def _receive(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        if not self.verified((data, sock), peer):
            return
        record, dialogue = self._peer(peer)
        with self._links_lock:
            if self._stopping.is_set():  # stop() has begun: a new relay could outlive it
                shown = self.redactor(data)
                record.on_note(f"datagram arrived as the proxy stopped, not forwarded: {shown!r}")
                return
            link = self._links.get(peer)
            if link is None:
                link = self._open_link(sock, peer, record)
                if link is None:
                    dialogue.datagram(self.redactor(data))  # the client's datagram, which went nowhere
                    return
                self._links[peer] = link
        link.log.data("client", data, time.monotonic())  # as the client sent it: before faults
        if self._faults.version:  # a fault was added once: the faults see the datagram first
            self._faulty.pass_on(record, "from_client", data, lambda got: self._forward(link, dialogue, got))
        else:
            self._forward(link, dialogue, data)

    def _forward(self, link: _Link, dialogue: DatagramDialogue, data: bytes) -> None:
        """Send a client datagram (past the faults) to the upstream, recorded as received."""
        dialogue.datagram(self.redactor(data))
        try:
            link.upstream.send(data)
        except OSError as error:  # e.g. ECONNREFUSED left by an earlier datagram
            if self._stopping.is_set():  # stop() shut the link down meanwhile
                link.record.on_note(f"datagram arrived as the proxy stopped, not forwarded: {error}")
            else:
                link.record.on_error(self._upstream.unreachable(error))

    def _peer(self, peer: Any) -> tuple[ConnectionRecord, DatagramDialogue]:
        record, dialogue = self._peers.get(peer, (None, None))
        if record is None:
            record = self.recording.open_connection(peer)
        if dialogue is None:
            dialogue = self.datagram_dialogue(record)
            self._peers[peer] = (record, dialogue)
        return record, dialogue

    def _open_link(self, sock: socket.socket, peer: Any, record: ConnectionRecord) -> _Link | None:
        """Connect a socket to the upstream for ``peer`` and start its relay; None on error."""
        upstream = socket.socket(self._upstream.family, socket.SOCK_DGRAM)
        try:
            if upstream.family == socket.AF_UNIX:
                upstream.bind("")  # an address of its own, so the upstream can answer
            upstream.connect(self._upstream.address)
        except OSError as error:
            upstream.close()
            record.on_error(self._upstream.unreachable(error))
            return None
        link = _Link(upstream, self.recorder.open(time.monotonic(), peer, self._upstream.address), record)
        try:
            self._spawn(lambda: self._relay(sock, peer, link), f"upstream-{record.number}")
        except RuntimeError as error:  # cannot start a new thread
            upstream.close()
            record.on_error(error)
            return None
        return link

    def _relay(self, sock: socket.socket, peer: Any, link: _Link) -> None:
        """Forward what the upstream sends on ``link`` to ``peer``, until stop()."""
        record = link.record
        while True:
            try:
                data = link.upstream.recv(MAX_DATAGRAM)
            except OSError as error:
                if self._stopping.is_set():
                    return
                record.on_error(self._upstream.unreachable(error))
                if error.errno == errno.ECONNREFUSED:
                    continue  # an earlier datagram found nobody there; the next one may
                return
            if not data and self._stopping.is_set():
                return  # stop() shut the link down
            link.log.data("server", data, time.monotonic())  # as the upstream sent it: before faults
            self._send_out(sock, data, peer, record)

    def _send_out(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        if self._faults.version and peer not in UNBOUND:
            self._faulty.pass_on(record, "to_client", data, lambda d: self._send_now(sock, d, peer, record))
            return
        send_datagram(sock, data, peer, record, self.redactor(data))

    def _send_now(self, sock: socket.socket, data: bytes, peer: Any, record: ConnectionRecord) -> None:
        # No send lock: each peer's answers come from its own relay thread, in order.
        send_datagram(sock, data, peer, record, self.redactor(data))

    def _interrupt(self) -> None:
        with self._links_lock:  # _stopping is set: no link is added after this copy
            links = list(self._links.values())
        for link in links:
            with contextlib.suppress(OSError):  # already shut down: its relay is awake
                link.upstream.shutdown(socket.SHUT_RDWR)

    def _abandon(self, threads: list[threading.Thread]) -> None:
        super()._abandon(threads)
        for thread in threads:
            if thread.name.startswith("socketdouble-upstream-"):
                self.recording.add_error(
                    HandlerError(
                        f"{thread.name}, relaying the upstream's datagrams, did not return within "
                        f"stop_timeout={self.stop_timeout}s after stop() shut its socket down; "
                        "the socket was closed and the thread abandoned"
                    )
                )

    def _close(self) -> None:
        with self._links_lock:
            links = list(self._links.values())
        for link in links:
            link.upstream.close()
        super()._close()
