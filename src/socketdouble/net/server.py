"""What every server has: settings, rules, the recording, check(), the lifecycle."""

from __future__ import annotations

import os
import socket
import socketserver
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

from ..core.conversation import Conversation, DatagramDialogue, Dialogue
from ..core.events import EventSink, describe_error
from ..core.fault_spec import Fault, FaultList, check_seed
from ..core.framing import Framing, check_framing, lines
from ..core.matchers import MatcherLike
from ..core.recording import ConnectionRecord, Recording
from ..core.rules import Greeting, Rule, RuleBook
from ..core.script import Script
from ..errors import CheckFailed, ConfigurationError, ServerStateError
from . import push
from .address import Endpoint, InetEndpoint, UnixEndpoint
from .keywords import ChecksKeywords
from .lifecycle import Lifecycle
from .socketserver_adapter import check_handler

__all__ = ["SHOWN_IN_PROBLEM", "BaseServer", "Concurrency", "VerifyRequest"]

Concurrency = Literal["thread", "serial", "fork"]
"""How a server runs its connections: a worker thread each, one at a time, or a child process each."""
_CONCURRENCY: tuple[Concurrency, ...] = get_args(Concurrency)
VerifyRequest = Callable[[Any, Any], bool]
#: How much of an unmatched message a check() problem line shows (the transcript has more).
SHOWN_IN_PROBLEM = 120


