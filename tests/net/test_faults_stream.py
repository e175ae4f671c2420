"""Stream faults on every stream server kind: rules, Unix, scripts, handlers, TLS and replays.

One table of faults, run against each kind: every server answers ``PING`` with
``PONG PONG`` and then closes its side. Each row says what the client must see (the
bytes, how the connection ended, no sooner than when) and what the recording must
say (the fault events, the close reason). Timings are lower bounds only.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import ssl
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection
from socketdouble.core.events import EventKind
from socketdouble.core.fault_spec import Fault, fault_random
from socketdouble.core.recording import ConnectionRecord

REQUEST = b"PING\n"
REPLY = b"PONG PONG\n"
SEED = 7
#: How long a client waits for bytes that a blackhole keeps back.
HUNG = 0.3
TCP_CLOSE = 7  # the kernel's TCP state of a connection the peer reset


class OneLine(socketserver.StreamRequestHandler):
    """Answers one PING, then returns (the server closes)."""

    def handle(self) -> None:
        if self.rfile.readline() == REQUEST:
            self.wfile.write(REPLY)


def _cassette() -> Cassette:
    events: list[Any] = [
        DataEvent(0.0, "client", REQUEST),
        DataEvent(0.0, "server", REPLY),
        CloseEvent(0.0, "server", "fin"),
        CloseEvent(0.0, "client", "fin"),
    ]
    return Cassette("tcp", [RecordedConnection(0.0, events)])


def _rules(server: Any) -> Any:
    server.on(REQUEST).reply(REPLY, close=True)
    return server


MAKERS: dict[str, Callable[..., Any]] = {
    "rules": lambda **kw: _rules(sd.TCPServer(**kw)),
    "unix": lambda **kw: _rules(sd.UnixStreamServer(**kw)),
    "script": lambda **kw: sd.TCPServer(**kw).script(sd.Script().expect(REQUEST).send(REPLY).close()),
    "handler": lambda **kw: sd.TCPServer(OneLine, **kw),
    "tls": lambda **kw: _rules(sd.TLSServer(**kw)),
    "tls_handler": lambda **kw: sd.TLSServer(OneLine, **kw),
    "replay": lambda **kw: sd.ReplayServer(_cassette(), **kw),
}


@dataclass
class Outcome:
    """What the client saw."""

    got: bytes = b""
    reads: list[bytes] = field(default_factory=list)
    end: str = ""  # "eof", "reset" or "timeout"
    elapsed: float = 0.0


def open_client(server: Any, *, tls: bool, timeout: float) -> socket.socket:
    if server.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(server.path)
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection(server.address, timeout=timeout)
    if tls:
        context = server.client_ssl_context()
        # TLS 1.2: no session tickets after the handshake, so the socket turns readable only
        # for the reply or the end (see reset_seen).
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        wrapped: socket.socket = context.wrap_socket(sock, server_hostname="localhost")
        return wrapped
    return sock


def talk(server: Any, *, send: bool = True, tls: bool = False, timeout: float = 5.0) -> Outcome:
    """Connect, send the request (if ``send``), read until the connection ends."""
    start = time.monotonic()
    try:
        with open_client(server, tls=tls, timeout=timeout) as sock:
            if send:
                sock.sendall(REQUEST)
            outcome = read_to_end(sock, timeout)
    except (ConnectionResetError, BrokenPipeError):  # a write after an RST fails with EPIPE
        outcome = Outcome(end="reset")
    outcome.elapsed = time.monotonic() - start
    return outcome


def read_to_end(sock: socket.socket, timeout: float) -> Outcome:
    """Read until the connection ends: by end of file, a reset, or ``timeout`` of silence."""
    outcome = Outcome()
    try:
        while chunk := _recv(sock, timeout):
            outcome.reads.append(chunk)
        outcome.end = "reset" if reset_seen(sock) else "eof"
    except ConnectionResetError:
        outcome.end = "reset"
    except TimeoutError:
        outcome.end = "timeout"
    outcome.got = b"".join(outcome.reads)
    return outcome


def _recv(sock: socket.socket, timeout: float) -> bytes:
    """recv; over TLS, first note the TCP state once the socket is readable (see :func:`reset_seen`)."""
    if isinstance(sock, ssl.SSLSocket) and not sock.pending():
        if not select.select([sock], [], [], timeout)[0]:
            raise TimeoutError("timed out")
        _states[sock] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return sock.recv(65536)


_states: weakref.WeakKeyDictionary[socket.socket, int] = weakref.WeakKeyDictionary()


def reset_seen(sock: socket.socket) -> bool:
    """Python's ssl reports a peer's RST as end of file (OpenSSL 3 drops the errno); the kernel knows.

    Once end of file is readable, the client's TCP state is CLOSE_WAIT after a FIN and
    CLOSE after an RST. (It must be read before the SSL read: at a FIN without
    close_notify, OpenSSL writes an alert, which the closed server answers by RST.)
    """
    return _states.get(sock) == TCP_CLOSE


def sent_pieces(record: ConnectionRecord) -> list[bytes]:
    return [event.data for event in record.events if event.kind is EventKind.SEND]


def closed(server: Any, number: int = 1) -> ConnectionRecord:
    """Connection ``number`` with its close recorded: stop() joins the worker that records it.

    (A worker decides its close reason before the client can see the close, so the
    stop never changes it.)
    """
    server.stop()
    record: ConnectionRecord = server.recording.connections[number - 1]
    return record


@dataclass
class Row:
    """One fault, and what it must do."""

    faults: list[Fault]
    got: bytes
    end: str
    events: list[str]
    reason: str
    at_least: float = 0.0
    send: bool = True  # at-accept faults: the client sends nothing (so no unread byte turns a FIN into RST)
    timeout: float = 5.0


ROWS: dict[str, Row] = {
    "latency": Row(
        [sd.faults.latency(0.3)], REPLY, "eof", ["latency 0.3 s on data to the client"], "", at_least=0.3
    ),
    "bandwidth": Row(
        [sd.faults.bandwidth(40)], REPLY, "eof", ["bandwidth 40.0 bytes/s to the client"], "", at_least=0.2
    ),
    "slicer": Row(
        [sd.faults.slicer(3, delay=0.05)],
        REPLY,
        "eof",
        ["slicer: pieces of 3 bytes 0.05 s apart to the client"],
        "",
        at_least=0.15,
    ),
    "close_after": Row(
        [sd.faults.close_after(3)], b"PON", "eof", ["close after 3 bytes to the client"], "fault: closed"
    ),
    "reset": Row(
        [sd.faults.reset(3)], b"PON", "reset", ["reset after 3 bytes to the client"], "fault: reset"
    ),
    "reset_later": Row(
        [sd.faults.reset(3, delay=0.3)],
        b"PON",
        "reset",
        ["reset after 3 bytes to the client, 0.3 s later"],
        "fault: reset",
        at_least=0.3,
    ),
    "reset_at_accept": Row(
        [sd.faults.reset()], b"", "reset", ["reset at accept"], "fault: reset", send=False
    ),
    "refuse": Row(
        [sd.faults.refuse()], b"", "reset", ["refused: reset at accept"], "fault: reset", send=False
    ),
    "close_at_accept": Row(
        [sd.faults.close_after(0)],
        b"",
        "eof",
        ["close after 0 bytes to the client"],
        "fault: closed",
        send=False,
    ),
    "blackhole": Row(
        [sd.faults.blackhole(3)],
        b"PON",
        "timeout",
        ["blackhole after 3 bytes to the client: nothing more passes"],
        "client closed",
        at_least=HUNG,
        timeout=HUNG,
    ),
    "timeout": Row(
        [sd.faults.timeout(0.3, after_bytes=3)],
        b"PON",
        "eof",
        ["timeout after 3 bytes to the client: nothing more passes, closed 0.3 s later"],
        "fault: closed",
        at_least=0.3,
    ),
    "timeout_at_accept": Row(
        [sd.faults.timeout(0.3)],
        b"",
        "eof",
        ["timeout after 0 bytes to the client: nothing more passes, closed 0.3 s later"],
        "fault: closed",
        at_least=0.3,
        send=False,
    ),
    "slow_close": Row(
        [sd.faults.slow_close(0.3)],
        REPLY,
        "eof",
        ["slow close: the server's close comes 0.3 s late"],
        "",
        at_least=0.3,
    ),
    "garbage": Row(
        [sd.faults.garbage(4)],
        fault_random(SEED, sd.faults.garbage(4), 0, 1, "to_client").randbytes(4),
        "eof",
        ["garbage: 4 random bytes instead of 10 to the client, then close"],
        "fault: closed",
    ),
    "latency_from_client": Row(
        [sd.faults.latency(0.3, direction="from_client")],
        REPLY,
        "eof",
        ["latency 0.3 s on data from the client"],
        "",
        at_least=0.3,
    ),
    "latency_both": Row(
        [sd.faults.latency(0.2, direction="both")],
        REPLY,
        "eof",
        ["latency 0.2 s on data from the client", "latency 0.2 s on data to the client"],
        "",
        at_least=0.4,
    ),
    "close_after_from_client": Row(
        [sd.faults.close_after(3, direction="from_client")],
        b"",
        "eof",
        ["close after 3 bytes from the client"],
        "fault: closed",
    ),
    "reset_from_client": Row(
        [sd.faults.reset(3, direction="from_client")],
        b"",
        "reset",
        ["reset after 3 bytes from the client"],
        "fault: reset",
    ),
    "slicer_from_client": Row(
        [sd.faults.slicer(2, direction="from_client")],
        REPLY,
        "eof",
        ["slicer: pieces of 2 bytes from the client"],
        "",
    ),
}
#: The close reason a kind gives when it closes of its own accord (no fault ended the connection).
OWN_CLOSE = {
    "rules": "server closed",
    "unix": "server closed",
    "script": "server closed",
    "handler": "handler returned",
    "tls": "server closed",
    "tls_handler": "handler returned",
    "replay": "client closed",  # a replay half-closes as recorded, then the client closes
}


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("name", list(ROWS))
def test_each_stream_fault_on_each_kind(kind: str, name: str) -> None:
    row = ROWS[name]
    at_accept = not row.send
    with MAKERS[kind](faults=row.faults, seed=SEED) as server:
        # At accept the fault acts before any TLS handshake: a plain client sees it.
        tls = kind.startswith("tls") and not at_accept
        outcome = talk(server, send=row.send, tls=tls, timeout=row.timeout)
        record = closed(server)
    end = row.end
    if kind == "unix" and end == "reset":
        end = "eof"  # Unix stream sockets have no RST: a reset is a close
    assert (outcome.got, outcome.end) == (row.got, end), outcome
    assert outcome.elapsed >= row.at_least
    assert record.faults == row.events
    assert record.close_reason == (row.reason or OWN_CLOSE[kind])
    if name == "garbage":
        assert record.sent == row.got  # what went out, not what the double meant to send
    if name == "slicer":
        assert sent_pieces(record) == [b"PON", b"G P", b"ONG", b"\n"]
        if kind.startswith("tls"):
            assert outcome.reads == [b"PON", b"G P", b"ONG", b"\n"]  # one TLS record each
    if name in ("close_after", "reset", "garbage"):
        assert record.sent == row.got
    if name.endswith("from_client") and row.reason:
        assert record.received == b"PIN"
        notes = [event.text for event in record.events if event.kind is EventKind.NOTE]
        assert "withheld by a fault: 2 byte(s) from the client" in notes
    assert server.recording.seed == SEED
    assert f"seed={SEED}" in server.recording.transcript()


def test_no_fault_is_the_plain_conversation() -> None:
    """The table's baseline: without faults each kind answers and closes."""
    for kind, make in MAKERS.items():
        with make() as server:
            outcome = talk(server, tls=kind.startswith("tls"))
            record = closed(server)
        assert (outcome.got, outcome.end) == (REPLY, "eof"), kind
        assert record.faults == []
        assert f"seed={server.seed}" not in server.recording.transcript()  # shown once a fault acted


