"""``concurrency="fork"``: a child process per connection, reporting back.

The child closes every descriptor it inherited except its connection, its channel
to the parent and the standard streams (so a handler reading until end of file sees
the client's close even when the client lives in the test process), runs the
work, sends every recording event up the channel and leaves with ``os._exit``.
The parent relays those events into the connection's record. :class:`Children`
keeps one server's children: it forks, watches (a relay thread each), interrupts at
stop(), kills what outlives the deadline and joins. A child cannot tell the parent's
stop() from the client's close; the parent can, and records "server stopped" then.

Forking a process that runs threads is what this mode does by nature; Python 3.12+
warns about it with a DeprecationWarning. Only the handler runs in the child.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.events import describe_error
from ..core.recording import ConnectionRecord
from ..core.rules import RuleBook
from ..errors import HandlerError
from .faulty_io import FAULT_RESET, abort
from .session import peer_has_closed, shutdown_fd

__all__ = ["ChannelSink", "Children", "Spawn", "fork_child", "kill", "relay"]

_HEADER = struct.Struct("!I")
_CLIENT_CLOSES = ("client closed", "client reset")


class ChannelSink:
    """An event sink in the child that sends every event to the parent."""

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel

    def _send(self, *event: str | bytes | int | list[bytes]) -> None:
        body = marshal.dumps(event)
        self._channel.sendall(_HEADER.pack(len(body)) + body)

    def on_received(self, data: bytes) -> None:
        self._send("received", data)

    def on_message(self, message: bytes) -> None:
        self._send("message", message)

    def on_received_messages(self, data: bytes, messages: Sequence[bytes]) -> None:
        # Relayed as one event: the parent records it in one step too (ConnectionRecord.on_received_messages).
        self._send("received_messages", data, list(messages))

    def on_unmatched(self, message: bytes, hint: str) -> None:
        self._send("unmatched", message, hint)

    def on_sent(self, data: bytes) -> None:
        self._send("sent", data)

    def on_error(self, error: BaseException) -> None:
        self._send("error", describe_error(error))

    def on_note(self, text: str) -> None:
        self._send("note", text)

    def on_fault(self, text: str) -> None:
        self._send("fault", text)

    def on_rule_used(self, number: int) -> None:
        self._send("rule_used", number)

    def on_closed(self, reason: str) -> None:
        self._send("closed", reason)


def _close_all_but(keep: list[int]) -> None:
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:  # closerange(n, n) would close everything on some platforms
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def fork_child(work: Callable[[ChannelSink], None], keep: list[int]) -> tuple[int, socket.socket]:
    """Fork; the child runs ``work`` and exits. Returns (pid, parent's channel end).

    If the fork fails (EAGAIN, ENOMEM), both ends of the channel are closed and the
    error is raised.
    """
    parent_end, child_end = socket.socketpair()
    try:
        pid = os.fork()
    except BaseException:
        parent_end.close()
        child_end.close()
        raise
    if pid == 0:  # pragma: no cover - runs in the child; its traffic is tested from the parent
        status = 0
        try:
            _close_all_but([*keep, child_end.fileno(), 0, 1, 2])
            sink = ChannelSink(child_end)
            try:
                work(sink)
            except BaseException as error:
                sink.on_error(error)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    child_end.close()
    return pid, parent_end


def relay(
    pid: int,
    channel: socket.socket,
    record: ConnectionRecord,
    rules: RuleBook,
    stopped_by_parent: Callable[[], bool] = lambda: False,
    reset_by_parent: Callable[[], str | None] = lambda: None,
) -> None:
    """Apply the child's events to ``record`` until it exits; then reap it.

    The child cannot tell the parent's stop() from the client's close (both are end
    of file to it); when ``stopped_by_parent()`` says the parent shut the connection
    down before the client closed it, a close the child blames on the client is
    recorded as "server stopped". When ``reset_by_parent()`` gives a reason (down()
    reset the connection), the child's close is recorded with that reason.
    """
    try:
        with channel.makefile("rb") as events:
            while True:
                header = events.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                kind, *args = marshal.loads(events.read(_HEADER.unpack(header)[0]))
                if kind == "closed" and args[0] in _CLIENT_CLOSES and stopped_by_parent():
                    args = ["server stopped"]
                if kind == "closed" and reset_by_parent() is not None:
                    args = [reset_by_parent()]
                _apply(kind, args, record, rules)
    finally:
        channel.close()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            killed = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            record.on_error(HandlerError(f"forked child {pid} ended with {killed}"))


def _apply(kind: str, args: list[object], record: ConnectionRecord, rules: RuleBook) -> None:
    if kind == "error":
        record.on_error(HandlerError(f"in forked child:\n{args[0]}"))
    elif kind == "rule_used":
        rules.count_use(int(args[0]))  # type: ignore[call-overload]
    else:
        getattr(record, f"on_{kind}")(*args)


def kill(pid: int) -> None:
    """Kill a child at once (it may have exited already: that is fine)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


Spawn = Callable[[Callable[[], None], str], threading.Thread]


@dataclass
class _Child:
    connection: socket.socket | None  # the parent's copy of a stream connection
    record: ConnectionRecord | None = None
    watcher: threading.Thread | None = None
    stopped_by_parent: bool = False  # interrupt() shut the connection down before the client closed it
    reset_by_parent: str | None = None  # reset() reset the connection: the close reason


class Children:
    """One server's forked children: each forked, watched, interrupted, killed and joined here.

    ``spawn(target, name)`` starts a thread the server's stop() joins (the server's
    own ``_spawn``). Each child gets a watcher thread that relays its events into its
    record and reaps it; the parent's copy of a stream connection stays open until
    then, so :meth:`interrupt` can shut it down to end the child's reads.
    """

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn
        self._lock = threading.Lock()
        self._live: dict[int, _Child] = {}

    def fork(
        self,
        work: Callable[[ChannelSink], None],
        keep: list[int],
        record: ConnectionRecord,
        rules: RuleBook,
        connection: socket.socket | None = None,
    ) -> int:
        """Fork a child that runs ``work`` (keeping descriptors ``keep``); return its pid.

        ``connection`` (stream servers) is closed in the parent once the child is reaped.
        If the watcher thread cannot start, the child is killed and reaped, the channel
        closed, and the error raised; ``connection`` is then the caller's to close.
        """
        pid, channel = fork_child(work, keep)
        child = _Child(connection, record)
        with self._lock:
            self._live[pid] = child

        def watch() -> None:
            try:
                stopped, reset = (lambda: child.stopped_by_parent), (lambda: child.reset_by_parent)
                relay(pid, channel, record, rules, stopped, reset)
            finally:
                with self._lock:  # forgotten before the close: interrupt() never shuts a reused number
                    self._live.pop(pid, None)
                if connection is not None:
                    connection.close()

        try:
            child.watcher = self._spawn(watch, f"fork-{pid}")
        except BaseException:
            with self._lock:
                self._live.pop(pid, None)
            kill(pid)
            channel.close()
            os.waitpid(pid, 0)
            raise
        return pid

    def interrupt(self) -> None:
        """At stop(): shut every child's connection down, noting whether its client had closed."""
        with self._lock:
            for child in self._live.values():
                if child.connection is not None:
                    fd = child.connection.fileno()
                    child.stopped_by_parent = not peer_has_closed(fd)
                    shutdown_fd(fd)

    def reset(self, why: str) -> int:
        """down(): reset every child's connection now (recording ``why``); return how many."""
        with self._lock:
            children = [child for child in self._live.values() if child.connection is not None]
            for child in children:
                assert child.connection is not None and child.record is not None
                child.record.on_fault(why)
                child.reset_by_parent = FAULT_RESET
                abort(child.connection.fileno())
        return len(children)

    def abandon(self, timeout: float) -> None:
        """Kill every child still running and join its watcher (which records the kill)."""
        with self._lock:
            children = dict(self._live)
        for pid, child in children.items():
            kill(pid)
            if child.watcher is not None:
                child.watcher.join(timeout)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)
