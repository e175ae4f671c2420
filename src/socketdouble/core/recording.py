"""The recording: every connection, byte and message a server saw.

A :class:`Recording` belongs to one server. Workers write to it through each
connection's :class:`ConnectionRecord` (the ``on_*`` methods); tests read it through
properties that return plain lists, copied under the lock, so reading while the
server runs is safe.

The writers are on every message's path, so each takes the recording's lock once
(the plain lock under the Condition: no Python-level ``__enter__``; readers take it
too, and only waits use the Condition) and reads the clock once, under that lock:
offsets on one recording never go backwards, whichever thread wrote them.
:meth:`ConnectionRecord.on_received_messages` records a read and the messages it
completed in one such step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import WaitTimeout
from .events import Event, EventKind, describe_error
from .transcript import ConnectionView, RecordingView, render
from .waiting import NOT_READY, AsyncWaiters, await_ready

T = TypeVar("T")

_monotonic = time.monotonic
_tuple_new = tuple.__new__  # an Event without NamedTuple's Python-level __new__: hot path only
_MESSAGE, _SEND = EventKind.MESSAGE, EventKind.SEND

__all__ = ["ConnectionRecord", "Recording"]


class ConnectionRecord:
    """One connection (for datagram servers: one peer) and everything on it."""

    def __init__(self, recording: Recording, number: int, peer: Any) -> None:
        self._recording = recording
        self.number = number
        #: The peer's address as the socket reported it (None for an unbound Unix client).
        self.peer = peer
        self.opened_at = recording.now()
        self.closed_at: float | None = None
        #: Why it closed: "client closed", "client reset", "server closed", ... or None.
        self.close_reason: str | None = None
        #: The first error on this connection (framing, TLS, handler), or None.
        self.error: BaseException | None = None
        self._received: list[bytes] = []  # chunks, joined when read: each byte copied once
        self._sent: list[bytes] = []
        self._messages: list[bytes] = []
        self.events: list[Event] = [Event(self.opened_at, EventKind.OPEN)]

    @property
    def received(self) -> bytes:
        """Every byte that came in, in order."""
        with self._recording._mutex:
            received = b"".join(self._received)
            self._received = [received]
            return received

    @property
    def sent(self) -> bytes:
        """Every byte that went out, in order."""
        with self._recording._mutex:
            sent = b"".join(self._sent)
            self._sent = [sent]
            return sent

    @property
    def requests(self) -> list[bytes]:
        """The messages of this connection, as cut by the framing."""
        with self._recording._mutex:
            return list(self._messages)

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    def on_received(self, data: bytes) -> None:
        """Bytes came in (framed into messages separately, by :meth:`on_message`)."""
        with self._recording._mutex:
            self._received.append(data if type(data) is bytes else bytes(data))

    def on_message(self, message: bytes) -> None:
        """A whole inbound message, as the framing cut it: logged with its time."""
        recording = self._recording
        with recording._mutex:  # on_received_messages(b"", (message,)), one call shorter
            self._messages.append(message)
            recording._requests.append(message)
            self.events.append(_tuple_new(Event, (_monotonic() - recording.started, _MESSAGE, message, "")))
            if recording._waiters:
                recording._wake()

    def on_received_messages(self, data: bytes, messages: Sequence[bytes]) -> None:
        """``data`` came in and completed ``messages`` (maybe none): :meth:`on_received`,
        then :meth:`on_message` for each, in one step (one lock, one clock reading).

        The messages arrived together, so they share one offset; each is still its own
        event. Waiters (``wait_for_requests``) wake once, after all of them.
        """
        recording = self._recording
        with recording._mutex:
            if data:
                self._received.append(data if type(data) is bytes else bytes(data))
            if not messages:
                return
            offset = _monotonic() - recording.started
            events = self.events
            for message in messages:
                self._messages.append(message)
                recording._requests.append(message)
                events.append(_tuple_new(Event, (offset, _MESSAGE, message, "")))
            if recording._waiters:
                recording._wake()

    def on_unmatched(self, message: bytes, hint: str) -> None:
        self._recording._add_unmatched(self, message, hint)

    def on_sent(self, data: bytes) -> None:
        """Bytes went out (as a whole: a failed send records only what left)."""
        recording = self._recording
        with recording._mutex:
            self._sent.append(data if type(data) is bytes else bytes(data))
            self.events.append(_tuple_new(Event, (_monotonic() - recording.started, _SEND, data, "")))

    def on_error(self, error: BaseException) -> None:
        self._recording._add_error(self, error)

    def on_note(self, text: str) -> None:
        with self._recording._mutex:
            self.events.append(Event(self._recording.now(), EventKind.NOTE, text=text))

    def on_fault(self, text: str) -> None:
        """A fault acted on this connection: ``text`` says what it did ("reset after 3 bytes ...")."""
        recording = self._recording
        with recording._mutex:
            self.events.append(Event(recording.now(), EventKind.FAULT, text=text))
            recording.faulted = True

    @property
    def faults(self) -> list[str]:
        """What faults did on this connection, in order (each as its transcript line says)."""
        with self._recording._mutex:
            return [event.text for event in self.events if event.kind is EventKind.FAULT]

    #: on_rule_used does nothing here: conversations need not call it (see EventSink).
    wants_rule_uses = False

    def on_rule_used(self, number: int) -> None:
        """Counted by the rule book already; kept for sinks that relay it."""

    def on_closed(self, reason: str) -> None:
        recording = self._recording
        with recording._mutex:
            if self.close_reason is not None:
                return
            self.closed_at = recording.now()
            self.close_reason = reason
            self.events.append(Event(self.closed_at, EventKind.CLOSE, text=reason))
            if recording._waiters:
                recording._wake()

    def __repr__(self) -> str:
        state = self.close_reason or "open"
        return f"<connection {self.number} from {self.peer!r}, {state}>"


class Recording:
    """Everything one server saw; see the module docstring."""

    def __init__(self, name: str = "server") -> None:
        self.name = name
        #: The lock writers and readers take (C-level, cheap); ``lock`` is the Condition over it.
        self._mutex = threading.Lock()
        self._condition: threading.Condition | None = None  # made by the first wait: see lock
        self.started = time.monotonic()
        self._connections: list[ConnectionRecord] = []
        self._requests: list[bytes] = []
        self._unmatched: list[tuple[ConnectionRecord | None, bytes, str]] = []
        self._rejected: list[Any] = []
        #: Errors raised in handlers or on connections (live list: a test that
        #: provoked an error on purpose may assert on it and clear it).
        self.errors: list[BaseException] = []
        self._waiters = 0  # threads and coroutines waiting: only then do workers wake anyone
        self._async_waiters = AsyncWaiters()
        self.error_contexts: dict[int, ConnectionRecord | None] = {}
        #: The seed of the server's faults (``server.seed``); the transcript shows it once a fault acted.
        self.seed: int | None = None
        self.faulted = False
        #: Faults that acted on the server itself, not on one connection (connect_timeout, an outage).
        self._server_events: list[Event] = []

    @property
    def lock(self) -> threading.Condition:
        """The Condition over the recording's lock, for waits; made on first use.

        Most recordings are never waited on, and a Condition costs more to make than the
        rest of the recording. Writers wake it only while ``_waiters`` counts a waiter,
        and a waiter asks for it (so it exists) before it counts itself.
        """
        condition = self._condition
        if condition is None:
            with self._mutex:
                condition = self._condition
                if condition is None:
                    condition = self._condition = threading.Condition(self._mutex)
        return condition

    def restart_clock(self) -> None:
        """Count offsets from now (the server started)."""
        self.started = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.started

    def open_connection(self, peer: Any) -> ConnectionRecord:
        with self._mutex:
            record = ConnectionRecord(self, len(self._connections) + 1, peer)
            self._connections.append(record)
            if self._waiters:
                self._wake()
            return record

    # -- what tests read -------------------------------------------------------

    @property
    def requests(self) -> list[bytes]:
        """Every inbound message, in arrival order."""
        with self._mutex:
            return list(self._requests)

    @property
    def connections(self) -> list[ConnectionRecord]:
        """One record per connection (per peer for datagram servers)."""
        with self._mutex:
            return list(self._connections)

    @property
    def unmatched(self) -> list[bytes]:
        """Inbound messages that no rule or script step matched."""
        with self._mutex:
            return [message for _, message, _ in self._unmatched]

    @property
    def unmatched_details(self) -> list[tuple[ConnectionRecord | None, bytes, str]]:
        """(connection, message, nearest rule or step) for each unmatched message."""
        with self._mutex:
            return list(self._unmatched)

    @property
    def rejected(self) -> list[Any]:
        """Peers refused by ``verify_request``."""
        with self._mutex:
            return list(self._rejected)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """Block until ``n`` messages have arrived; return the first ``n``.

        Raises :class:`~socketdouble.errors.WaitTimeout` (a ``TimeoutError``) with the
        transcript when they do not arrive within ``timeout`` seconds.
        """
        return self._wait(lambda: self._requests, n, timeout, "request(s)")

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> list[ConnectionRecord]:
        """Block until ``n`` connections (datagram servers: peers) were seen; return the first ``n``.

        Each record has ``.number`` (1-based, as in the transcript). Raises
        :class:`~socketdouble.errors.WaitTimeout` with the transcript on timeout.
        """
        return self._wait(lambda: self._connections, n, timeout, "connection(s)")

    async def wait_for_requests_async(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """:meth:`wait_for_requests` for a coroutine: waits without blocking the event loop."""
        return await self._wait_async(lambda: self._requests, n, timeout, "request(s)")

    async def wait_for_connections_async(self, n: int, timeout: float = 5.0) -> list[ConnectionRecord]:
        """:meth:`wait_for_connections` for a coroutine: waits without blocking the event loop."""
        return await self._wait_async(lambda: self._connections, n, timeout, "connection(s)")

    def _wait(self, seen: Callable[[], list[T]], n: int, timeout: float, what: str) -> list[T]:
        with self.lock:
            self._waiters += 1
            try:
                arrived = self.lock.wait_for(lambda: len(seen()) >= n, timeout)
            finally:
                self._waiters -= 1
            if not arrived:
                raise self._timeout(timeout, n, len(seen()), what)
            return seen()[:n]

    async def _wait_async(self, seen: Callable[[], list[T]], n: int, timeout: float, what: str) -> list[T]:
        def ready() -> list[T]:
            items = seen()
            return items[:n] if len(items) >= n else NOT_READY

        with self._mutex:
            now = ready()
            if now is not NOT_READY:
                return now
            future = self._async_waiters.add(ready)
            self._waiters += 1

        def forget() -> None:
            with self._mutex:
                self._async_waiters.remove(future)
                self._waiters -= 1

        arrived = await await_ready(future, timeout, forget)
        if arrived is None:
            with self._mutex:
                raise self._timeout(timeout, n, len(seen()), what)
        return arrived

    def _timeout(self, timeout: float, n: int, got: int, what: str) -> WaitTimeout:
        return WaitTimeout(f"waited {timeout}s for {n} {what} on {self.name}, got {got}\n\n" + self._render())

    def _wake(self) -> None:
        """The recording changed and someone waits (lock held): wake threads and coroutines."""
        condition = self._condition  # not self.lock: making it here would take the lock we hold
        if condition is not None:  # None: only coroutines wait
            condition.notify_all()
        if self._async_waiters:
            self._async_waiters.wake()

    def transcript(self) -> str:
        """The whole conversation, readable: see :mod:`socketdouble.core.transcript`."""
        with self._mutex:
            return self._render()

    def __str__(self) -> str:
        return self.transcript()

    def __repr__(self) -> str:
        with self._mutex:
            counts = (
                f"{len(self._connections)} connection(s), {len(self._requests)} request(s), "
                f"{len(self._unmatched)} unmatched, {len(self.errors)} error(s)"
            )
        return f"<Recording {self.name!r}: {counts}>"

    # -- what workers write ----------------------------------------------------

    def _add_unmatched(self, connection: ConnectionRecord | None, message: bytes, hint: str) -> None:
        with self._mutex:
            self._unmatched.append((connection, message, hint))
            if connection is not None:
                connection.events.append(Event(self.now(), EventKind.UNMATCHED, message, hint))

    def add_rejected(self, peer: Any) -> None:
        with self._mutex:
            self._rejected.append(peer)

    def _add_error(self, connection: ConnectionRecord | None, error: BaseException) -> None:
        with self._mutex:
            self.errors.append(error)
            self.error_contexts[id(error)] = connection
            if connection is not None:
                if connection.error is None:
                    connection.error = error
                connection.events.append(Event(self.now(), EventKind.ERROR, text=describe_error(error)))

    def add_error(self, error: BaseException) -> None:
        """Record an error that belongs to no connection (accept loop, stop)."""
        self._add_error(None, error)

    def add_fault(self, text: str) -> None:
        """A fault acted on the server itself (its listener held full, an outage): ``text`` says what."""
        with self._mutex:
            self._server_events.append(Event(self.now(), EventKind.FAULT, text=text))
            self.faulted = True

    @property
    def server_faults(self) -> list[str]:
        """What faults did to the server itself (not to one connection), in order."""
        with self._mutex:
            return [event.text for event in self._server_events]

    def _view(self) -> RecordingView:
        """A frozen copy of what the transcript shows; the caller holds the lock."""
        return RecordingView(
            name=self.name,
            connections=tuple(ConnectionView(c.number, c.peer, tuple(c.events)) for c in self._connections),
            requests=len(self._requests),
            unmatched=len(self._unmatched),
            errors=len(self.errors),
            rejected=tuple(self._rejected),
            server_errors=tuple(e for e in self.errors if self.error_contexts.get(id(e)) is None),
            seed=self.seed if self.faulted else None,
            server_events=tuple(self._server_events),
        )

    def _render(self) -> str:
        return render(self._view())

    def clear(self) -> None:
        """Forget every connection, request, unmatched message, rejected peer and error.

        For a long-running double (``socketdouble serve``'s reset): what comes next is
        recorded as if the server had just started. Connections still open go on
        recording their messages into :attr:`requests`, but are no longer listed.
        """
        with self.lock:
            self._connections.clear()
            self._requests.clear()
            self._unmatched.clear()
            self._rejected.clear()
            self.errors.clear()
            self.error_contexts.clear()
            self.faulted = False
