"""The pytest plugin: fixtures, options, a marker and report sections. It only wires.

Settings resolve marker > command line > ini > default:

- ``socketdouble_check`` / ``--socketdouble-check``: stop *and check* servers at
  teardown (default true); the marker argument ``check=``.
- ``socketdouble_report_unused_rules``: report ``times=n`` rules used fewer than n
  times (default true); the marker argument ``report_unused_rules=``.
- ``socketdouble_record_mode`` / ``--socketdouble-record-mode``: how
  ``socketdouble.record_or_replay`` chooses between replaying and recording (``none``,
  the default, replays only; ``once``; ``new_episodes``; ``all``). Cassettes live in
  ``cassettes/<test module name>/`` beside the test module; a cassette's name defaults
  to the test's (see :mod:`socketdouble.cassette_names`), and two tests of one run
  that use one cassette fail, naming both (across pytest-xdist workers too). A
  recording is written only when the test passed; a failed test's report says which
  cassettes were left as they were.
- ``socketdouble_timeout`` / ``--socketdouble-timeout``: the pytest-timeout given to a
  test that uses a socketdouble fixture and has no timeout of its own (default 60 s;
  0 disables).

A test's server fixtures and ``socketdouble`` share one :class:`~socketdouble.Doubles`,
opened by the first of them the test sets up and closed at its teardown (after every
fixture that uses it). Only ``socketdouble`` and ``tls_server`` resolve the session
fixtures (the CA, the cassette claims): a test without them never makes the CA.

While a ``socketdouble`` fixture is in use, private socket folders and ``ca_file``
folders go under pytest's base temporary folder (see
:func:`socketdouble.net.address.folders_under`). Under pytest-socket, a server it
would block is a ConfigurationError naming the flags that work (see
:mod:`socketdouble.blocked_sockets`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import trustme

from . import blocked_sockets
from .cassette_names import CassetteClaims, default_cassette_name
from .doubles import RECORD_MODES, Doubles
from .errors import ConfigurationError, SocketDoubleError
from .net.address import folders_under
from .net.datagram import UDPServer, UnixDatagramServer
from .net.server import BaseServer
from .net.stream import TCPServer, UnixStreamServer
from .net.tls import TLSServer
from .net.upstream import UpstreamAddress

__all__ = [
    "DEFAULT_TIMEOUT",
    "FIXTURES",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "socketdouble",
    "socketdouble_ca",
    "tcp_server",
    "tls_server",
    "udp_server",
    "unix_dgram_server",
    "unix_server",
]

FIXTURES = frozenset(
    {"socketdouble", "tcp_server", "udp_server", "unix_server", "unix_dgram_server", "tls_server"}
)
DEFAULT_TIMEOUT = 60.0
S = TypeVar("S", bound=BaseServer)
T = TypeVar("T")
_doubles_key = pytest.StashKey[Doubles]()
_passed_key = pytest.StashKey[bool]()  # the call phase's outcome, for the fixture's teardown


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socketdouble", "socketdouble network test doubles")
    group.addoption(
        "--socketdouble-check",
        choices=("true", "false"),
        default=None,
        help="check servers at teardown: fail on handler errors and unmatched messages (default true)",
    )
    group.addoption(
        "--socketdouble-timeout",
        type=float,
        default=None,
        help=f"timeout for tests using socketdouble without one of their own (default {DEFAULT_TIMEOUT}s)",
    )
    group.addoption(
        "--socketdouble-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="record_or_replay: none (replay only, default), once, new_episodes or all",
    )
    parser.addini(
        "socketdouble_record_mode", "record_or_replay mode: none, once, new_episodes, all", default="none"
    )
    parser.addini("socketdouble_check", "check servers at teardown (default true)", type="bool", default=True)
    parser.addini(
        "socketdouble_report_unused_rules",
        "report rules declared with times=n and used fewer times (default true)",
        type="bool",
        default=True,
    )
    parser.addini(
        "socketdouble_timeout",
        f"timeout for tests using socketdouble without one of their own (default {DEFAULT_TIMEOUT}s)",
        default=str(DEFAULT_TIMEOUT),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_settings_key] = _RunSettings(config)  # a bad mode is a usage error now, not in every test
    config.addinivalue_line(
        "markers",
        "socketdouble(check=True, report_unused_rules=True): settings for this test's socketdouble servers",
    )


def _timeout(config: pytest.Config) -> float:
    option = config.getoption("socketdouble_timeout")
    value = option if option is not None else config.getini("socketdouble_timeout")
    try:
        return float(value)
    except ValueError:
        raise pytest.UsageError(f"socketdouble_timeout={value!r} is not a number of seconds") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout = _timeout(config)
    if timeout <= 0 or config.getoption("timeout", None) or config.getini("timeout"):
        return
    for item in items:
        uses = FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout))


def _record_mode(config: pytest.Config) -> Any:
    mode = config.getoption("socketdouble_record_mode") or config.getini("socketdouble_record_mode")
    if mode not in RECORD_MODES:
        raise pytest.UsageError(f"socketdouble_record_mode={mode!r}: choose one of {', '.join(RECORD_MODES)}")
    return mode


class _RunSettings:
    """What the command line and the ini file say, read once per run; a test's marker overrides."""

    def __init__(self, config: pytest.Config) -> None:
        self.record_mode = _record_mode(config)
        self.check = self._default(config, "check")
        self.report_unused_rules = self._default(config, "report_unused_rules")
        #: Each test module's cassette folder, ``cassettes/<module name>/`` beside it.
        self.cassette_dirs: dict[Path, Path] = {}

    @staticmethod
    def _default(config: pytest.Config, name: str) -> bool:
        option = config.getoption(f"socketdouble_{name}", None)
        if option is not None:
            return bool(option == "true")
        return bool(config.getini(f"socketdouble_{name}"))

    def cassette_dir(self, module: Path) -> Path:
        folder = self.cassette_dirs.get(module)
        if folder is None:
            folder = self.cassette_dirs[module] = module.parent / "cassettes" / module.stem
        return folder


