"""Render a recording as text a person can read in a test report.

Text is shown as text (with escapes for CR, LF, tabs and quotes); anything else as a
hex dump. Unmatched messages and errors are marked with ``!!``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .events import Event, EventKind
from .payload import show_bytes

__all__ = ["ConnectionView", "RecordingView", "render"]


@dataclass(frozen=True)
class ConnectionView:
    """One connection as the transcript shows it: a copy, safe to read without a lock."""

    number: int
    peer: Any
    events: tuple[Event, ...]


@dataclass(frozen=True)
class RecordingView:
    """What the transcript of a recording needs, copied under the recording's lock."""

    name: str
    connections: tuple[ConnectionView, ...]
    requests: int
    unmatched: int
    errors: int
    rejected: tuple[Any, ...]
    #: Errors that belong to no connection (accept loop, stop).
    server_errors: tuple[BaseException, ...]
    #: The faults' seed, shown once a fault acted (pass it as ``seed=`` to repeat the run).
    seed: int | None = None
    #: What faults did to the server itself (connect_timeout, an outage), in order.
    server_events: tuple[Event, ...] = ()


def _peer(connection: ConnectionView) -> str:
    peer = connection.peer
    if peer is None or peer == "" or peer == b"":
        return "an unbound peer"
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer)


def _render_connection(connection: ConnectionView) -> list[str]:
    """The lines of one connection's log."""
    lines = [f"connection {connection.number} from {_peer(connection)}"]
    pad = "             "
    for event in connection.events:
        stamp = f"  {event.offset:9.4f}s "
        kind = event.kind
        if kind is EventKind.OPEN:
            lines.append(f"{stamp}opened")
        elif kind is EventKind.MESSAGE:
            lines.append(f"{stamp}<- {show_bytes(event.data, pad)}")
        elif kind is EventKind.SEND:
            lines.append(f"{stamp}-> {show_bytes(event.data, pad)}")
        elif kind is EventKind.UNMATCHED:
            lines.append(f"{stamp}!! unmatched {show_bytes(event.data, pad)}")
            # The hint says what it is ("nearest: ...", "expected: ...", a replay's
            # difference report); every line of it sits under the message.
            lines.extend(f"{pad}   {line}" for line in event.text.splitlines())
        elif kind is EventKind.ERROR:
            first, *rest = event.text.splitlines() or [""]
            lines.append(f"{stamp}!! error: {first}")
            lines.extend(f"{pad}   {line}" for line in rest)
        elif kind is EventKind.NOTE:
            lines.append(f"{stamp}.. {event.text}")
        elif kind is EventKind.FAULT:
            lines.append(f"{stamp}~~ fault: {event.text}")
        elif kind is EventKind.CLOSE:
            lines.append(f"{stamp}closed: {event.text}")
    return lines


def render(recording: RecordingView) -> str:
    """The transcript of ``recording``."""
    head = f"transcript of {recording.name}: {len(recording.connections)} connection(s), " + (
        f"{recording.requests} request(s), {recording.unmatched} unmatched, {recording.errors} error(s)"
    )
    if recording.seed is not None:
        head += f" (faults seeded with seed={recording.seed})"
    lines = [head]
    if recording.rejected:
        lines.append("rejected by verify_request: " + ", ".join(map(str, recording.rejected)))
    lines.extend(f"!! server error: {error!r}" for error in recording.server_errors)
    if recording.server_events:
        lines.append("server")
        lines.extend(f"  {event.offset:9.4f}s ~~ fault: {event.text}" for event in recording.server_events)
    for connection in recording.connections:
        lines.extend(_render_connection(connection))
    return "\n".join(lines)