class BaseServer(Lifecycle, metaclass=ChecksKeywords):
    """A real server in a background thread that records everything it sees."""

    kind = "server"
    datagram = False
    socket_type = socket.SOCK_STREAM
    #: Why this server takes no rules, greetings, scripts, handler nor fork ("" when it
    #: does): a replay answers from its cassette, a proxy forwards. Said in the error.
    not_scriptable = ""

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str | os.PathLike[str] | None = None,
        framing: Framing | None = None,
        concurrency: Concurrency = "thread",
        ssl_context: ssl.SSLContext | None = None,
        verify_request: VerifyRequest | None = None,
        allow_remote: bool = False,
        stop_timeout: float = 1.0,
        report_unused_rules: bool = True,
        name: str | None = None,
        faults: Iterable[Fault] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if self.not_scriptable and handler is not None:
            raise ConfigurationError(f"{self.not_scriptable}: it takes no handler= (got {handler!r})")
        if self.not_scriptable and concurrency == "fork":
            raise ConfigurationError(
                f"{self.not_scriptable}: concurrency='fork' would give each child a fresh copy of "
                "its state (a second connection would replay or record as if it were the first); "
                "use 'thread' or 'serial'"
            )
        self.handler = check_handler(handler, self.datagram)
        if concurrency not in _CONCURRENCY:
            raise ConfigurationError(
                f"concurrency={concurrency!r}: choose 'thread' (a worker per connection), "
                "'serial' (one at a time) or 'fork' (a child process per connection)"
            )
        if concurrency == "fork" and not hasattr(os, "fork"):
            raise ConfigurationError("concurrency='fork' needs os.fork, which this platform lacks")
        self.concurrency = concurrency
        if framing is not None and self.datagram:
            raise ConfigurationError(
                f"framing={framing!r} given to a datagram server: each datagram is one message already"
            )
        self.framing: Framing = check_framing(framing) if framing is not None else lines()
        if ssl_context is not None and (self.datagram or not isinstance(ssl_context, ssl.SSLContext)):
            raise ConfigurationError(
                f"ssl_context={ssl_context!r}: TLS needs an ssl.SSLContext on a TCP or Unix stream server"
            )
        self.ssl_context = ssl_context
        if verify_request is not None and not callable(verify_request):
            raise ConfigurationError(
                f"verify_request={verify_request!r} is not callable (request, client_address) -> bool"
            )
        self.verify_request = verify_request
        if not isinstance(stop_timeout, (int, float)) or stop_timeout <= 0:
            raise ConfigurationError(f"stop_timeout={stop_timeout!r}: give a number of seconds > 0")
        self.stop_timeout = float(stop_timeout)
        self.report_unused_rules = report_unused_rules
        self.endpoint: Endpoint = self._endpoint(host, port, path, allow_remote)
        self.rules = RuleBook()
        self._script: Script | None = None
        self._name = name
        self.recording = Recording(name or f"{self.kind} server")
        #: Where every random choice of the faults comes from; the transcript shows it.
        self.seed = check_seed(seed)
        self.recording.seed = self.seed
        medium: Literal["stream", "datagram"] = "datagram" if self.datagram else "stream"
        self._faults = FaultList(medium, f"{type(self).__name__}", faults)
        self._faults.on_change = self._faults_changed
        self.socket: socket.socket | None = None

    def _endpoint(
        self, host: str, port: int, path: str | os.PathLike[str] | None, allow_remote: bool
    ) -> Endpoint:
        if self.family_kind == "unix":
            if (host, port) != ("127.0.0.1", 0):
                raise ConfigurationError(f"host/port given to a Unix {self.kind} server; pass path=")
            return UnixEndpoint(path)
        if path is not None:
            raise ConfigurationError(f"path={path!r} given to an inet {self.kind} server; pass host/port")
        return InetEndpoint(host, port, allow_remote)

    family_kind = "inet"

    # -- addresses ---------------------------------------------------------------

    @property
    def address(self) -> Any:
        """``(host, port)`` for inet servers, the socket path for Unix servers."""
        return self.endpoint.address

    server_address = address

    @property
    def host(self) -> str | None:
        return self.endpoint.host

    @property
    def port(self) -> int | None:
        return self.endpoint.port

    @property
    def path(self) -> str | None:
        return self.endpoint.path

    @property
    def name(self) -> str:
        """How reports name this server: the given ``name=``, or its kind and address."""
        return self.recording.name

    # -- what it says ------------------------------------------------------------

    def on(self, matcher: MatcherLike, times: int | None = None) -> Rule:
        """Add a rule: messages ``matcher`` accepts get the rule's ``.reply(...)``.

        ``times=n`` limits the rule to n answers and makes them an expectation:
        check() reports a rule used fewer than n times. Rules may be added while
        the server runs; the first matching rule with uses left answers.
        """
        self._no_handler("on()")
        # On a running server the rule is pending until its answer is known (see Rule).
        return self.rules.add(matcher, times, pending=self.running)

    def on_connect(self) -> Greeting:
        """Greet every new connection: ``server.on_connect().reply(b"220 ready\\r\\n")``."""
        self._no_handler("on_connect()")
        if self.datagram:
            raise ConfigurationError("on_connect() needs a stream server: datagrams have no connection")
        return self.rules.add_greeting()

    def script(self, script: Script) -> BaseServer:
        """Play ``script`` on every new connection (datagram servers: every new peer)."""
        self._no_handler("script()")
        if not isinstance(script, Script):
            raise ConfigurationError(f"script({script!r}): pass a socketdouble.Script()")
        self._script = script
        return self

    def _no_handler(self, what: str) -> None:
        if self.not_scriptable:
            raise ConfigurationError(
                f"{what} on {self.name}: {self.not_scriptable}, so {what} would never be used; "
                "for scripted answers use a TCPServer, UDPServer, ... with rules"
            )
        if self.handler is not None:
            raise ConfigurationError(
                f"{what} on a server with handler={self.handler.__name__}: the handler answers "
                "every message; drop handler= to script the server instead"
            )

    def conversation(self, sink: EventSink, rules: RuleBook | None = None) -> Dialogue:
        """A fresh conversation for one stream connection."""
        return self._conversation(sink, rules)

    def datagram_dialogue(self, sink: EventSink, rules: RuleBook | None = None) -> DatagramDialogue:
        """A fresh conversation for one datagram peer."""
        return self._conversation(sink, rules)

    def _conversation(self, sink: EventSink, rules: RuleBook | None) -> Conversation:
        return Conversation(
            sink,
            rules or self.rules,
            self._script,
            None if self.datagram else self.framing.decoder(),
            passive=self.handler is not None,
        )

    @property
    def faults(self) -> FaultList:
        """The faults acting on this server: a live list (see :mod:`socketdouble.faults`).

        A change applies to new connections at once and to open ones from their next
        chunk of data (datagram servers: their next datagram).
        """
        return self._faults

    @faults.setter
    def faults(self, faults: Iterable[Fault]) -> None:
        self._faults.replace(faults)

    def _faults_changed(self) -> None:
        """The fault list changed (in the changing thread): act on faults about the listener."""
        with self._listener_lock:
            if self.running and not self._stopping.is_set() and not self._down:
                self._apply_listener_faults()

    def _apply_listener_faults(self) -> None:
        """Hold or release the listener as the listener faults say (listener lock held)."""

    # -- outage (the state machine is the lifecycle's) --------------------------------

    def _close_listener(self) -> None:
        self._release_listener()
        sock, self.socket = self.socket, None
        if sock is not None:
            sock.close()

    def _reopen_listener(self) -> None:
        self.socket = self._bind_listener(again=True)
        self._apply_listener_faults()

    def _release_listener(self) -> None:
        """Undo what listener faults did to the listener before it closes (listener lock held)."""

    def _outage_fault(self, text: str) -> None:
        self.recording.add_fault(text)

    def _watched(self, first: socket.socket | None) -> socket.socket | None:
        return None if self._down else self.socket

    # -- what it saw -----------------------------------------------------------

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by handlers or on connections (a live list)."""
        return self.recording.errors

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """Block until ``n`` messages arrived and return the first ``n``."""
        self.rules.settle()  # the test is waiting on traffic: its rules are configured
        return self.recording.wait_for_requests(n, timeout)

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> list[ConnectionRecord]:
        """Block until ``n`` connections (datagram servers: peers) were seen; return their records."""
        self.rules.settle()
        return self.recording.wait_for_connections(n, timeout)

    async def wait_for_requests_async(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """``await`` until ``n`` messages arrived, without blocking the event loop; the first ``n``."""
        self.rules.settle()
        return await self.recording.wait_for_requests_async(n, timeout)

    async def wait_for_connections_async(self, n: int, timeout: float = 5.0) -> list[ConnectionRecord]:
        """``await`` until ``n`` connections (peers) were seen, without blocking the event loop."""
        self.rules.settle()
        return await self.recording.wait_for_connections_async(n, timeout)

    def send(self, data: bytes, connection: ConnectionRecord | int | None = None) -> ConnectionRecord:
        """Push ``data`` to a live connection, unasked; see :func:`socketdouble.net.push.send`."""
        self._not_down("send()")
        return push.send(self, data, connection)

    def broadcast(self, data: bytes) -> list[ConnectionRecord]:
        """Push ``data`` to every open connection; see :func:`socketdouble.net.push.broadcast`."""
        self._not_down("broadcast()")
        return push.broadcast(self, data)

    def _not_down(self, what: str) -> None:
        if self._down:
            raise ServerStateError(
                f"{what} on {self!r}: the server is down (down() closed its socket and reset its "
                "connections); call up() first"
            )

    def _push(self, record: ConnectionRecord, data: bytes) -> bool:
        """Send pushed ``data`` on ``record``'s connection; False if it is no longer live."""
        raise NotImplementedError  # stream and datagram servers implement it

    def check(self, *, unused_rules: bool | None = None) -> None:
        """Raise :class:`CheckFailed` naming every error, unmatched message and unused rule."""
        problems = self.problems(unused_rules)
        if problems:
            numbered = "\n".join(f"{i}. {problem}" for i, problem in enumerate(problems, 1))
            raise CheckFailed(
                f"{self.name}: {len(problems)} problem(s)\n{numbered}\n\n" + self.recording.transcript()
            )

    def problems(self, unused_rules: bool | None = None) -> list[str]:
        """What check() would report, one readable entry each."""
        report_unused = self.report_unused_rules if unused_rules is None else unused_rules
        self.rules.settle()
        problems = []
        contexts = self.recording.error_contexts
        for error in list(self.errors):
            where = _where(contexts.get(id(error)))
            problems.append(f"error{where}:\n" + _indent(describe_error(error)))
        for connection, message, hint in self.recording.unmatched_details:
            problems.append(f"unmatched message{_where(connection)}: {_shown(message)}\n" + _indent(hint))
        if report_unused:
            for rule in self.rules.unused_expectations():
                problems.append(
                    f"expected rule not used enough: {rule.describe()} "
                    "(pass report_unused_rules=False to allow this)"
                )
        return problems

    # -- lifecycle -----------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, close every socket, join every thread (see Lifecycle.stop)."""
        self.rules.settle()  # a worker waiting on a pending rule goes on at once
        super().stop()

    def _open(self) -> None:
        sock = self._bind_listener(again=False)
        with self._listener_lock:
            self.socket = sock
            self.recording.name = self._name or f"{self.kind} server at {self.endpoint}"
            self.recording.restart_clock()
            self._apply_listener_faults()

    def _bind_listener(self, again: bool) -> socket.socket:
        """A socket bound (``again``: to the address it had before down()) and listening."""
        sock = socket.socket(self.endpoint.family, self.socket_type)
        try:
            if self.endpoint.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if self.family_kind == "inet" and not self.datagram:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if again:
                self.endpoint.rebind(sock)
            else:
                self.endpoint.bind(sock)
            self._listen(sock)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _listen(self, sock: socket.socket) -> None:
        pass

    def _close(self) -> None:
        try:
            with self._listener_lock:
                self._release_listener()
                if self.socket is not None:
                    self.socket.close()
        finally:
            self.endpoint.cleanup()

    def _record_error(self, error: BaseException) -> None:
        self.recording.add_error(error)

    def verified(self, request: Any, peer: Any) -> bool:
        """Ask verify_request; an exception in it is recorded and refuses the peer."""
        if self.verify_request is None:
            return True
        try:
            accepted = bool(self.verify_request(request, peer))
        except Exception as error:
            self.recording.add_error(error)
            accepted = False
        if not accepted:
            self.recording.add_rejected(peer)
        return accepted

    def __repr__(self) -> str:
        named = "" if self._name is None else f" {self._name!r}"
        return f"<{type(self).__name__}{named} {self.endpoint} {self._state}>"


def _where(connection: ConnectionRecord | None) -> str:
    return "" if connection is None else f" on connection {connection.number} from {connection.peer!r}"


def _shown(message: bytes) -> str:
    """``message`` as a bytes literal (ready to paste into a rule), cut when long."""
    if len(message) <= SHOWN_IN_PROBLEM:
        return repr(message)
    rest = len(message) - SHOWN_IN_PROBLEM
    return f"{message[:SHOWN_IN_PROBLEM]!r} ... ({rest} more bytes, {len(message)} in all)"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