_settings_key = pytest.StashKey[_RunSettings]()


def _run_settings(config: pytest.Config) -> _RunSettings:
    settings = config.stash.get(_settings_key, None)
    if settings is None:  # a config this plugin was not configured for (registered late)
        settings = config.stash[_settings_key] = _RunSettings(config)
    return settings


@pytest.fixture(scope="session")
def socketdouble_ca() -> trustme.CA:
    """The session-wide certificate authority behind ``tls_server`` certificates."""
    return trustme.CA()


@pytest.fixture(scope="session")
def _socketdouble_claims(request: pytest.FixtureRequest) -> CassetteClaims:
    """Which test uses which cassette in this run; shared by pytest-xdist workers through a file."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:
        return CassetteClaims()
    # xdist gives each worker <the run's base temporary folder>/popen-gwN: the parent is shared.
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    run_folder = factory.getbasetemp().parent
    return CassetteClaims(run_folder / f"socketdouble-cassettes-{workerinput['testrunuid']}.jsonl")


class _TestDoubles(Doubles):
    """The fixture's servers: one that pytest-socket would block is a ConfigurationError naming the flags."""

    def add(self, server: S) -> S:
        __tracebackhide__ = True
        problem = blocked_sockets.problem(server)
        if problem is not None:
            raise ConfigurationError(problem)
        return super().add(server)

    def record_or_replay(
        self, upstream: UpstreamAddress, name: str | None = None, *, kind: str = "tcp", **kwargs: Any
    ) -> BaseServer:
        __tracebackhide__ = True
        try:
            return super().record_or_replay(upstream, name, kind=kind, **kwargs)
        except SocketDoubleError:
            raise
        except Exception as error:  # pytest-socket's own error (or, under -W error, its warning)
            problem = blocked_sockets.upstream_problem(upstream)
            if problem is None:
                raise
            raise ConfigurationError(problem) from error


_open_key = pytest.StashKey[_TestDoubles]()  # the test's Doubles while one of our fixtures has it open
_base_temp_key = pytest.StashKey["Path | None"]()
#: The items whose test protocol is running, innermost last (pytester runs nest them).
_items: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    # The server fixtures find their test here: a ``request`` argument would cost each
    # test three of pytest's "request" fixture definitions, each inspecting a signature.
    _items.append(item)
    try:
        return (yield)
    finally:
        _items.pop()


def _item() -> pytest.Item:
    __tracebackhide__ = True
    if not _items:
        raise ConfigurationError(
            "socketdouble's server fixtures work inside a pytest test; outside one, use "
            "socketdouble.Doubles or the server classes"
        )
    return _items[-1]


def _base_temp(config: pytest.Config) -> Path | None:
    """pytest's base temporary folder, read once per run; None without pytest's tmpdir plugin."""
    try:
        return config.stash[_base_temp_key]
    except KeyError:
        # What the tmp_path_factory fixture returns, without resolving that fixture in every test.
        factory: pytest.TempPathFactory | None = getattr(config, "_tmp_path_factory", None)
        base = config.stash[_base_temp_key] = factory.getbasetemp() if factory is not None else None
        return base


def _open(item: pytest.Item, ca: trustme.CA | None) -> _TestDoubles:
    """A new Doubles for the test, with the marker's settings over the run's."""
    settings = _run_settings(item.config)
    marker = item.get_closest_marker("socketdouble")
    check, report_unused_rules = settings.check, settings.report_unused_rules
    if marker is not None:
        check = bool(marker.kwargs.get("check", check))
        report_unused_rules = bool(marker.kwargs.get("report_unused_rules", report_unused_rules))
    doubles = _TestDoubles(ca, check=check, report_unused_rules=report_unused_rules)
    doubles.transcripts_elsewhere = True  # report sections show them, once per server
    item.stash[_doubles_key] = doubles
    return doubles


