"""``concurrency="fork"``: a child process per connection, reporting back.

The child closes every descriptor it inherited except its connection, its channel
to the parent and the standard streams (so a handler reading until end of file sees
the client's close even when the client lives in the test process), runs the
work, sends every recording event up the channel and leaves with ``os._exit``.
The parent relays those events into the connection's record.

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
from collections.abc import Callable

from ..core.recording import ConnectionRecord, describe_error
from ..core.rules import RuleBook
from ..errors import HandlerError

_HEADER = struct.Struct("!I")


class ChannelSink:
    """An event sink in the child that sends every event to the parent."""

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel

    def _send(self, *event: str | bytes | int) -> None:
        body = marshal.dumps(event)
        self._channel.sendall(_HEADER.pack(len(body)) + body)

    def on_received(self, data: bytes) -> None:
        self._send("received", data)

    def on_message(self, message: bytes) -> None:
        self._send("message", message)

    def on_unmatched(self, message: bytes, hint: str) -> None:
        self._send("unmatched", message, hint)

    def on_sent(self, data: bytes) -> None:
        self._send("sent", data)

    def on_error(self, error: BaseException) -> None:
        self._send("error", describe_error(error))

    def on_note(self, text: str) -> None:
        self._send("note", text)

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
    """Fork; the child runs ``work`` and exits. Returns (pid, parent's channel end)."""
    parent_end, child_end = socket.socketpair()
    pid = os.fork()
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


def relay(pid: int, channel: socket.socket, record: ConnectionRecord, rules: RuleBook) -> None:
    """Apply the child's events to ``record`` until it exits; then reap it."""
    try:
        with channel.makefile("rb") as events:
            while True:
                header = events.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                kind, *args = marshal.loads(events.read(_HEADER.unpack(header)[0]))
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
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
