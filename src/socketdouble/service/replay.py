"""``socketdouble replay FILE``: answer like the recorded upstream did, until SIGTERM or SIGINT.

A :class:`~socketdouble.ReplayServer` of the cassette's kind listens (``--listen``,
default a free loopback port or a private socket file). At the stop it prints the
check's report and exits 1 when a client said something the cassette does not hold
(or left recorded connections unused), 0 when every client said what was recorded.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import CheckFailed
from ..net.replay import ReplayServer
from .arguments import BadInput, complain, listen_keywords, load_cassette, made, writable_file
from .cli import EXIT_FAILED, EXIT_OK
from .running import serve_until_stopped
from .signals import StopRequest

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Replay until SIGTERM/SIGINT; 0 as recorded, 1 on a mismatch (with the report), 2 bad input."""
    try:
        cassette = load_cassette(args.file)
        listen = listen_keywords(args.listen, cassette.kind, args.allow_remote)
        writable_file("--ready-file", args.ready_file)
        server: Any = made(lambda: ReplayServer(cassette, name="replay", **listen))
    except BadInput as error:
        return complain("replay", error)
    with StopRequest() as stop:
        try:
            serve_until_stopped(server, "replay", cassette.kind, args.ready_file, stop)
        except BadInput as error:
            return complain("replay", error)
    try:
        server.check()
    except CheckFailed as failure:
        print(failure)
        return EXIT_FAILED
    used = len(server.recording.connections)
    print(f"replay of {args.file}: {used} {'peer(s)' if cassette.datagram else 'connection(s)'} as recorded")
    return EXIT_OK
