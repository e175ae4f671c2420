"""How ``record_or_replay`` records: its keywords, the first try of the upstream, new episodes.

Kept apart from :mod:`socketdouble.doubles` so each rule can be read (and tested) on
its own:

- :func:`split_keywords`: one set of keyword arguments serves every record mode.
- :func:`probe_upstream`: a recording run whose upstream is down fails at once, before
  a test runs against a proxy that can only record errors.
- :func:`recorded_episodes` and :func:`merge_episodes`: ``new_episodes`` keeps every
  old connection, in place, and adds the ones recorded from the upstream after them.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Literal

from .core.cassette import Cassette, RecordedConnection
from .errors import ConfigurationError
from .net.proxy import RecordingProxy
from .net.server import BaseServer
from .net.upstream import UpstreamAddress

__all__ = [
    "PROBE_TIMEOUT",
    "RECORD_MODES",
    "RECORD_ONLY",
    "REPLAY_ONLY",
    "RecordMode",
    "describe_upstream",
    "merge_episodes",
    "probe_upstream",
    "recorded_episodes",
    "split_keywords",
]

RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all")
#: Keywords only a replay uses, and keywords only a recording uses.
REPLAY_ONLY = frozenset({"ignore", "match", "timing", "report_unused"})
RECORD_ONLY = frozenset({"redact", "upstream_ssl_context", "upstream_hostname", "connect_timeout"})
#: Seconds the upstream gets to accept the first try when no ``connect_timeout`` is given.
PROBE_TIMEOUT = 3.0


def split_keywords(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(replay keywords, recording keywords)``: each without the other's own ones."""
    replay = {key: value for key, value in kwargs.items() if key not in RECORD_ONLY}
    record = {key: value for key, value in kwargs.items() if key not in REPLAY_ONLY}
    return replay, record


def describe_upstream(upstream: object) -> str:
    """``127.0.0.1:6379``, ``[::1]:6379`` or a socket path, as reports name an upstream."""
    if isinstance(upstream, tuple) and len(upstream) == 2:
        host, port = upstream
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return os.fspath(upstream) if isinstance(upstream, (str, os.PathLike)) else repr(upstream)


def probe_upstream(
    upstream: UpstreamAddress, kind: str, record_kw: dict[str, Any], timeout: float | None, replay_hint: str
) -> None:
    """Connect to ``upstream`` once (and shake hands, with ``upstream_ssl_context``), then close.

    Raises :class:`ConfigurationError` naming the upstream and why it cannot be reached.
    UDP is not tried (a datagram socket "connects" to anything); an upstream of the
    wrong shape is left for the recorder to name.
    """
    if kind in ("tcp", "udp"):
        if kind == "udp" or not (isinstance(upstream, tuple) and len(upstream) == 2):
            return
        family = socket.AF_INET6 if ":" in str(upstream[0]) else socket.AF_INET
    elif kind in ("unix", "unix_dgram") and isinstance(upstream, (str, os.PathLike)):
        family = socket.AF_UNIX
    else:
        return
    wait = PROBE_TIMEOUT if timeout is None else timeout
    sock = socket.socket(family, socket.SOCK_DGRAM if kind == "unix_dgram" else socket.SOCK_STREAM)
    try:
        sock.settimeout(wait)
        sock.connect(upstream if isinstance(upstream, tuple) else os.fspath(upstream))
        context = record_kw.get("upstream_ssl_context")
        if isinstance(context, ssl.SSLContext):
            hostname = record_kw.get("upstream_hostname") or (
                upstream[0] if isinstance(upstream, tuple) else "localhost"
            )
            context.wrap_socket(sock, server_hostname=hostname).close()
    except OSError as error:
        raise ConfigurationError(
            f"cannot reach the upstream {describe_upstream(upstream)}: {_reason(error, wait)}; "
            f"start it, or replay with {replay_hint}"
        ) from None
    finally:
        sock.close()


def _reason(error: OSError, timeout: float) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, FileNotFoundError):
        return "no such socket file"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ssl.SSLError):
        return f"the TLS handshake failed ({error.reason or error})"
    return (error.strerror or str(error)).lower()


def recorded_episodes(server: BaseServer, old: Cassette) -> Cassette:
    """What a ``new_episodes`` server recorded from the upstream, in order.

    An ``EpisodesServer`` knows which connections it replayed and which it recorded
    (``new_cassette()``). The stand-in recording proxy forwarded every connection: one
    whose client turns equal those of an old connection not matched yet is what an
    episodes server would have replayed, so it is not new (each old one matches once).
    """
    new_cassette = getattr(server, "new_cassette", None)
    if new_cassette is not None:
        recorded: Cassette = new_cassette()
        return recorded
    assert isinstance(server, RecordingProxy)
    cassette = server.cassette()
    unused = [connection.client_turns() for connection in old.connections]
    new: list[RecordedConnection] = []
    for connection in cassette.connections:
        turns = connection.client_turns()
        if turns in unused:
            unused.remove(turns)
        else:
            new.append(connection)
    return Cassette(cassette.kind, new, cassette.redact)


def merge_episodes(old: Cassette, new: Cassette) -> Cassette:
    """Every old connection, in place, then every new one; redaction patterns of both.

    Nothing old is dropped, changed or reordered: old versions of a conversation that
    changed stay in the file (which is why ``record_or_replay`` replays do not report
    unused connections by default).
    """
    if new.kind != old.kind:
        raise ConfigurationError(f"cannot add a {new.kind!r} recording to a {old.kind!r} cassette")
    redact = [*old.redact, *(pattern for pattern in new.redact if pattern not in old.redact)]
    return Cassette(old.kind, [*old.connections, *new.connections], redact)
