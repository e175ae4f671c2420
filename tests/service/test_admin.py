"""The admin API over real HTTP, in process: every route, every refusal, a clean close."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from socketdouble.core.cassette import load
from socketdouble.service.admin import AdminAPI, message_json
from socketdouble.service.admin_http import AdminServer, AdminUnavailable, parse_admin_address
from socketdouble.service.config import parse_text
from socketdouble.service.served import ServedDoubles

TIMEOUT = 5.0


@dataclass
class Admin:
    doubles: ServedDoubles
    server: AdminServer
    shutdowns: list[bool] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        host, port = self.server.url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            connection.request(method, path, body=data)
            response = connection.getresponse()
            text = response.read().decode()
            kind = response.getheader("Content-Type", "")
        finally:
            connection.close()
        return response.status, json.loads(text) if kind == "application/json" else text

    def port(self, name: str) -> int:
        return int(self.doubles.get(name).server.address[1])


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    doubles = ServedDoubles(record_dir=tmp_path / "record")
    (tmp_path / "record").mkdir()
    config = parse_text(
        '[[servers]]\nname = "cache"\n[[servers.rules]]\nmatch = "PING\\n"\nreply = "PONG\\n"\n',
        is_json=False,
        base=tmp_path,
    )
    made: Admin | None = None
    try:
        for spec in config.servers:
            doubles.add(spec)
        shutdowns: list[bool] = []
        api = AdminAPI(doubles, lambda: shutdowns.append(True), base=tmp_path, seed=5)
        made = Admin(doubles, AdminServer(api, "127.0.0.1", 0), shutdowns)
        yield made
    finally:
        if made is not None:
            made.server.close()
        doubles.stop()
        doubles.close()


def talk(port: int, *messages: bytes, answers: int = 0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        for message in messages:
            client.sendall(message)
        received = b""
        while len(received.splitlines()) < answers and (chunk := client.recv(4096)):
            received += chunk
    return received


def test_health_and_the_list(admin: Admin) -> None:
    assert admin.call("GET", "/health") == (200, {"ok": True, "servers": 1})
    status, body = admin.call("GET", "/servers")
    assert status == 200
    cache = body["servers"]["cache"]
    assert cache["kind"] == "tcp" and cache["address"] == ["127.0.0.1", admin.port("cache")]
    assert (cache["requests"], cache["rules"], cache["faults"]) == (0, 1, [])
    assert cache["seed"] == admin.doubles.get("cache").server.seed
    assert admin.call("GET", "/servers/cache")[1] == cache


def test_requests_text_and_base64_and_the_transcript(admin: Admin) -> None:
    assert talk(admin.port("cache"), b"PING\n", b"\xff\x00\n", answers=1) == b"PONG\n"
    admin.doubles.get("cache").server.wait_for_requests(2)
    assert admin.call("GET", "/servers/cache/requests") == (
        200,
        [{"text": "PING\n"}, {"base64": base64.b64encode(b"\xff\x00\n").decode()}],
    )
    status, transcript = admin.call("GET", "/servers/cache/transcript")
    assert status == 200 and "transcript of cache" in transcript and "'PONG\\n'" in transcript


def test_rules_added_and_cleared_on_an_open_connection(admin: Admin) -> None:
    port = admin.port("cache")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        status, body = admin.call("POST", "/servers/cache/rules", {"prefix": "GET ", "reply": "VALUE\n"})
        assert status == 201 and body["rule"] == 2 and "prefix(b'GET ')" in body["description"]
        client.sendall(b"GET k\n")
        assert client.recv(100) == b"VALUE\n"
        assert admin.call("DELETE", "/servers/cache/rules") == (200, {"cleared": 2})
        admin.call("POST", "/servers/cache/rules", {"any": True, "reply_hex": "21 0a"})
        client.sendall(b"PING\n")  # the same connection: the new rules answer it
        assert client.recv(100) == b"!\n"


def test_a_bad_rule_is_a_400_naming_the_key(admin: Admin) -> None:
    assert admin.call("POST", "/servers/cache/rules", {"match": "x", "reply": 5}) == (
        400,
        {"error": "reply: expected a string, not 5"},
    )
    assert admin.call("POST", "/servers/cache/rules", raw=b"{") == (
        400,
        {
            "error": "the body is not JSON: line 1, column 2: Expecting property name enclosed in "
            "double quotes"
        },
    )
    assert admin.call("POST", "/servers/cache/rules")[0] == 400
    assert admin.call("POST", "/servers/cache/rules", [1])[1] == {"error": "expected a table, not a list"}


def test_faults_added_and_cleared(admin: Admin) -> None:
    status, body = admin.call("POST", "/servers/cache/faults", {"type": "latency", "seconds": 0.01})
    assert status == 201 and body["faults"] == 1 and "latency" in body["fault"]
    assert len(admin.doubles.get("cache").server.faults) == 1
    assert admin.call("POST", "/servers/cache/faults", {"type": "drop"})[0] == 400  # a datagram fault
    assert admin.call("DELETE", "/servers/cache/faults") == (200, {"cleared": 1})
    assert len(admin.doubles.get("cache").server.faults) == 0


def test_a_fault_added_acts_on_new_connections_until_cleared(admin: Admin) -> None:
    assert admin.call("POST", "/servers/cache/faults", {"type": "refuse"})[0] == 201
    # The reset may come while connect() is still returning, at the send or at the read.
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        talk(admin.port("cache"), b"PING\n", answers=1)
    admin.call("DELETE", "/servers/cache/faults")
    assert talk(admin.port("cache"), b"PING\n", answers=1) == b"PONG\n"
    admin.call("POST", "/servers/cache/reset")  # the refused connection is no failure of the client


def test_check_and_reset(admin: Admin) -> None:
    assert admin.call("GET", "/servers/cache/check") == (200, {"ok": True})
    talk(admin.port("cache"), b"NOPE\n")
    admin.doubles.get("cache").server.wait_for_requests(1)
    status, body = admin.call("GET", "/servers/cache/check")
    assert status == 409 and body["ok"] is False
    assert body["problems"][0].startswith("unmatched message on connection 1")
    assert admin.call("POST", "/servers/cache/reset") == (200, {"ok": True})
    assert admin.call("GET", "/servers/cache/check") == (200, {"ok": True})
    assert admin.call("GET", "/servers/cache/requests") == (200, [])


def test_wait_returns_when_the_requests_arrive(admin: Admin) -> None:
    answer: list[tuple[int, Any]] = []
    waiter = threading.Thread(
        target=lambda: answer.append(admin.call("POST", "/servers/cache/wait", {"count": 2, "timeout": 5}))
    )
    waiter.start()
    try:
        talk(admin.port("cache"), b"PING\n", b"PING\n", answers=2)
    finally:
        waiter.join(TIMEOUT)
    assert answer == [(200, [{"text": "PING\n"}, {"text": "PING\n"}])]
    assert admin.call("POST", "/servers/cache/wait", {"count": 0}) == (200, [])


def test_wait_times_out_with_408(admin: Admin) -> None:
    status, body = admin.call("POST", "/servers/cache/wait", {"count": 1, "timeout": 0.05})
    assert status == 408
    assert body == {"error": "waited 0.05s for 1 request(s) on cache, got 0", "requests": []}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, 'give {"count": n}: how many requests to wait for (and "timeout": seconds)'),
        ({"count": -1}, "count: expected an integer >= 0, not -1"),
        ({"count": 1, "timeout": "5"}, "timeout: expected a number, not '5'"),
        ({"count": 1, "timeout": 86400}, "timeout: 86400.0 is over 3600 seconds; wait again instead"),
        ({"count": 1, "timout": 1}, "timout: unknown key for a wait; did you mean 'timeout'?"),
    ],
)
def test_a_bad_wait_is_a_400(admin: Admin, body: dict[str, Any], error: str) -> None:
    assert admin.call("POST", "/servers/cache/wait", body) == (400, {"error": error})


def test_close_ends_a_wait_in_progress(admin: Admin) -> None:
    answer: list[tuple[int, Any]] = []
    waiter = threading.Thread(
        target=lambda: answer.append(admin.call("POST", "/servers/cache/wait", {"count": 1, "timeout": 60}))
    )
    waiter.start()
    server = admin.doubles.get("cache").server
    # The wait has registered when the recording counts a waiter (bounded: the wait is 60 s).
    deadline = time.monotonic() + TIMEOUT
    while server.recording._waiters == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    admin.server.close()
    waiter.join(TIMEOUT)
    assert time.monotonic() - started < 2.0
    assert answer == [(503, {"error": "the service is stopping"})]


def test_close_lets_a_silent_client_go(admin: Admin) -> None:
    host, port = admin.server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT):
        # Connected, nothing sent: the request thread waits for a request line.
        started = time.monotonic()
        admin.server.close()
        assert time.monotonic() - started < 2.0


def test_servers_added_and_removed(admin: Admin, tmp_path: Path) -> None:
    status, body = admin.call(
        "POST", "/servers", {"name": "echo", "kind": "udp", "rules": [{"any": True, "reply": "ok"}]}
    )
    assert status == 201
    assert body["name"] == "echo" and body["kind"] == "udp" and body["address"][0] == "127.0.0.1"
    assert admin.doubles.get("echo").server.seed == 5  # the service's seed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(TIMEOUT)
        client.sendto(b"hi", tuple(body["address"]))
        assert client.recv(10) == b"ok"
    status, body = admin.call("DELETE", "/servers/echo")
    assert status == 200 and body["ok"] is True and body["problems"] == []
    assert body["cassette"] == str(tmp_path / "record" / "echo.json")
    assert load(body["cassette"]).connections[0].client_turns() == [b"hi"]
    assert admin.call("GET", "/servers/echo")[0] == 404


def test_a_bad_server_is_a_400(admin: Admin) -> None:
    assert admin.call("POST", "/servers", {"name": "cache"}) == (
        400,
        {"error": "name: 'cache' is the name of a running server already"},
    )
    assert admin.call("POST", "/servers", {"name": "x", "host": "10.0.0.1"})[1]["error"].startswith(
        "host: '10.0.0.1' is not a loopback address"
    )
    assert admin.call("POST", "/servers", {"kind": "tcp"})[1]["error"].startswith("no name")


def test_a_replay_takes_no_rules(admin: Admin, tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        '{"socketdouble_cassette": 2, "kind": "tcp", "redact": [], "connections": []}'
    )
    assert admin.call("POST", "/servers", {"name": "r", "replay": "c.json"})[0] == 201
    status, body = admin.call("POST", "/servers/r/rules", {"any": True})
    assert status == 400 and "a ReplayServer answers from its cassette" in body["error"]


def test_unknown_servers_routes_and_methods(admin: Admin) -> None:
    assert admin.call("GET", "/servers/nope/requests") == (
        404,
        {"error": "no server named 'nope'; the servers: cache"},
    )
    assert admin.call("GET", "/nowhere")[0] == 404
    status, body = admin.call("GET", "/servers/cache/everything")
    assert status == 404 and "a server has requests, transcript, rules" in body["error"]
    assert admin.call("GET", "/servers/cache/rules") == (
        405,
        {"error": "GET /servers/cache/rules: use DELETE, POST"},
    )
    assert admin.call("BREW", "/health")[0] == 501  # http.server's own refusal, as JSON too


def test_bodies_that_are_too_big_or_chunked(admin: Admin) -> None:
    host, port = admin.server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        connection.putrequest("POST", "/servers/cache/rules")
        connection.putheader("Content-Length", str(1 << 30))
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            413,
            {"error": f"a body of {1 << 30} bytes; at most {1 << 20}"},
        )
    finally:
        connection.close()
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        connection.request("POST", "/servers/cache/rules", body=iter([b'{"any": true}']), encode_chunked=True)
        assert connection.getresponse().status == 411
    finally:
        connection.close()


def test_shutdown_asks_the_service_to_stop(admin: Admin) -> None:
    assert admin.call("POST", "/shutdown") == (202, {"ok": True, "stopping": True})
    assert admin.shutdowns == [True]


def test_message_json() -> None:
    assert message_json(b"caf\xc3\xa9\r\n") == {"text": "café\r\n"}
    assert message_json(b"\x00") == {"base64": "AA=="}


@pytest.mark.parametrize(
    ("text", "allow_remote", "expected"),
    [
        ("127.0.0.1:8080", False, ("127.0.0.1", 8080)),
        ("[::1]:0", False, ("::1", 0)),
        ("0.0.0.0:8080", True, ("0.0.0.0", 8080)),
    ],
)
def test_admin_addresses(text: str, allow_remote: bool, expected: tuple[str, int]) -> None:
    assert parse_admin_address(text, allow_remote) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("8080", "expected HOST:PORT, e.g. 127.0.0.1:8080"),
        ("localhost:8080", "'localhost' is not an IP address"),
        ("127.0.0.1:99999", "99999 is not a port"),
        ("0.0.0.0:8080", "0.0.0.0 is not a loopback address: anyone on the network could change the doubles"),
    ],
)
def test_bad_admin_addresses(text: str, error: str) -> None:
    with pytest.raises(AdminUnavailable, match=f"^{error}"):
        parse_admin_address(text, allow_remote=False)


def test_an_admin_port_in_use(admin: Admin) -> None:
    port = int(admin.server.url.rsplit(":", 1)[1])
    api = AdminAPI(admin.doubles, lambda: None, base=Path())
    with pytest.raises(AdminUnavailable, match=f"^port {port} on 127.0.0.1 is in use; pick another"):
        AdminServer(api, "127.0.0.1", port)