# -- which connections ---------------------------------------------------------------------


def test_connections_picks_by_number() -> None:
    with _rules(sd.TCPServer(faults=[sd.faults.reset(connections=[2])])) as server:
        ends = [talk(server).end for _ in range(3)]
        server.stop()
    assert ends == ["eof", "reset", "eof"]
    assert [r.faults for r in server.recording.connections] == [[], ["reset at accept"], []]


def test_toxicity_is_seeded_the_same_seed_the_same_connections() -> None:
    fault = sd.faults.reset(toxicity=0.5)
    expected = {
        seed: [n for n in range(1, 11) if fault.chosen(seed, 0, n)] for seed in (1, 2)
    }  # what the seed decides, connection by connection
    assert expected[1] != expected[2] and 0 < len(expected[1]) < 10

    def run(seed: int) -> list[int]:
        with _rules(sd.TCPServer(faults=[fault], seed=seed)) as server:
            ends = [talk(server).end for _ in range(10)]
        records = server.recording.connections
        assert [n for n, end in enumerate(ends, 1) if end == "reset"] == [
            r.number for r in records if r.faults == ["reset at accept"]
        ]
        return [r.number for r in records if r.faults == ["reset at accept"]]

    assert run(1) == expected[1]
    assert run(1) == expected[1]  # the same seed, the same choice
    assert run(2) == expected[2]


