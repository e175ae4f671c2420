"""Many servers in one test: made started, stopped and checked together.

:class:`Doubles` is what the ``socketdouble`` pytest fixture hands a test, and is
usable without pytest (``with Doubles() as doubles: ...``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import trustme

from .core.cassette import load, save
from .errors import CheckFailed, ConfigurationError
from .net.base import BaseServer
from .net.proxy import RecordingProxy
from .net.replay import ReplayServer
from .net.servers import TCPServer, UDPServer, UnixDatagramServer, UnixStreamServer
from .net.tls import TLSServer

S = TypeVar("S", bound=BaseServer)
RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES = ("none", "once", "new_episodes", "all")
_NAME = re.compile(r"\A[\w.-]+\Z")


class CassetteMissing(ConfigurationError):
    """Replay-only mode found no cassette; the message says how to record one."""


class Doubles:
    """Makes started servers and, on :meth:`close`, stops and checks all of them."""

    def __init__(
        self, ca: trustme.CA | None = None, *, check: bool = True, report_unused_rules: bool = True
    ) -> None:
        self._ca = ca
        self.check_on_close = check
        self.report_unused_rules = report_unused_rules
        self.servers: list[BaseServer] = []
        #: Where ``record_or_replay`` keeps cassettes, and how it chooses (see there).
        self.cassette_dir: Path = Path("cassettes")
        self.record_mode: RecordMode = "none"
        self.record_hint = "--socketdouble-record-mode=once"
        self._to_save: list[tuple[Any, Path, bool]] = []

    @property
    def ca(self) -> trustme.CA:
        """The CA behind ``tls()`` servers (made on first use if none was given)."""
        if self._ca is None:
            self._ca = trustme.CA()
        return self._ca

    def add(self, server: S) -> S:
        """Start ``server`` and make it this collection's to stop and check."""
        self.servers.append(server)
        server.start()
        return server

    def _make(self, kind: type[S], kwargs: dict[str, Any]) -> S:
        kwargs.setdefault("report_unused_rules", self.report_unused_rules)
        return self.add(kind(**kwargs))

    def tcp(self, **kwargs: Any) -> TCPServer:
        """A started :class:`~socketdouble.TCPServer`."""
        return self._make(TCPServer, kwargs)

    def udp(self, **kwargs: Any) -> UDPServer:
        """A started :class:`~socketdouble.UDPServer`."""
        return self._make(UDPServer, kwargs)

    def unix(self, **kwargs: Any) -> UnixStreamServer:
        """A started :class:`~socketdouble.UnixStreamServer`."""
        return self._make(UnixStreamServer, kwargs)

    def unix_dgram(self, **kwargs: Any) -> UnixDatagramServer:
        """A started :class:`~socketdouble.UnixDatagramServer`."""
        return self._make(UnixDatagramServer, kwargs)

    def tls(self, **kwargs: Any) -> TLSServer:
        """A started :class:`~socketdouble.TLSServer` with a certificate from :attr:`ca`."""
        kwargs.setdefault("ca", self.ca)
        return self._make(TLSServer, kwargs)

    def record_or_replay(self, upstream: Any, name: str, *, kind: str = "tcp", **kwargs: Any) -> BaseServer:
        """A started server for ``upstream``: a replay of cassette ``name``, or a recording proxy.

        By :attr:`record_mode`: ``none`` replays (a missing cassette is an error that
        says how to record it); ``once`` records when the cassette is missing, else
        replays; ``new_episodes`` records through the proxy and adds the connections the
        cassette does not have yet; ``all`` records afresh. Recordings are saved when
        the servers are closed. ``redact=[...]`` applies when recording; other keyword
        arguments go to the server.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"cassette name {name!r}: use letters, digits, '_', '-' and '.', e.g. 'redis-get'"
            )
        path = self.cassette_dir / f"{name}.json"
        mode = self.record_mode
        if mode == "none" and not path.exists():
            raise CassetteMissing(
                f"cassette {path} does not exist and record mode is 'none' (replay only); "
                f"record it once against the real upstream with {self.record_hint}"
            )
        if mode == "none" or (mode == "once" and path.exists()):
            kwargs.pop("redact", None)
            return self.add(ReplayServer(path, **kwargs))
        proxy: BaseServer = RecordingProxy(upstream, kind=kind, **kwargs)
        self._to_save.append((proxy, path, mode == "new_episodes"))
        return self.add(proxy)

    def save_recordings(self) -> None:
        """Write the cassettes of recording proxies made by :meth:`record_or_replay`."""
        for proxy, path, merge in self._to_save:
            cassette = proxy.cassette()
            if merge and path.exists():
                old = load(path)
                known = [c.client_turns() for c in old.connections]
                old.connections += [c for c in cassette.connections if c.client_turns() not in known]
                cassette = old
            save(cassette, path)
        self._to_save.clear()

    def stop(self) -> None:
        """Stop every server (each stop is bounded; none raises), then save recordings."""
        for server in self.servers:
            server.stop()
        self.save_recordings()

    def check(self) -> None:
        """Check every server; one :class:`CheckFailed` lists the problems of all."""
        failures = []
        for server in self.servers:
            try:
                server.check()
            except CheckFailed as failure:
                failures.append(str(failure))
        if failures:
            raise CheckFailed("\n\n".join(failures))

    def close(self) -> None:
        """Stop every server, then check them unless checking is off."""
        self.stop()
        if self.check_on_close:
            self.check()

    def __enter__(self) -> Doubles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
