"""Render a recording as text a person can read in a test report.

Text is shown as text (with escapes for CR, LF, tabs and quotes); anything else as a
hex dump. Unmatched messages and errors are marked with ``!!``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .payload import MAX_SHOWN, is_text, show_bytes
from .recording import ConnectionRecord, EventKind

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["MAX_SHOWN", "is_text", "render", "render_connection", "show_bytes"]


def _peer(connection: ConnectionRecord) -> str:
    peer = connection.peer
    if peer is None or peer == "" or peer == b"":
        return "an unbound peer"
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer)


def render_connection(connection: ConnectionRecord) -> list[str]:
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
        elif kind is EventKind.CLOSE:
            lines.append(f"{stamp}closed: {event.text}")
    return lines


def render(recording: Recording) -> str:
    """The transcript of ``recording``; the caller holds its lock."""
    connections = recording._connections
    head = f"transcript of {recording.name}: {len(connections)} connection(s), " + (
        f"{len(recording._requests)} request(s), {len(recording._unmatched)} unmatched, "
        f"{len(recording.errors)} error(s)"
    )
    lines = [head]
    if recording._rejected:
        lines.append("rejected by verify_request: " + ", ".join(map(str, recording._rejected)))
    for error in recording.errors:
        if recording.error_contexts.get(id(error)) is None:
            lines.append(f"!! server error: {error!r}")
    for connection in connections:
        lines.extend(render_connection(connection))
    return "\n".join(lines)
