"""``socketdouble record --upstream HOST:PORT|PATH --out FILE``: a cassette of real traffic.

A :class:`~socketdouble.RecordingProxy` listens (``--listen``, default a free loopback
port or a private socket file), forwards every connection to the upstream and records
both directions; on SIGTERM or SIGINT it stops and writes the cassette atomically.
The upstream is tried once before listening, so a wrong ``--upstream`` fails at once
(exit 2) instead of with the first client. A recording that went wrong (its check
fails: the upstream became unreachable, a client spoke TLS through the plain proxy) or
that saw no connection writes nothing, leaving an existing cassette as it was (exit 1).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from typing import Any

from ..core.cassette import save
from ..errors import CheckFailed
from ..net.proxy import RecordingProxy
from ..net.upstream import Upstream
from .arguments import (
    BadInput,
    complain,
    listen_keywords,
    made,
    redactor,
    upstream_address,
    writable_file,
)
from .cli import EXIT_FAILED, EXIT_OK
from .running import serve_until_stopped
from .signals import StopRequest

__all__ = ["PROBE_TIMEOUT", "run"]

#: How long the first try of the upstream may take before record gives up (seconds).
PROBE_TIMEOUT = 5.0


def run(args: argparse.Namespace) -> int:
    """Record until SIGTERM/SIGINT; 0 saved, 1 recording failed or empty, 2 bad input."""
    try:
        upstream = upstream_address(args.upstream, args.kind)
        listen = listen_keywords(args.listen, args.kind, args.allow_remote)
        redact = redactor(args.redact)
        writable_file("--out", args.out, make_folder=True)
        writable_file("--ready-file", args.ready_file)
        _try_upstream(args.upstream, args.kind, upstream)
        proxy: Any = made(
            lambda: RecordingProxy(upstream, kind=args.kind, redact=redact.patterns, name="record", **listen)
        )
    except BadInput as error:
        return complain("record", error)
    with StopRequest() as stop:
        try:
            serve_until_stopped(proxy, "record", args.kind, args.ready_file, stop)
        except BadInput as error:
            return complain("record", error)
    try:
        proxy.check()
    except CheckFailed as failure:
        print(failure)
        print(
            f"socketdouble record: the recording failed (report above); {args.out} not written",
            file=sys.stderr,
        )
        return EXIT_FAILED
    cassette = proxy.cassette()
    if not cassette.connections:
        print(
            f"socketdouble record: no client connected, so nothing was recorded; {args.out} not written",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        save(cassette, args.out)
    except OSError as error:
        return complain("record", BadInput(f"--out {args.out}: cannot write it: {error.strerror or error}"))
    what = "peer(s)" if cassette.datagram else "connection(s)"
    print(f"{args.out}: {len(cassette.connections)} {what} recorded from {args.upstream}")
    return EXIT_OK


def _try_upstream(text: str, kind: str, address: tuple[str, int] | str) -> None:
    """Connect to a stream or Unix datagram upstream once (UDP has nothing to try)."""
    upstream = Upstream.for_kind(kind, address, PROBE_TIMEOUT)
    try:
        if kind in ("tcp", "unix"):
            sock = upstream.stream_socket()
            try:
                upstream.connect(sock, threading.Event()).close()
            finally:
                sock.close()
        elif kind == "unix_dgram":
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                probe.connect(address)  # refused or missing when nothing is bound there
    except socket.gaierror as error:  # its errno is a lookup code, which os.strerror does not know
        raise BadInput(
            f"--upstream {text}: cannot look its host up: {error.strerror}; fix --upstream"
        ) from None
    except OSError as error:
        raise BadInput(
            f"--upstream {text}: {upstream.unreachable(error)}; start it first, or fix --upstream"
        ) from None
