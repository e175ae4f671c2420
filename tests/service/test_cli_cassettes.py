"""``socketdouble record``, ``replay`` and ``show``, run as a user runs them: as processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from examples.needs import unavailable
from examples.redis_server import redis_server

import socketdouble as sd
from socketdouble.core.cassette import (
    DataEvent,
    load,
)
from socketdouble.net.upstream import Upstream
from socketdouble.service import record
from socketdouble.service.arguments import BadInput

from .commands import TIMEOUT, free_port, ping_cassette, run, started, talk

# -- a real redis-server, driven by redis-cli ----------------------------------


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real redis-server on a free loopback port, nothing saved, stopped afterwards."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        unavailable("redis-server and redis-cli are not installed")
    port = free_port()
    with redis_server("--port", str(port), "--bind", "127.0.0.1", cwd=tmp_path) as process:
        yield process, port


SESSION = "".join(
    f"{command}\n"
    for command in (
        "SET user:1 ann",
        "GET user:1",
        "INCR visits",
        "INCR visits",
        "RPUSH queue a b c",
        "LRANGE queue 0 -1",
        "GET missing",
    )
)


def redis_cli(port: int, *command: str, session: str | None = None) -> str:
    """What redis-cli prints for ``command`` (or, one connection, for each line of ``session``)."""
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *command],
        input=session,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout


def test_redis_cli_recorded_through_socketdouble_record_replays_with_the_server_gone(
    redis_port: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    server, port = redis_port
    cassette = tmp_path / "cassettes" / "redis.json"  # the folder is made
    with started(
        "record", "--upstream", f"127.0.0.1:{port}", "--out", str(cassette), ready_file=tmp_path / "ready"
    ) as recording:
        assert recording.ready["servers"]["record"]["kind"] == "tcp"
        _, proxy_port = recording.address("record")
        live = [redis_cli(proxy_port, session=SESSION), redis_cli(proxy_port, "DBSIZE")]
        assert live[0].split("\n")[:3] == ["OK", "ann", "1"]
        assert recording.stop() == 0, recording.stderr
    assert recording.stdout.endswith(f"{cassette}: 2 connection(s) recorded from 127.0.0.1:{port}\n")
    server.terminate()  # no upstream from here on
    server.wait(timeout=10)

    recorded = load(cassette)
    assert [c.server for c in recorded.connections] == [("127.0.0.1", port)] * 2
    assert all(c.client is not None and c.client[0] == "127.0.0.1" for c in recorded.connections)

    with started("replay", str(cassette), ready_file=tmp_path / "ready2") as replay:
        _, replay_port = replay.address("replay")
        assert [redis_cli(replay_port, session=SESSION), redis_cli(replay_port, "DBSIZE")] == live
        assert replay.stop() == 0, replay.stdout + replay.stderr
    assert "2 connection(s) as recorded" in replay.stdout


# -- record ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix", "udp", "unix_dgram"])
def test_record_forwards_each_kind_and_saves_on_sigterm(kind: str, tmp_path: Path) -> None:
    makers = {
        "tcp": sd.TCPServer,
        "unix": sd.UnixStreamServer,
        "udp": sd.UDPServer,
        "unix_dgram": sd.UnixDatagramServer,
    }
    out = tmp_path / "c.json"
    with makers[kind]() as upstream:
        upstream.on(b"PING\n").reply(b"PONG\n")
        where = upstream.path or f"127.0.0.1:{upstream.port}"
        args = ("record", "--kind", kind, "--upstream", where, "--out", str(out))
        with started(*args, ready_file=tmp_path / "ready") as recording:
            assert recording.ready == {
                "servers": {
                    "record": {"kind": kind, "address": recording.ready["servers"]["record"]["address"]}
                }
            }
            assert talk(recording.address("record"), b"PING\n", kind) == b"PONG\n"
            assert recording.stop() == 0, recording.stderr
    cassette = load(out)
    assert cassette.kind == kind
    [connection] = cassette.connections
    data = [(e.side, e.payload) for e in connection.events if isinstance(e, DataEvent)]
    assert data == [("client", b"PING\n"), ("server", b"PONG\n")]
    if kind in ("tcp", "udp"):  # the proxies hand the recorder both endpoints
        assert connection.server == ("127.0.0.1", upstream.port)
        assert connection.client is not None and connection.client[0] == "127.0.0.1"
    else:
        assert (connection.client, connection.server) == (None, None)


def test_record_redacts_and_stops_on_sigint_too(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    with sd.TCPServer() as upstream:
        upstream.on(sd.prefix(b"AUTH")).reply(b"OK\n")
        args = ("record", "--upstream", f"127.0.0.1:{upstream.port}", "--out", str(out))
        with started(
            *args, "--redact", r"(?<=AUTH )\S+", "--redact", "never", ready_file=tmp_path / "r"
        ) as rec:
            assert talk(rec.address("record"), b"AUTH hunter2\n") == b"OK\n"
            assert rec.stop(signal.SIGINT) == 0, rec.stderr
    text = out.read_text()
    assert "hunter2" not in text and "AUTH *******" in text
    assert load(out).redact == [rb"(?<=AUTH )\S+", b"never"]


def test_record_listens_where_told(tmp_path: Path) -> None:
    port = free_port()
    with sd.TCPServer() as upstream:
        upstream.on(b"PING\n").reply(b"PONG\n")
        args = ("record", "--upstream", f"127.0.0.1:{upstream.port}", "--out", str(tmp_path / "c.json"))
        with started(*args, "--listen", f"127.0.0.1:{port}", ready_file=tmp_path / "ready") as recording:
            assert recording.address("record") == ("127.0.0.1", port)
            assert talk(("127.0.0.1", port), b"PING\n") == b"PONG\n"
            assert recording.stop() == 0


def test_record_with_no_client_writes_nothing_and_keeps_the_old_cassette(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    out.write_text("the old cassette")
    with sd.TCPServer() as upstream:
        args = ("record", "--upstream", f"127.0.0.1:{upstream.port}", "--out", str(out))
        with started(*args, ready_file=tmp_path / "ready") as recording:
            assert recording.stop() == 1
    assert "no client connected, so nothing was recorded" in recording.stderr
    assert out.read_text() == "the old cassette"


def test_a_recording_whose_upstream_went_away_fails_with_the_report_and_writes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "c.json"
    upstream = sd.TCPServer().start()
    try:
        args = ("record", "--upstream", f"127.0.0.1:{upstream.port}", "--out", str(out))
        with started(*args, ready_file=tmp_path / "ready") as recording:
            upstream.stop()  # reached once at start, gone when the client comes
            with socket.create_connection(recording.address("record"), timeout=TIMEOUT) as client:
                client.sendall(b"PING\n")
                assert client.recv(100) == b""  # the proxy closes: no upstream to forward to
            assert recording.stop() == 1
    finally:
        upstream.stop()
    assert f"cannot reach the upstream 127.0.0.1:{upstream.port}: connection refused" in recording.stdout
    assert f"the recording failed (report above); {out} not written" in recording.stderr
    assert not out.exists()


# -- replay ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix", "udp", "unix_dgram"])
def test_replay_answers_as_recorded_and_exits_0(kind: str, tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", kind)
    with started("replay", str(cassette), ready_file=tmp_path / "ready") as replay:
        assert replay.ready["servers"]["replay"]["kind"] == kind
        assert talk(replay.address("replay"), b"PING\n", kind) == b"PONG\n"
        assert replay.stop() == 0, replay.stdout
    what = "peer(s)" if kind in ("udp", "unix_dgram") else "connection(s)"
    assert replay.stdout.endswith(f"replay of {cassette}: 1 {what} as recorded\n")


def test_replay_exits_1_on_a_mismatch_with_the_report(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json")
    with started("replay", str(cassette), ready_file=tmp_path / "ready") as replay:
        assert talk(replay.address("replay"), b"PONG\n") == b""  # closed at the first differing byte
        assert replay.stop() == 1
    assert "replay: 1 problem(s)" in replay.stdout
    assert "first difference at byte 1" in replay.stdout
    assert "transcript of replay" in replay.stdout


def test_replay_exits_1_when_a_recorded_connection_was_never_used(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", connections=2)
    with started("replay", str(cassette), ready_file=tmp_path / "ready") as replay:
        assert talk(replay.address("replay"), b"PING\n") == b"PONG\n"
        assert replay.stop() == 1
    assert "recorded connection(s) never replayed: 2" in replay.stdout


def test_replay_listens_on_the_path_given(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", "unix")
    path = str(tmp_path / "replay.sock")
    with started("replay", str(cassette), "--listen", path, ready_file=tmp_path / "ready") as replay:
        assert replay.address("replay") == path
        assert talk(path, b"PING\n") == b"PONG\n"
        assert replay.stop() == 0
    assert not os.path.exists(path)  # the socket file is removed at the stop


# -- every bad input: exit 2, one line on stderr naming the value and the fix --------


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    return free_port()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "broken.json").write_text('{"socketdouble_cassette": 3, "kind": "tcp", "connections": [}')
    (tmp_path / "a_file").write_text("")
    ping_cassette(tmp_path / "tcp.json")
    with socket.socket() as taken:  # a listening port, for "in use"
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    return {
        "dir": str(tmp_path),
        "broken": str(tmp_path / "broken.json"),
        "tcp": str(tmp_path / "tcp.json"),
        "missing": str(tmp_path / "missing.json"),
        "file": str(tmp_path / "a_file"),
        "closed": str(port),
    }


BAD_INPUT = [
    (
        ["record", "--upstream", "nope", "--out", "{dir}/c.json"],
        "--upstream 'nope': a tcp address is HOST:PORT",
    ),
    (["record", "--upstream", "/tmp/redis.sock", "--out", "{dir}/c"], "(a socket path needs --kind unix"),
    (["record", "--upstream", ":6379", "--out", "{dir}/c"], "the host is missing"),
    (["record", "--upstream", "127.0.0.1:http", "--out", "{dir}/c"], "the port 'http' is not a number"),
    (["record", "--upstream", "127.0.0.1:70000", "--out", "{dir}/c"], "the port '70000' is not a number"),
    (["record", "--upstream", "127.0.0.1:0", "--out", "{dir}/c"], "port 0 is no service's port"),
    (
        ["record", "--kind", "unix", "--upstream", "127.0.0.1:6379", "--out", "{dir}/c"],
        "a unix address is a socket PATH; for HOST:PORT pass --kind tcp or udp",
    ),
    (["record", "--kind", "unix", "--upstream", "", "--out", "{dir}/c"], "--upstream is empty"),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}/c"],
        "--upstream 127.0.0.1:{closed}: cannot reach the upstream 127.0.0.1:{closed}: connection refused; "
        "start it first, or fix --upstream",
    ),
    (
        ["record", "--kind", "unix", "--upstream", "{dir}/none.sock", "--out", "{dir}/c"],
        "cannot reach the upstream {dir}/none.sock: no such file or directory",
    ),
    (
        ["record", "--kind", "unix_dgram", "--upstream", "{dir}/none.sock", "--out", "{dir}/c"],
        "cannot reach the upstream {dir}/none.sock: no such file or directory",
    ),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}/c", "--listen", "0.0.0.0:0"],
        "--listen '0.0.0.0:0' is not a loopback address, so anyone on the network could connect; "
        "pass --allow-remote",
    ),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}/c", "--listen", "localhost:0"],
        "'localhost' is not an IP address; listen on 127.0.0.1 or [::1]",
    ),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}/c", "--redact", "("],
        "--redact: redact pattern '(' is not a valid bytes regex",
    ),
    (["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}"], "--out {dir} is a directory"),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{file}/c.json"],
        "--out {file}/c.json: cannot create the folder {file}",
    ),
    (
        ["record", "--upstream", "127.0.0.1:{closed}", "--out", "{dir}/c", "--ready-file", "{dir}/no/r"],
        "--ready-file {dir}/no/r: the folder {dir}/no does not exist; create it first",
    ),
    (["replay", "{missing}"], "cassette {missing}: no such file; record one with: socketdouble record"),
    (["replay", "{broken}"], "cassette {broken}, line 1, column 61: not valid JSON"),
    (["replay", "{dir}"], "cassette {dir}: is a directory"),
    (["replay", "{tcp}", "--listen", "/tmp/x.sock"], "--listen '/tmp/x.sock': a tcp address is HOST:PORT"),
    (["replay", "{tcp}", "--listen", "[::2]:0"], "--listen '[::2]:0' is not a loopback address"),
    (["replay", "{tcp}", "--ready-file", "{dir}"], "--ready-file {dir} is a directory"),
    (["show", "{missing}"], "cassette {missing}: no such file"),
    (["show", "{broken}"], "not valid JSON"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(argv) for argv, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_naming_it(
    argv: list[str], message: str, files: dict[str, str]
) -> None:
    result = run(*(arg.format(**files) for arg in argv))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"socketdouble {argv[0]}: ")
    assert message.format(**files) in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["record", "replay"])
def test_a_listen_address_in_use_exits_2(command: str, tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json")
    with sd.TCPServer() as upstream, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if command == "record":
            args = ["record", "--upstream", f"127.0.0.1:{upstream.port}", "--out", str(tmp_path / "new.json")]
        else:
            args = ["replay", str(cassette)]
        result = run(*args, "--listen", f"127.0.0.1:{port}")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"socketdouble {command}: --listen: port {port} on 127.0.0.1 is in use; pass port=0 for a free one\n"
    )
    assert not (tmp_path / "new.json").exists()


def test_an_upstream_host_that_cannot_be_looked_up_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process: a real lookup of a made-up name may wait on an unreachable DNS server.
    def lookup_fails(*args: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(Upstream, "connect", lookup_fails)
    with pytest.raises(BadInput) as failure:
        record._try_upstream("db.example:5432", "tcp", ("db.example", 5432))
    assert str(failure.value) == (
        "--upstream db.example:5432: cannot look its host up: Name or service not known; fix --upstream"
    )


def test_a_listen_path_too_long_exits_2(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", "unix")
    result = run("replay", str(cassette), "--listen", "/tmp/" + "x" * 200)
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        "--listen: path='/tmp/xxx" in result.stderr
        and "a Unix socket path must be under 108 bytes" in result.stderr
    )


def test_a_listen_path_that_exists_exits_2(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", "unix")
    (tmp_path / "taken").write_text("")
    result = run("replay", str(cassette), "--listen", str(tmp_path / "taken"))
    assert (result.returncode, result.stdout) == (2, "")
    assert f"--listen: path '{tmp_path / 'taken'}' already exists; remove it" in result.stderr


def test_the_ready_line_is_one_json_object(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", "unix")
    with started("replay", str(cassette), ready_file=tmp_path / "ready") as replay:
        line = json.loads((tmp_path / "ready").read_text())
        assert line == {"servers": {"replay": {"kind": "unix", "address": replay.address("replay")}}}
        replay.stop()
