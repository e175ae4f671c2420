"""``socketdouble show FILE``: a cassette's transcript, as the servers' transcripts look.

Each connection with its endpoints (when recorded), each client turn ``<-``, each
server turn ``->``, each close by FIN or reset, with times since the recording began.
Colour only when stdout is a terminal and ``NO_COLOR`` is unset or empty
(https://no-color.org); piped or redirected, the text is plain.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from typing import TextIO

from ..core.cassette import Cassette, DataEvent, RecordedConnection
from ..core.events import Event, EventKind
from ..core.transcript import ConnectionView, RecordingView, render
from .arguments import BadInput, complain, load_cassette
from .cli import EXIT_OK

__all__ = ["colour", "run", "transcript", "use_colour"]

_BOLD, _DIM, _RED, _GREEN, _YELLOW, _CYAN, _RESET = (f"\x1b[{n}m" for n in (1, 2, 31, 32, 33, 36, 0))
_EVENT_LINE = re.compile(r"^\s+\d+\.\d+s (?P<what><-|->|closed: .*|opened|\.\.|!!)")


def use_colour(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour for a terminal only, and never when ``NO_COLOR`` holds anything."""
    return not environ.get("NO_COLOR") and stream.isatty()


def transcript(cassette: Cassette, source: str) -> str:
    """The cassette as a transcript: a summary line, then each connection's events."""
    views = tuple(_view(number, c) for number, c in enumerate(cassette.connections, start=1))
    turns = [e for c in cassette.connections for e in c.events if isinstance(e, DataEvent)]
    client = sum(e.side == "client" for e in turns)
    what = "peer(s)" if cassette.datagram else "connection(s)"
    units = "datagram(s)" if cassette.datagram else "turn(s)"
    head = (
        f"cassette {source}: {cassette.kind}, {len(cassette.connections)} {what}, "
        f"{client} client {units}, {len(turns) - client} server {units}"
    )
    if cassette.redact:
        head += "\nredacted: " + ", ".join(repr(p) for p in cassette.redact)
    body = render(RecordingView(source, views, client, 0, 0, (), ())).split("\n", 1)[1:]
    return "\n".join([head, *body])


def _view(number: int, connection: RecordedConnection) -> ConnectionView:
    events = [Event(connection.opened, EventKind.OPEN)]
    for event in connection.events:
        t = connection.opened + event.t
        if isinstance(event, DataEvent):
            kind = EventKind.MESSAGE if event.side == "client" else EventKind.SEND
            events.append(Event(t, kind, event.payload))
        else:
            events.append(Event(t, EventKind.CLOSE, text=f"by the {event.side} ({event.how})"))
    return ConnectionView(number, _endpoints(connection), tuple(events))


def _endpoints(connection: RecordedConnection) -> str:
    def shown(address: tuple[str, int]) -> str:
        host, port = address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    client = shown(connection.client) if connection.client else "a client"
    return client + (f" to {shown(connection.server)}" if connection.server else "")


def colour(text: str) -> str:
    """``text`` with ANSI colours: client turns cyan, server turns green, resets red, FINs yellow."""
    lines = []
    current = ""
    for line in text.split("\n"):
        match = _EVENT_LINE.match(line)
        if match:
            what = match.group("what")
            current = {"<-": _CYAN, "->": _GREEN, "opened": _DIM, "..": _DIM, "!!": _RED}.get(what, "")
            if what.startswith("closed:"):
                current = _RED if what.endswith("(reset)") else _YELLOW
        elif not line.startswith(" "):  # the summary and each connection's first line
            current = _BOLD
        lines.append(f"{current}{line}{_RESET}" if current else line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the transcript of ``args.file``; 2 (one line on stderr) when it is no cassette."""
    try:
        cassette = load_cassette(args.file)
    except BadInput as error:
        return complain("show", error)
    text = transcript(cassette, args.file)
    try:
        print(colour(text) if use_colour(sys.stdout) else text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Piped into `head`, which stopped reading: not an error. Python would still
        # complain at exit while flushing stdout, so point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