def _serve(item: pytest.Item, make: Callable[[_TestDoubles], T], ca: trustme.CA | None = None) -> Iterator[T]:
    """The body of every socketdouble fixture: ``make(doubles)`` with the test's one Doubles.

    The first of our fixtures that a test sets up opens the Doubles and closes it at its
    teardown; the others share it. pytest tears fixtures down in the reverse order of
    their setup, so the Doubles closes after every fixture that could use it, as it
    would if each server fixture requested the ``socketdouble`` fixture (which would
    cost every test the resolution of that fixture and of its session fixtures).
    """
    __tracebackhide__ = True
    stash = item.stash
    doubles = stash.get(_open_key, None)
    if doubles is not None:  # another of our fixtures opened it and closes it
        if ca is not None and doubles._ca is None:
            doubles._ca = ca
        yield make(doubles)
        return
    doubles = stash[_open_key] = _open(item, ca)
    base = _base_temp(item.config)
    try:
        with folders_under(base) if base is not None else nullcontext():
            try:
                made = make(doubles)
            except BaseException:
                doubles.close(test_failed=True)  # the servers made before this one
                raise
            yield made
            doubles.close(test_failed=not stash.get(_passed_key, False))
    finally:
        del stash[_open_key]


def _cassettes(doubles: Doubles, request: pytest.FixtureRequest, claims: CassetteClaims) -> None:
    """What ``record_or_replay`` needs of the test: only the ``socketdouble`` fixture exposes it."""
    node = request.node
    settings = _run_settings(request.config)
    doubles.record_mode = settings.record_mode
    doubles.cassette_dir = settings.cassette_dir(node.path)
    doubles.record_hint = f'pytest --socketdouble-record-mode=once "{node.nodeid}"'
    doubles.replay_hint = "--socketdouble-record-mode=none"
    doubles.default_cassette_name = default_cassette_name(
        node.name, request.cls.__name__ if request.cls is not None else None
    )
    nodeid = node.nodeid
    doubles.claim_cassette = lambda path: claims.claim(path, nodeid)


@pytest.fixture
def socketdouble(
    request: pytest.FixtureRequest,
    socketdouble_ca: trustme.CA,
    _socketdouble_claims: CassetteClaims,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Doubles]:
    """Make any number of started servers; all are stopped and checked at teardown.

    Private socket folders and CA files of servers made during the test go under
    pytest's base temporary folder (which pytest prunes), unless a socket path would
    be too long there.
    """
    __tracebackhide__ = True

    def wire(doubles: _TestDoubles) -> Doubles:
        _cassettes(doubles, request, _socketdouble_claims)
        return doubles

    yield from _serve(cast(pytest.Item, request.node), wire, socketdouble_ca)


@pytest.fixture
def tcp_server() -> Iterator[TCPServer]:
    """A started TCP server on 127.0.0.1; stopped and checked after the test."""
    __tracebackhide__ = True
    yield from _serve(_item(), Doubles.tcp)


@pytest.fixture
def udp_server() -> Iterator[UDPServer]:
    """A started UDP server on 127.0.0.1; stopped and checked after the test."""
    __tracebackhide__ = True
    yield from _serve(_item(), Doubles.udp)


@pytest.fixture
def unix_server() -> Iterator[UnixStreamServer]:
    """A started Unix stream server on a private socket file."""
    __tracebackhide__ = True
    yield from _serve(_item(), Doubles.unix)


@pytest.fixture
def unix_dgram_server() -> Iterator[UnixDatagramServer]:
    """A started Unix datagram server on a private socket file."""
    __tracebackhide__ = True
    yield from _serve(_item(), Doubles.unix_dgram)


@pytest.fixture
def tls_server(socketdouble_ca: trustme.CA) -> Iterator[TLSServer]:
    """A started TLS server (certificate from ``socketdouble_ca``)."""
    __tracebackhide__ = True
    yield from _serve(_item(), Doubles.tls, socketdouble_ca)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    doubles = item.stash.get(_doubles_key, None)
    if doubles is None:
        return report
    if report.when == "call":
        item.stash[_passed_key] = report.passed
        if report.failed and doubles.recording_paths():
            kept = "\n".join(f"  {path}" for path in doubles.recording_paths())
            report.sections.append(
                ("socketdouble cassettes", f"not written, because the test did not pass:\n{kept}")
            )
    if report.failed:
        # Once per server: not again for one whose transcript a failure or section shows.
        for number, server in enumerate(doubles.servers, 1):
            if id(server) not in doubles.transcripts_shown:
                doubles.transcripts_shown.add(id(server))
                report.sections.append(
                    (f"socketdouble transcript {number}: {server.name}", server.recording.transcript())
                )
    return report
