"""``new_episodes``: replay the connections a cassette has, record the ones it has not.

Each new stream connection is held until its first client turn decides (the replay
book's first-turn choice, on whole turns): a connection whose first turn is a whole
recorded first turn of an unused recorded connection replays that connection; any
other is forwarded to the real upstream with the bytes read so far, and recorded.
:meth:`EpisodesProxying.new_cassette` holds only those recorded connections, to be
added after the old ones.

A recorded connection in which the server spoke first (SMTP, FTP) is replayed in
recorded order, as long as one is unused: the client waits for the greeting, so no
first turn could choose. Connections beyond them go to the upstream.

Faults act on a forwarded connection in the pump (its first turn, already read, like
any later chunk; the new cassette keeps the upstream's traffic before faults), and on
a replayed one as on any replay.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..core.cassette import Cassette, Redactor, load
from ..core.playback import Chosen, ReplayBook, StreamReplay, Undecided
from ..errors import ConfigurationError
from .kinds import concrete, kinds, registers
from .proxy import TCPProxy, UnixProxy
from .server import BaseServer
from .stream import READ_SIZE, StreamSession
from .stream_proxy import StreamProxying
from .upstream import UpstreamAddress

__all__ = ["EpisodesProxying", "TCPEpisodes", "UnixEpisodes", "episodes_server"]


class EpisodesProxying(StreamProxying):
    """A recording proxy that first offers each connection to a replay of ``old``."""

    def __init__(
        self,
        upstream: UpstreamAddress,
        *,
        old: Cassette,
        ignore: Sequence[bytes | str] = (),
        timing: bool = False,
        report_unused: bool = False,
        redact: Sequence[bytes | str] = (),
        **kwargs: Any,
    ) -> None:
        self.book = ReplayBook(old, Redactor([*old.redact, *ignore]), "first_request")
        self.timing = timing
        self.report_unused = report_unused
        # New connections are redacted as the old ones were, so the merged file is uniform.
        super().__init__(upstream, redact=[*old.redact, *redact], **kwargs)

    def session_body(self, session: StreamSession) -> str:
        chooser = self.book.chooser(whole_turn=True)
        decision = chooser.feed()
        first = bytearray()
        while isinstance(decision, Undecided):
            try:
                data = session.sock.recv(READ_SIZE)
            except ConnectionResetError:
                data = b""
            if not data:
                if not first:  # it said nothing: nothing to replay or record
                    return "client closed" if session.eof_from_peer(session.fd) else "server stopped"
                break  # a first turn cut short: the upstream answers it
            first += data
            decision = chooser.feed(data)
        if isinstance(decision, Chosen):
            session.sink.on_note(f"replayed from recorded connection {decision.number}")
            replay = StreamReplay(session.sink, self.book, timing=self.timing, chosen=decision)
            return session.converse(replay, bytes(first))
        session.sink.on_note("not in the cassette: forwarded to the upstream and recorded")
        return self.forward(session, bytes(first))

    def new_cassette(self) -> Cassette:
        """The connections forwarded to the upstream (in order), to add to the cassette."""
        cassette: Cassette = self.cassette()  # type: ignore[attr-defined]
        return cassette

    def problems(self, unused_rules: bool | None = None) -> list[str]:
        problems = super().problems(unused_rules)
        unused = self.book.unused() if self.report_unused else []
        if unused:
            problems.append(
                f"recorded connection(s) never replayed: {', '.join(map(str, unused))} "
                "(pass report_unused=False to allow this)"
            )
        return problems


@registers("episodes", "tcp")
class TCPEpisodes(EpisodesProxying, TCPProxy):
    """``new_episodes`` for a TCP cassette."""

    kind = "TCP episodes"


@registers("episodes", "unix")
class UnixEpisodes(EpisodesProxying, UnixProxy):
    """``new_episodes`` for a Unix stream cassette."""

    kind = "Unix stream episodes"


def episodes_server(
    cassette: str | os.PathLike[str] | Cassette,
    upstream: UpstreamAddress,
    *,
    kind: str | None = None,
    match: str | None = None,
    **kwargs: Any,
) -> BaseServer:
    """A (not started) ``new_episodes`` server for a stream cassette and its upstream.

    Replay keywords (``ignore``, ``timing``, ``report_unused``) and recording ones
    (``redact``, ``upstream_ssl_context``, ...) are both taken; ``match`` is accepted and
    has no effect: connections are always chosen by their first client turn.
    """
    old = cassette if isinstance(cassette, Cassette) else load(cassette)
    if kind is not None and kind != old.kind:
        raise ConfigurationError(f"kind={kind!r} but the cassette {cassette} holds a {old.kind!r} recording")
    if old.kind not in kinds("episodes"):
        raise ConfigurationError(
            f"new_episodes replays and records stream cassettes (tcp, unix), not {old.kind!r}"
        )
    server: BaseServer = concrete("episodes", old.kind)(upstream, old=old, **kwargs)
    return server
