"""ReplayServer: answer like the upstream did, from a cassette, with no upstream."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..core.cassette import Cassette, Redactor, load
from ..core.conversation import DatagramDialogue, Dialogue
from ..core.events import EventSink
from ..core.framing import raw
from ..core.playback import DatagramReplay, Match, ReplayBook, StreamReplay
from ..core.rules import RuleBook
from ..errors import ConfigurationError
from .datagram import UDPServer, UnixDatagramServer
from .kinds import concrete, registers
from .server import BaseServer
from .stream import TCPServer, UnixStreamServer

__all__ = ["ReplayServer", "TCPReplay", "UDPReplay", "UnixDatagramReplay", "UnixReplay"]


class ReplayServer(BaseServer):
    """A server of the cassette's kind that replays it.

    ``cassette`` is a path (str or ``os.PathLike``) or a loaded ``Cassette``. New
    connections take the recorded ones in recorded order (``match="first_request"``
    picks by the first bytes the client sends instead); datagrams are matched in
    recorded order whatever the peer's port. ``ignore=[rb"..."]`` adds byte regexes
    whose matches are not compared (a timestamp, a random id): they are masked in both
    the recorded and the live bytes. ``timing=True`` replays the recorded
    delays. A client turn that differs from the recording is unmatched, its connection
    closed; ``report_unused=False`` stops ``check()`` from reporting recorded
    connections no client used. Other keyword arguments are the server's.
    """

    book: ReplayBook
    _loaded: Cassette | None = None
    not_scriptable = "a ReplayServer answers from its cassette"

    def __new__(cls, cassette: str | os.PathLike[str] | Cassette | None = None, **kwargs: Any) -> Any:
        if cls is ReplayServer:
            loaded = _load(cassette)
            cls = concrete("replay", loaded.kind)
            instance = super().__new__(cls)
            instance._loaded = loaded
            return instance
        return super().__new__(cls)

    def __init__(
        self,
        cassette: str | os.PathLike[str] | Cassette | None = None,
        *,
        match: Match = "order",
        ignore: Sequence[bytes | str] = (),
        timing: bool = False,
        report_unused: bool = True,
        **kwargs: Any,
    ) -> None:
        if match not in ("order", "first_request"):
            raise ConfigurationError(f"match={match!r}: choose 'order' or 'first_request'")
        loaded = self._loaded or _load(cassette)
        self.cassette = loaded
        self.book = ReplayBook(loaded, Redactor([*loaded.redact, *ignore]), match)
        self.timing = timing
        self.report_unused = report_unused
        if not loaded.datagram:
            kwargs.setdefault("framing", raw())
        super().__init__(**kwargs)

    def conversation(self, sink: EventSink, rules: RuleBook | None = None) -> Dialogue:
        return StreamReplay(sink, self.book, timing=self.timing)

    def datagram_dialogue(self, sink: EventSink, rules: RuleBook | None = None) -> DatagramDialogue:
        return DatagramReplay(sink, self.book)

    def problems(self, unused_rules: bool | None = None) -> list[str]:
        problems = super().problems(unused_rules)
        unused = self.book.unused() if self.report_unused else []
        if unused:
            what = "peer(s)" if self.cassette.datagram else "connection(s)"
            problems.append(
                f"recorded {what} never replayed: {', '.join(map(str, unused))} "
                "(pass report_unused=False to allow this)"
            )
        return problems


def _load(cassette: object) -> Cassette:
    if isinstance(cassette, Cassette):
        return cassette
    if isinstance(cassette, (str, os.PathLike)):
        return load(cassette)
    raise ConfigurationError(f"ReplayServer({cassette!r}): pass a cassette path or a loaded Cassette")


@registers("replay", "tcp")
class TCPReplay(ReplayServer, TCPServer):
    """Replays a TCP cassette."""

    kind = "TCP replay"


@registers("replay", "unix")
class UnixReplay(ReplayServer, UnixStreamServer):
    """Replays a Unix stream cassette."""

    kind = "Unix stream replay"


@registers("replay", "udp")
class UDPReplay(ReplayServer, UDPServer):
    """Replays a UDP cassette."""

    kind = "UDP replay"


@registers("replay", "unix_dgram")
class UnixDatagramReplay(ReplayServer, UnixDatagramServer):
    """Replays a Unix datagram cassette."""

    kind = "Unix datagram replay"
