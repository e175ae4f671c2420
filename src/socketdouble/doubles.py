"""Many servers in one test: made, started, stopped and checked together.

:class:`Doubles` is what the ``socketdouble`` pytest fixture hands a test, and is
usable without pytest (``with Doubles() as doubles: ...``). It also chooses between
recording and replaying a cassette (:meth:`Doubles.record_or_replay`); the rules for
that live in :mod:`socketdouble.record_modes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trustme

from .core.cassette import Cassette, load, save
from .errors import CassetteMissing, CheckFailed, ConfigurationError, StopFailed
from .net.datagram import UDPServer, UnixDatagramServer
from .net.episodes import episodes_server
from .net.keywords import check_keywords
from .net.proxy import RecordingProxy
from .net.replay import ReplayServer
from .net.server import BaseServer
from .net.stream import TCPServer, UnixStreamServer
from .net.tls import TLSServer
from .net.upstream import UpstreamAddress
from .record_modes import (
    RECORD_MODES,
    RecordMode,
    merge_episodes,
    probe_upstream,
    recorded_episodes,
    split_keywords,
)

__all__ = ["RECORD_MODES", "Doubles", "RecordMode"]

S = TypeVar("S", bound=BaseServer)
_NAME = re.compile(r"\A[\w.\-\[\]%]+\Z")


@dataclass
class _Recording:
    """A cassette that a recording server of this collection will write at stop."""

    server: BaseServer
    path: Path
    old: Cassette | None  # new_episodes: the cassette being extended


def _new_episodes_server(
    path: Path, upstream: UpstreamAddress, kind: str, kwargs: dict[str, Any]
) -> BaseServer:
    """The server for ``new_episodes`` on an existing cassette (not started).

    Stream kinds: an episodes server (replays what the cassette has, records the rest).
    Datagram kinds: a recording proxy; :func:`~socketdouble.record_modes.recorded_episodes`
    then treats a peer whose datagrams equal an unused old one's as replayed.
    """
    if kind in ("tcp", "unix"):
        return episodes_server(path, upstream, kind=kind, **kwargs)
    _, record_kw = split_keywords(kwargs)
    return RecordingProxy(upstream, kind=kind, **record_kw)


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
        #: How to record / how to replay, as the failure messages say it.
        self.record_hint = "record_mode='once' (in pytest: --socketdouble-record-mode=once)"
        self.replay_hint = "record_mode='none' (in pytest: --socketdouble-record-mode=none)"
        #: The cassette name used when ``record_or_replay`` is given none (the plugin
        #: sets the test's name); ``None``: a name is required.
        self.default_cassette_name: str | None = None
        #: Called with each cassette path this collection uses (the plugin checks that
        #: no other test of the run uses it).
        self.claim_cassette: Callable[[Path], None] | None = None
        #: Servers whose transcript a failure or a report section already shows.
        self.transcripts_shown: set[int] = set()
        #: True when something else shows transcripts (pytest's report sections): failures
        #: then list problems only, which keeps pytest's short summary short.
        self.transcripts_elsewhere = False
        #: Why cassettes were not written; lines that fail the test are in ``_write_failures``.
        self.not_written: list[str] = []
        self._write_failures: list[str] = []
        self._recordings: list[_Recording] = []
        self._cassettes_used: set[Path] = set()

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

    def _make(self, kind: type[S], kwargs: dict[str, Any], call: str) -> S:
        if kwargs:  # the fixtures pass none
            check_keywords(kind, kwargs, call)  # named as the test wrote it: tcp(prot=0)
            kwargs.setdefault("report_unused_rules", self.report_unused_rules)
        else:
            kwargs = {"report_unused_rules": self.report_unused_rules}
        return self.add(kind(**kwargs))

    def tcp(self, **kwargs: Any) -> TCPServer:
        """A started :class:`~socketdouble.TCPServer`."""
        return self._make(TCPServer, kwargs, "tcp")

    def udp(self, **kwargs: Any) -> UDPServer:
        """A started :class:`~socketdouble.UDPServer`."""
        return self._make(UDPServer, kwargs, "udp")

    def unix(self, **kwargs: Any) -> UnixStreamServer:
        """A started :class:`~socketdouble.UnixStreamServer`."""
        return self._make(UnixStreamServer, kwargs, "unix")

    def unix_dgram(self, **kwargs: Any) -> UnixDatagramServer:
        """A started :class:`~socketdouble.UnixDatagramServer`."""
        return self._make(UnixDatagramServer, kwargs, "unix_dgram")

    def tls(self, **kwargs: Any) -> TLSServer:
        """A started :class:`~socketdouble.TLSServer` with a certificate from :attr:`ca`."""
        kwargs.setdefault("ca", self.ca)
        return self._make(TLSServer, kwargs, "tls")

    # -- record and replay -----------------------------------------------------------

    def record_or_replay(
        self, upstream: UpstreamAddress, name: str | None = None, *, kind: str = "tcp", **kwargs: Any
    ) -> BaseServer:
        """A started server for ``upstream``: a replay of cassette ``name``, or a recorder.

        By :attr:`record_mode`: ``none`` replays (a missing cassette is an error that
        says how to record it); ``once`` records when the cassette is missing, else
        replays; ``new_episodes`` replays the connections the cassette has and records
        the others, added after the old ones; ``all`` records afresh. A recording is
        written at stop only if the test passed, the recorder found no problem and at
        least one connection was recorded; otherwise the old cassette stays as it was.
        Before recording, the upstream is tried once (stream kinds, and Unix datagram):
        one that cannot be reached is a :class:`ConfigurationError` at once.

        The same keyword arguments work in every mode: the replay's (``ignore``,
        ``match``, ``timing``, ``report_unused``) are ignored while recording, the
        recorder's (``redact``, ``upstream_ssl_context``, ``upstream_hostname``,
        ``connect_timeout``, the time the upstream gets to answer that first try) while
        replaying; the rest go to the server. Replays default to
        ``match="first_request"`` and ``report_unused=False`` (a cassette extended by
        ``new_episodes`` keeps old versions of a changed conversation by design).

        ``name`` defaults to :attr:`default_cassette_name` (in pytest: the test's name,
        see :mod:`socketdouble.cassette_names`); the file is ``<cassette_dir>/<name>.json``.
        """
        path = self._cassette_path(name)
        mode = self.record_mode
        replay_kw, record_kw = split_keywords(kwargs)
        exists = path.exists()
        if mode == "none" and not exists:
            raise CassetteMissing(
                f"cassette {path} does not exist and record mode is 'none' (replay only); "
                f"record it once against the real upstream with {self.record_hint}"
            )
        if mode == "none" or (mode == "once" and exists):
            replay_kw.setdefault("match", "first_request")
            replay_kw.setdefault("report_unused", False)
            replay = ReplayServer(path, **replay_kw)
            _same_kind(replay.cassette, kind, path)
            return self.add(replay)
        timeout = record_kw.get("connect_timeout")
        probe_upstream(upstream, kind, record_kw, timeout, self.replay_hint)
        old = load(path) if mode == "new_episodes" and exists else None
        if old is not None:
            _same_kind(old, kind, path)
            server = _new_episodes_server(path, upstream, kind, kwargs)
        else:
            server = RecordingProxy(upstream, kind=kind, **record_kw)
        self.add(server)  # a server that cannot start has no recording to write
        self._recordings.append(_Recording(server, path, old))
        return server

    def _cassette_path(self, name: str | None) -> Path:
        if name is None:
            name = self.default_cassette_name
            if name is None:
                raise ConfigurationError("record_or_replay(upstream): pass name= (the cassette's name)")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"cassette name {name!r}: use letters, digits, '_', '-', '.', '[', ']' and '%', "
                "e.g. 'redis-get'"
            )
        path = self.cassette_dir / f"{name}.json"
        if path in self._cassettes_used:
            raise ConfigurationError(
                f"cassette {path} is already used in this test: give each record_or_replay call "
                "its own name=, e.g. record_or_replay(upstream, name='cache-warmup')"
            )
        if self.claim_cassette is not None:
            self.claim_cassette(path)
        self._cassettes_used.add(path)
        return path

    def recording_paths(self) -> list[Path]:
        """The cassettes that recording servers of this collection will write at stop."""
        return [recording.path for recording in self._recordings]

    def save_recordings(self, *, test_failed: bool = False, broken: frozenset[int] = frozenset()) -> None:
        """Write each valid recording; note why any other was not written.

        Valid: the test passed, the server's stop did not raise (``broken`` holds the
        ids of servers whose did), it has no problems, and it recorded a connection
        (``new_episodes``: a new one, else there is nothing to add).
        """
        recordings, self._recordings = self._recordings, []
        failed: list[OSError] = []
        for recording in recordings:
            reason, cassette = self._cassette_to_write(recording, test_failed, broken)
            if cassette is not None:
                try:
                    save(cassette, recording.path)
                except OSError as error:  # the others are still saved; this one is raised below
                    failed.append(error)
            elif reason:
                kept = "the cassette on disk is unchanged" if recording.path.exists() else "none was written"
                line = f"cassette {recording.path} not written: {reason}; {kept}"
                self.not_written.append(line)
                if not test_failed:
                    self._write_failures.append(line)
        if failed:
            raise failed[0]

    def _cassette_to_write(
        self, recording: _Recording, test_failed: bool, broken: frozenset[int]
    ) -> tuple[str, Cassette | None]:
        server = recording.server
        if test_failed:
            return "the test did not pass", None
        if id(server) in broken:
            return f"stopping {server.name} failed", None
        problems = server.problems()
        if problems:
            return f"{server.name} had {len(problems)} problem(s) while recording", None
        if recording.old is None:
            assert isinstance(server, RecordingProxy)
            cassette = server.cassette()
            if not cassette.connections:
                return f"no connection was recorded (nothing connected to {server.name})", None
            return "", cassette
        new = recorded_episodes(server, recording.old)
        return "", merge_episodes(recording.old, new) if new.connections else None

    # -- stopping and checking ---------------------------------------------------------

    def stop(self, *, test_failed: bool = False) -> None:
        """Stop every server, then save the valid recordings; raise what went wrong after.

        Every server is stopped even if one stop raises; a single error is re-raised,
        several are one :class:`StopFailed`. ``test_failed=True``: save no recording.
        """
        __tracebackhide__ = True
        errors: list[tuple[str, Exception]] = []
        broken: set[int] = set()
        for server in self.servers:
            try:
                server.stop()
            except Exception as error:
                errors.append((server.name, error))
                broken.add(id(server))
        if self._recordings:
            try:
                self.save_recordings(test_failed=test_failed, broken=frozenset(broken))
            except Exception as error:  # e.g. an unwritable folder: still raised, below
                errors.append(("saving cassettes", error))
        if len(errors) == 1:
            raise errors[0][1]
        if errors:
            lines = "\n".join(f"- {where}: {type(e).__name__}: {e}" for where, e in errors)
            raise StopFailed(f"{len(errors)} errors while stopping:\n{lines}", [e for _, e in errors])

    def check(self) -> None:
        """Check every server; one :class:`CheckFailed` lists the problems of all.

        Cassettes that could not be written (see :meth:`save_recordings`) are failures
        too. A server's transcript is shown once: not again for a server in
        :attr:`transcripts_shown`.
        """
        __tracebackhide__ = True
        failures = [text for server in self.servers if (text := self._failure_text(server))]
        failures += self._write_failures
        if failures:
            raise CheckFailed("\n\n".join(failures))

    def _failure_text(self, server: BaseServer) -> str:
        problems = server.problems()
        if not problems:
            return ""
        if not self.transcripts_elsewhere and id(server) not in self.transcripts_shown:
            self.transcripts_shown.add(id(server))
            try:
                server.check()
            except CheckFailed as failure:
                return str(failure)
        numbered = "\n".join(f"{i}. {problem}" for i, problem in enumerate(problems, 1))
        shown = "(its transcript is in this test's report sections)"
        return f"{server.name}: {len(problems)} problem(s)\n{numbered}\n{shown}"

    def close(self, *, test_failed: bool = False) -> None:
        """Stop every server and save valid recordings, then check them unless checking is off.

        A cassette that could not be written fails even with checking off.
        """
        __tracebackhide__ = True
        try:
            self.stop(test_failed=test_failed)
        finally:
            if self.check_on_close:
                self.check()
            elif self._write_failures:
                raise CheckFailed("\n\n".join(self._write_failures))

    def __repr__(self) -> str:
        servers = ", ".join(map(repr, self.servers)) or "no servers"
        return f"<Doubles record_mode={self.record_mode!r}: {servers}>"

    def __enter__(self) -> Doubles:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        __tracebackhide__ = True
        self.close(test_failed=exc_type is not None)


def _same_kind(cassette: Cassette, kind: str, path: Path) -> None:
    if cassette.kind != kind:
        raise ConfigurationError(
            f"cassette {path} holds a {cassette.kind!r} recording, not kind={kind!r}: pass "
            f"kind={cassette.kind!r}, or re-record it with record mode 'all'"
        )
