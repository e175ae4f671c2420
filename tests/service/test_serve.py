"""``socketdouble serve`` as CI runs it: a subprocess, real clients, signals, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
from pathlib import Path

from socketdouble import ReplayServer, TCPServer
from socketdouble.core.cassette import load

from . import commands
from .serving import program, run_to_end, serving

TIMEOUT = 5.0

RESP = r"""
[[servers]]
name = "cache"
  [[servers.rules]]
  regex = '\A[*$][0-9]+\r\n\Z'   # RESP array and bulk-string headers: accepted, recorded
  [[servers.rules]]
  match = "PING\r\n"
  reply = "+PONG\r\n"
"""


def ask(port: int, message: bytes, answer_size: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        client.sendall(message)
        received = b""
        while len(received) < answer_size and (chunk := client.recv(4096)):
            received += chunk
    return received


def test_ready_line_and_file_then_sigterm_with_all_checks_passing(tmp_path: Path) -> None:
    text = (
        RESP + '[[servers]]\nname = "events"\nkind = "unix_dgram"\n[[servers]]\nname = "dns"\nkind = "udp"\n'
    )
    with serving(tmp_path, text) as service:
        servers = service.ready["servers"]
        assert list(servers) == ["cache", "events", "dns"]
        assert servers["cache"]["kind"] == "tcp" and servers["cache"]["address"][0] == "127.0.0.1"
        assert isinstance(servers["events"]["address"], str)  # a Unix server's address is its path
        assert "admin" not in service.ready
        assert ask(service.port("cache"), b"PING\r\n", 7) == b"+PONG\r\n"
        assert service.stop(signal.SIGTERM) == 0
    first_line, rest = service.stdout.split("\n", 1)
    assert json.loads(first_line) == service.ready  # stdout's ready line is the file's
    assert "socketdouble serve: stopped (SIGTERM)" in rest
    assert "cache: ok, 1 request(s) on 1 connection(s)" in rest
    assert rest.rstrip().endswith("socketdouble serve: all checks passed")
    assert not service.ready_file.exists()  # withdrawn: nothing listens there any more
    assert service.stderr == ""


def test_sigint_with_an_unmatched_request_exits_1(tmp_path: Path) -> None:
    with serving(tmp_path, RESP) as service:
        ask(service.port("cache"), b"FLUSHALL\r\n", 0)
        assert service.stop(signal.SIGINT) == 1
    assert "socketdouble serve: stopped (SIGINT)" in service.stdout
    assert "cache: FAILED, 1 problem(s)\n1. unmatched message on connection 1" in service.stdout
    assert "b'FLUSHALL\\r\\n'" in service.stdout
    assert "transcript of cache" in service.stdout
    assert service.stdout.rstrip().endswith("socketdouble serve: some checks failed")
    assert "Traceback" not in service.stderr


def test_an_unused_expectation_fails_the_run(tmp_path: Path) -> None:
    text = '[[servers]]\nname = "s"\n[[servers.rules]]\nmatch = "HELLO\\n"\ntimes = 1\n'
    with serving(tmp_path, text) as service:
        assert service.stop() == 1
    assert "expected rule not used enough: rule 1: on(b'HELLO\\n', times=1 (used 0))" in service.stdout


def test_redis_cli_against_a_resp_double(tmp_path: Path) -> None:
    redis_cli = program("redis-cli")
    with serving(tmp_path, RESP) as service:
        result = subprocess.run(
            [redis_cli, "-h", "127.0.0.1", "-p", str(service.port("cache")), "PING"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert (result.returncode, result.stdout) == (0, "PONG\n")
        assert service.stop() == 0
    assert "cache: ok, 3 request(s) on 1 connection(s)" in service.stdout


def test_cassettes_in_the_record_dir_replay(tmp_path: Path) -> None:
    record = tmp_path / "record"
    with serving(tmp_path, RESP, "--record-dir", str(record)) as service:
        assert ask(service.port("cache"), b"*1\r\n$4\r\nPING\r\n", 7) == b"+PONG\r\n"
        assert service.stop() == 0
    assert f"cache: cassette written to {record / 'cache.json'}" in service.stdout
    cassette = load(record / "cache.json")
    assert cassette.kind == "tcp"
    assert cassette.connections[0].client_turns() == [b"*1\r\n$4\r\nPING\r\n"]
    with ReplayServer(record / "cache.json") as replay:
        assert ask(replay.port or 0, b"*1\r\n$4\r\nPING\r\n", 7) == b"+PONG\r\n"
    replay.check()
    shown = commands.run("show", str(record / "cache.json"))
    assert shown.returncode == 0 and "PING" in shown.stdout and "+PONG" in shown.stdout, shown


def test_tls_writes_its_ca_beside_the_ready_file(tmp_path: Path) -> None:
    text = (
        '[[servers]]\nname = "secure"\nkind = "tls"\n[[servers.rules]]\nmatch = "hi\\n"\nreply = "hello\\n"\n'
    )
    with serving(tmp_path, text) as service:
        entry = service.ready["servers"]["secure"]
        assert entry["ca_file"] == str(tmp_path / "ready-ca.pem")
        context = ssl.create_default_context(cafile=entry["ca_file"])
        with (
            socket.create_connection(service.address("secure"), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as client,
        ):
            client.sendall(b"hi\n")
            assert client.recv(100) == b"hello\n"
        assert service.stop() == 0
    assert not (tmp_path / "ready-ca.pem").exists()


def test_a_recording_proxy_writes_a_cassette(tmp_path: Path) -> None:
    with TCPServer() as upstream:
        upstream.on(b"GET a\n").reply(b"1\n")
        text = f'[[servers]]\nname = "db"\nproxy = "127.0.0.1:{upstream.port}"\n'
        with serving(tmp_path, text, "--record-dir", str(tmp_path)) as service:
            assert ask(service.port("db"), b"GET a\n", 2) == b"1\n"
            assert service.stop() == 0
    upstream.check()
    turns = load(tmp_path / "db.json").connections[0].events
    assert [(e.side, getattr(e, "payload", None)) for e in turns][:2] == [
        ("client", b"GET a\n"),
        ("server", b"1\n"),
    ]


def test_a_proxy_that_recorded_nothing_writes_nothing(tmp_path: Path) -> None:
    text = '[[servers]]\nname = "db"\nproxy = "127.0.0.1:9"\n'
    with serving(tmp_path, text, "--record-dir", str(tmp_path)) as service:
        assert service.stop() == 1
    assert f"cassette {tmp_path / 'db.json'} not written: nothing connected to the proxy" in service.stdout
    assert not (tmp_path / "db.json").exists()


def test_a_replay_from_a_cassette_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "cassettes").mkdir()
    (tmp_path / "cassettes" / "pay.json").write_text(
        json.dumps(
            {
                "socketdouble_cassette": 2,
                "kind": "tcp",
                "redact": [],
                "connections": [
                    {
                        "opened": 0.0,
                        "events": [
                            {"t": 0.0, "from": "client", "data": "charge 5\n"},
                            {"t": 0.001, "from": "server", "data": "ok\n"},
                        ],
                    }
                ],
            }
        )
    )
    with serving(tmp_path, '[[servers]]\nname = "pay"\nreplay = "cassettes/pay.json"\n') as service:
        assert ask(service.port("pay"), b"charge 5\n", 3) == b"ok\n"
        assert service.stop() == 0


def test_json_doubles_file(tmp_path: Path) -> None:
    document = {"servers": [{"name": "s", "rules": [{"match": "a\n", "reply": "b\n"}]}]}
    with serving(tmp_path, json.dumps(document), suffix=".json") as service:
        assert ask(service.port("s"), b"a\n", 2) == b"b\n"


def test_curl_drives_the_admin_api(tmp_path: Path) -> None:
    curl = program("curl")

    def call(*args: str) -> tuple[str, str]:
        result = subprocess.run(
            [curl, "-sS", "-w", "\n%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        body, code = result.stdout.rsplit("\n", 1)
        return code, body.rstrip("\n")

    text = "servers = []\n"  # everything comes through the API, as in a CI service container
    with serving(tmp_path, text, "--admin", "127.0.0.1:0") as service:
        admin = service.admin
        assert service.ready == {"servers": {}, "admin": admin}
        assert call(f"{admin}/health") == ("200", '{"ok": true, "servers": 0}')
        code, body = call(
            "-X", "POST", f"{admin}/servers", "-d", '{"name": "cache", "rules": [{"any": true}]}'
        )
        assert code == "201"
        port = json.loads(body)["address"][1]
        assert call("-X", "DELETE", f"{admin}/servers/cache/rules") == ("200", '{"cleared": 1}')
        assert (
            call(
                "-X", "POST", f"{admin}/servers/cache/rules", "-d", '{"match": "PING\\n", "reply": "PONG\\n"}'
            )[0]
            == "201"
        )
        assert ask(port, b"PING\n", 5) == b"PONG\n"
        assert call("-X", "POST", f"{admin}/servers/cache/wait", "-d", '{"count": 1, "timeout": 5}') == (
            "200",
            '[{"text": "PING\\n"}]',
        )
        assert call(f"{admin}/servers/cache/check") == ("200", '{"ok": true}')
        assert call(f"{admin}/servers/nope/check")[0] == "404"
        assert call("-X", "POST", f"{admin}/shutdown") == ("202", '{"ok": true, "stopping": true}')
        assert service.wait() == 0
    assert "socketdouble serve: stopped (shutdown requested)" in service.stdout


# -- every way serve refuses to start: exit 2, one line on stderr, no traceback ---------------------


def refused(tmp_path: Path, text: str | None, *args: str, name: str = "doubles.toml") -> str:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    result = run_to_end(str(path), *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n").replace(str(tmp_path), "TMP")


def test_a_bad_value_names_its_key_path(tmp_path: Path) -> None:
    text = (
        '[[servers]]\nname = "s"\n[[servers.rules]]\nany = true\n[[servers.rules]]\nmatch = "a"\nreply = 5\n'
    )
    assert refused(tmp_path, text) == (
        "socketdouble serve: TMP/doubles.toml: servers[0].rules[1].reply: expected a string, not 5"
    )


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    assert refused(tmp_path, '[[servers]]\nname = "s"\nport = = 1\n') == (
        "socketdouble serve: TMP/doubles.toml: line 3, column 8: Invalid value"
    )


def test_a_json_syntax_error_names_its_line(tmp_path: Path) -> None:
    assert refused(tmp_path, '{"servers": [\n}', name="d.json") == (
        "socketdouble serve: TMP/d.json: line 2, column 1: Expecting value"
    )


def test_an_unreadable_file(tmp_path: Path) -> None:
    assert refused(tmp_path, None, name="missing.toml") == (
        "socketdouble serve: TMP/missing.toml: cannot read it: No such file or directory"
    )


def test_a_missing_cassette(tmp_path: Path) -> None:
    assert refused(tmp_path, '[[servers]]\nname = "r"\nreplay = "gone.json"\n') == (
        "socketdouble serve: TMP/doubles.toml: servers[0].replay: cassette TMP/gone.json: no such file"
    )


def test_an_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = f'[[servers]]\nname = "a"\n[[servers]]\nname = "b"\nport = {port}\n'
        assert refused(tmp_path, text) == (
            f"socketdouble serve: TMP/doubles.toml: servers[1]: port {port} on 127.0.0.1 is in use; "
            "pass port=0 for a free one"
        )


def test_a_remote_host_without_allow_remote(tmp_path: Path) -> None:
    assert refused(tmp_path, '[[servers]]\nname = "s"\nhost = "0.0.0.0"\n').startswith(
        "socketdouble serve: TMP/doubles.toml: servers[0].host: '0.0.0.0' is not a loopback address"
    )


def test_a_remote_admin_without_allow_remote(tmp_path: Path) -> None:
    assert refused(tmp_path, RESP, "--admin", "0.0.0.0:8080") == (
        "socketdouble serve: --admin 0.0.0.0:8080: 0.0.0.0 is not a loopback address: anyone on the network "
        "could change the doubles; pass --allow-remote if that is what you want"
    )


def test_a_malformed_admin_address(tmp_path: Path) -> None:
    assert refused(tmp_path, RESP, "--admin", "8080") == (
        "socketdouble serve: --admin 8080: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)"
    )


def test_an_admin_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert refused(tmp_path, RESP, "--admin", f"127.0.0.1:{port}") == (
            f"socketdouble serve: --admin 127.0.0.1:{port}: port {port} on 127.0.0.1 is in use; "
            "pick another, or 0 for a free one"
        )


def test_no_servers_and_no_admin(tmp_path: Path) -> None:
    assert refused(tmp_path, "servers = []\n") == (
        "socketdouble serve: TMP/doubles.toml: servers: no servers; declare [[servers]], "
        "or pass --admin HOST:PORT to add them later"
    )


def test_a_proxy_without_a_record_dir(tmp_path: Path) -> None:
    assert refused(tmp_path, '[[servers]]\nname = "db"\nproxy = "127.0.0.1:5432"\n') == (
        "socketdouble serve: TMP/doubles.toml: servers[0].proxy: a recording proxy writes its cassette to "
        "--record-dir DIR; pass it, or replay instead"
    )


def test_a_ready_file_in_a_missing_folder(tmp_path: Path) -> None:
    ready = tmp_path / "no" / "ready.json"
    assert refused(tmp_path, RESP, "--ready-file", str(ready)) == (
        "socketdouble serve: --ready-file TMP/no/ready.json: its folder TMP/no does not exist"
    )


def test_a_record_dir_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert refused(tmp_path, RESP, "--record-dir", str(tmp_path / "file" / "dir")) == (
        "socketdouble serve: --record-dir TMP/file/dir: cannot make it: Not a directory"
    )


def test_faults_from_the_file_act_with_the_file_seed(tmp_path: Path) -> None:
    text = (
        'seed = 7\n[[servers]]\nname = "dns"\nkind = "udp"\n[[servers.rules]]\nany = true\nreply = "r"\n'
        '[[servers.faults]]\ntype = "duplicate"\ncopies = 1\n'
    )
    with serving(tmp_path, text) as service, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(TIMEOUT)
        client.sendto(b"q", service.address("dns"))
        assert [client.recv(10), client.recv(10)] == [b"r", b"r"]  # the reply, and its duplicate
        assert service.stop() == 0
    assert "dns: ok, 1 request(s) on 1 connection(s), faults seeded with 7" in service.stdout