# -- faults changed while a connection is open ------------------------------------------------


class Lines(socketserver.StreamRequestHandler):
    """Answers every PING until the client closes."""

    def handle(self) -> None:
        for line in self.rfile:
            if line == REQUEST:
                self.wfile.write(REPLY)


LIVE_MAKERS: dict[str, Callable[..., Any]] = {
    "rules": lambda **kw: _answering(sd.TCPServer(**kw)),
    "handler": lambda **kw: sd.TCPServer(Lines, **kw),
    "tls": lambda **kw: _answering(sd.TLSServer(**kw)),
}


def _answering(server: Any) -> Any:
    server.on(REQUEST).reply(REPLY)
    return server


def _exchange(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    got = b""
    while len(got) < len(REPLY):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("kind", list(LIVE_MAKERS))
def test_a_fault_added_and_removed_acts_on_an_open_connection_from_its_next_chunk(kind: str) -> None:
    with LIVE_MAKERS[kind]() as server, open_client(server, tls=kind == "tls", timeout=5) as sock:
        assert _exchange(sock) == REPLY
        slicer = sd.faults.slicer(4)
        server.faults.append(slicer)
        assert _exchange(sock) == REPLY
        server.faults.remove(slicer)
        assert _exchange(sock) == REPLY
        record = closed(server)
    assert sent_pieces(record) == [REPLY, b"PONG", b" PON", b"G\n", REPLY]
    assert record.faults == ["slicer: pieces of 4 bytes to the client"]


@pytest.mark.parametrize("kind", list(LIVE_MAKERS))
def test_a_reset_switched_on_mid_connection_is_a_real_rst(kind: str) -> None:
    with LIVE_MAKERS[kind]() as server, open_client(server, tls=kind == "tls", timeout=5) as sock:
        assert _exchange(sock) == REPLY
        server.faults.append(sd.faults.reset())  # after_bytes=0 on an open connection: its next chunk
        sock.sendall(REQUEST)
        outcome = read_to_end(sock, 5.0)
        record = closed(server)
    assert (outcome.got, outcome.end) == (b"", "reset")
    assert record.faults == ["reset at accept"]  # the core names every after_bytes=0 reset so
    assert record.close_reason == "fault: reset"
    assert record.sent == REPLY


# -- stop() stays prompt with faults in flight ----------------------------------------------


IN_FLIGHT = {
    "blackhole": [sd.faults.blackhole()],
    "latency": [sd.faults.latency(30)],
    "latency_from_client": [sd.faults.latency(30, direction="from_client")],
    "slicer": [sd.faults.slicer(1, delay=30)],
    "timeout": [sd.faults.timeout(30)],
    "reset_later": [sd.faults.reset(delay=30)],
    "slow_close": [sd.faults.slow_close(30)],
    "bandwidth": [sd.faults.bandwidth(0.1)],
}


@pytest.mark.parametrize("kind", ["rules", "handler", "tls", "replay"])
@pytest.mark.parametrize("name", list(IN_FLIGHT))
def test_stop_is_prompt_with_faults_in_flight(kind: str, name: str) -> None:
    server = MAKERS[kind](faults=IN_FLIGHT[name])
    server.start()
    try:
        sock = open_client(server, tls=kind == "tls", timeout=5)
        with sock:
            sock.sendall(REQUEST)
            record = server.wait_for_connections(1)[0]
            if name in ("latency", "slicer", "bandwidth", "slow_close"):
                server.wait_for_requests(1)
            if name == "slow_close":
                with contextlib.suppress(OSError):
                    _read_until_closed_or(sock, 0.2)  # the reply came; the close is what is late
            start = time.monotonic()
            server.stop()
            took = time.monotonic() - start
    finally:
        server.stop()
    assert took < 1.0
    assert record.closed
    assert server.errors == []


def _read_until_closed_or(sock: socket.socket, timeout: float) -> None:
    sock.settimeout(timeout)
    with contextlib.suppress(TimeoutError):
        while sock.recv(65536):
            pass


def test_a_rule_delay_is_cut_short_by_stop() -> None:
    with sd.TCPServer() as server, open_client(server, tls=False, timeout=5) as sock:
        server.on(REQUEST).reply(REPLY, delay=30)
        sock.sendall(REQUEST)
        server.wait_for_requests(1)
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 1.0


# -- the socket layer pays nothing for faults it never had -----------------------------------


def test_a_server_without_faults_never_makes_connection_faults() -> None:
    with _answering(sd.TCPServer()) as server, open_client(server, tls=False, timeout=5) as sock:
        assert _exchange(sock) == REPLY
        assert server.faults.version == 0
        with server.sessions_lock:
            [session] = server._sessions.values()
        assert session.faults is None


@contextlib.contextmanager
def _tls_client(server: Any) -> Iterator[ssl.SSLSocket]:
    sock = open_client(server, tls=True, timeout=5)
    assert isinstance(sock, ssl.SSLSocket)
    with sock:
        yield sock


def test_tls_byte_counts_are_plaintext() -> None:
    with _answering(sd.TLSServer(faults=[sd.faults.close_after(5)])) as server, _tls_client(server) as sock:
        sock.sendall(REQUEST)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        record = closed(server)
    assert got == b"PONG "
    assert record.faults == ["close after 5 bytes to the client"]


# -- rules: delay= and reset() ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rules", "tls", "unix"])
def test_a_rule_reply_waits_its_delay_and_a_rule_reset_is_an_rst(kind: str) -> None:
    make = {"rules": sd.TCPServer, "tls": sd.TLSServer, "unix": sd.UnixStreamServer}[kind]
    with make() as server:
        server.on(REQUEST).reply(REPLY, delay=0.3)
        server.on(b"CRASH\n").reply(b"bye\n").reset()
        with open_client(server, tls=kind == "tls", timeout=5) as sock:
            start = time.monotonic()
            assert _exchange(sock) == REPLY
            assert time.monotonic() - start >= 0.3
            sock.sendall(b"CRASH\n")
            outcome = read_to_end(sock, 5.0)
        server.stop()
    assert (outcome.got, outcome.end) == (b"bye\n", "eof" if kind == "unix" else "reset")
    [record] = server.recording.connections
    assert record.close_reason == "server reset"
    assert record.sent == REPLY + b"bye\n"
    server.check()


def test_a_datagram_rule_waits_its_delay_and_a_reset_ends_the_peer_conversation() -> None:
    with sd.UDPServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.on(REQUEST).reply(REPLY, delay=0.3)
        server.on(b"CRASH\n").reset()
        client.settimeout(5)
        start = time.monotonic()
        client.sendto(REQUEST, server.address)
        assert client.recv(100) == REPLY
        assert time.monotonic() - start >= 0.3
        client.sendto(b"CRASH\n", server.address)
        server.wait_for_requests(2)
        server.stop()
    [record] = server.recording.connections
    notes = [event.text for event in record.events if event.kind is EventKind.NOTE]
    assert notes == ["conversation ended by reset(); the next datagram starts a new one"]


# -- forked children and pushes ----------------------------------------------------------------


@pytest.mark.parametrize("handler", [None, OneLine], ids=["rules", "handler"])
def test_faults_act_in_forked_children(handler: Any) -> None:
    server = sd.TCPServer(handler, concurrency="fork", faults=[sd.faults.close_after(3)])
    if handler is None:
        _rules(server)
    with server:
        outcome = talk(server)
    assert (outcome.got, outcome.end) == (b"PON", "eof")
    [record] = server.recording.connections
    assert record.faults == ["close after 3 bytes to the client"]
    assert record.close_reason == "fault: closed"


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_pushes_go_out_through_the_faults(tls: bool) -> None:
    server = _answering(sd.TLSServer() if tls else sd.TCPServer())
    with server, open_client(server, tls=tls, timeout=5) as sock:
        assert _exchange(sock) == REPLY  # the session is ready for pushes
        server.faults.append(sd.faults.slicer(2))
        server.send(b"PUSH\n")
        got = b""
        while len(got) < 5:
            got += sock.recv(100)
        record = closed(server)
    assert got == b"PUSH\n"
    assert sent_pieces(record) == [REPLY, b"PU", b"SH", b"\n"]
