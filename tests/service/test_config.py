"""The doubles file: what it may say, and every way it can be wrong, named by key path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socketdouble.core.cassette import Cassette, DataEvent, RecordedConnection, save
from socketdouble.core.framing import LengthPrefixed, Lines, Raw
from socketdouble.core.http_framing import HttpRequests
from socketdouble.core.matchers import ANY, Exact, Prefix, Regex
from socketdouble.service.config import Config, ConfigError, load, parse_text


def parsed(text: str, base: Path = Path("/nowhere"), *, allow_remote: bool = False) -> Config:
    return parse_text(text, is_json=False, base=base, allow_remote=allow_remote)


def problem(text: str, base: Path = Path("/nowhere")) -> str:
    with pytest.raises(ConfigError) as caught:
        parsed(text, base)
    return str(caught.value)


def test_a_server_with_rules_a_greeting_and_framing() -> None:
    config = parsed(
        r"""
        seed = 7
        [[servers]]
        name = "cache"
        framing = {lines = {delimiter = "\r\n"}}
        greeting = "220 ready\r\n"
          [[servers.rules]]
          match = "PING\r\n"
          reply = "+PONG\r\n"
          times = 2
          [[servers.rules]]
          prefix_hex = "00 ff"
          reply_hex = "de:ad be ef"
          close = true
          [[servers.rules]]
          regex = '\AGET \w+'
          [[servers.rules]]
          any = true
        """
    )
    assert config.seed == 7
    (spec,) = config.servers
    assert (spec.name, spec.kind, spec.role, spec.greeting) == ("cache", "tcp", "rules", b"220 ready\r\n")
    assert spec.options["seed"] == 7
    assert spec.options["host"] == "127.0.0.1" and spec.options["port"] == 0
    framing = spec.options["framing"]
    assert isinstance(framing, Lines) and framing.delimiter == b"\r\n"
    first, second, third, fourth = spec.rules
    assert isinstance(first.matcher, Exact) and first.matcher.expected == b"PING\r\n"
    assert (first.reply, first.times, first.close) == (b"+PONG\r\n", 2, False)
    assert isinstance(second.matcher, Prefix) and second.matcher.start == b"\x00\xff"
    assert (second.reply, second.close) == (b"\xde\xad\xbe\xef", True)
    assert isinstance(third.matcher, Regex) and third.matcher(b"GET key\r\n")
    assert third.reply is None
    assert fourth.matcher is ANY


def test_strings_are_their_utf8_bytes() -> None:
    (spec,) = parsed(
        '[[servers]]\nname = "s"\n[[servers.rules]]\nmatch = "caf\\u00e9"\nreply = "\\t"\n'
    ).servers
    assert spec.rules[0].matcher(b"caf\xc3\xa9")
    assert spec.rules[0].reply == b"\t"


@pytest.mark.parametrize(
    ("framing", "kind"),
    [
        ('"lines"', Lines),
        ('"raw"', Raw),
        ('"http"', HttpRequests),
        ('"length_prefixed"', LengthPrefixed),
        ('{length_prefixed = {size = 2, byteorder = "little"}}', LengthPrefixed),
        ('{lines = {delimiter_hex = "00", max_length = 64}}', Lines),
        ("{http = {max_head = 100}}", HttpRequests),
    ],
)
def test_every_framing(framing: str, kind: type) -> None:
    (spec,) = parsed(f'[[servers]]\nname = "s"\nframing = {framing}\n').servers
    assert isinstance(spec.options["framing"], kind)


def test_a_script() -> None:
    (spec,) = parsed(
        '[[servers]]\nname = "smtp"\nscript = [{send = "220 hi\\r\\n"}, {expect_prefix = "EHLO "}, '
        '{sleep = 0.5}, {expect_any = true}, {send_hex = "00"}, {close = true}]\n'
    ).servers
    assert spec.script is not None
    assert [type(step).__name__ for step in spec.script.steps] == [
        "Send",
        "Expect",
        "Sleep",
        "Expect",
        "Send",
        "Close",
    ]


def test_each_kind_listens_where_it_should() -> None:
    config = parsed(
        """
        [[servers]]
        name = "a"
        kind = "udp"
        host = "::1"
        port = 5353
        [[servers]]
        name = "b"
        kind = "unix"
        path = "sockets/b.sock"
        [[servers]]
        name = "c"
        kind = "unix_dgram"
        [[servers]]
        name = "d"
        kind = "tls"
        client_auth = true
        """,
        Path("/base"),
    )
    a, b, c, d = config.servers
    assert (a.options["host"], a.options["port"]) == ("::1", 5353)
    assert b.options == {"path": "/base/sockets/b.sock"}  # relative to the file's folder
    assert c.options == {}
    assert d.kind == "tls" and d.options["client_auth"] is True


def test_a_non_loopback_host_needs_allow_remote() -> None:
    text = '[[servers]]\nname = "s"\nhost = "0.0.0.0"\n'
    assert problem(text).startswith("servers[0].host: '0.0.0.0' is not a loopback address")
    assert "--allow-remote" in problem(text)
    (spec,) = parsed(text, allow_remote=True).servers
    assert spec.options["allow_remote"] is True


def test_seed_per_server_wins(tmp_path: Path) -> None:
    config = parsed('seed = 3\n[[servers]]\nname = "a"\n[[servers]]\nname = "b"\nseed = 9\n')
    assert [spec.options["seed"] for spec in config.servers] == [3, 9]
    server = config.servers[1].build()
    assert server.seed == 9


def test_json_has_the_same_schema(tmp_path: Path) -> None:
    path = tmp_path / "doubles.json"
    document = {"servers": [{"name": "s", "rules": [{"match": "a\n", "reply_hex": "0a"}]}]}
    path.write_text(json.dumps(document))
    (spec,) = load(path).servers
    assert spec.rules[0].reply == b"\n"
    assert load(path).base == tmp_path


def test_a_replay_reads_its_cassette_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "cassettes").mkdir()
    save(
        Cassette("udp", [RecordedConnection(0.0, [DataEvent(0.0, "client", b"q")])]),
        tmp_path / "cassettes/x.json",
    )
    (tmp_path / "d.toml").write_text(
        '[[servers]]\nname = "x"\nreplay = "cassettes/x.json"\nmatch = "first_request"\n'
    )
    (spec,) = load(tmp_path / "d.toml").servers
    assert (spec.role, spec.kind, spec.options["match"]) == ("replay", "udp", "first_request")
    kind_mismatch = '[[servers]]\nname = "x"\nreplay = "cassettes/x.json"\nkind = "tcp"\n'
    assert problem(kind_mismatch, tmp_path).startswith("servers[0].kind: 'tcp', but cassette")


def test_a_proxy_takes_host_port_or_a_path() -> None:
    tcp, unix, v6 = parsed(
        '[[servers]]\nname = "a"\nproxy = "127.0.0.1:5432"\nredact = ["secret"]\n'
        '[[servers]]\nname = "b"\nproxy = "run/db.sock"\n'
        '[[servers]]\nname = "c"\nproxy = "[::1]:53"\nkind = "udp"\nconnect_timeout = 2\n',
        Path("/base"),
    ).servers
    assert (tcp.kind, tcp.upstream, tcp.options["redact"]) == ("tcp", ("127.0.0.1", 5432), ["secret"])
    assert (unix.kind, unix.upstream) == ("unix", "/base/run/db.sock")
    assert (v6.kind, v6.upstream, v6.options["connect_timeout"]) == ("udp", ("::1", 53), 2.0)


def test_faults_by_name_with_their_keywords() -> None:
    (spec,) = parsed(
        '[[servers]]\nname = "s"\n[[servers.faults]]\ntype = "latency"\nseconds = 0.2\nconnections = [1, 3]\n'
    ).servers
    (fault,) = spec.faults
    assert fault.name == "latency" and dict(fault.params)["seconds"] == 0.2
    assert fault.connections == frozenset({1, 3})


R = '[[servers]]\nname = "s"\n'  # a server to hang the cases below on


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the file as a whole
        ('servers = "x"\n', "servers: expected a list of tables, not 'x'"),
        ("sed = 1\n", "sed: unknown key for the file; did you mean 'seed'?"),
        ("seed = -1\n", "seed: expected an integer >= 0, not -1"),
        ('seed = "7"\n', "seed: expected an integer, not '7'"),
        ("servers = [1]\n", "servers[0]: expected a table, not 1"),
        # a server
        ("[[servers]]\nkind = 'tcp'\n", 'servers[0]: no name: every server needs name = "..."'),
        ("[[servers]]\nname = 'a b'\n", "servers[0].name: 'a b': use letters, digits"),
        (R + R, "servers[1].name: 's' is also the name of servers[0]"),
        (R + "prot = 1\n", "servers[0].prot: unknown key for a server; did you mean 'port'?"),
        (R + "kind = 'sctp'\n", "servers[0].kind: 'sctp' is not one of tcp, udp, unix, unix_dgram, tls"),
        (R + "host = 'localhost'\n", "servers[0].host: 'localhost' is not an IP address"),
        (R + "port = 70000\n", "servers[0].port: 70000 is not a port"),
        (R + "port = -1\n", "servers[0].port: expected an integer >= 0, not -1"),
        (R + "port = true\n", "servers[0].port: expected an integer, not true"),
        (R + "path = 'x'\n", "servers[0].path: a tcp server listens on host and port"),
        (R + "kind = 'unix'\nport = 1\n", "servers[0].port: a unix server listens on a socket path"),
        (R + "kind = 'udp'\nframing = 'raw'\n", "servers[0].framing: a udp server gets whole datagrams"),
        (
            R + "kind = 'udp'\ngreeting = 'hi'\n",
            "servers[0].greeting: a udp server has no connections to greet",
        ),
        (
            R + "greeting = 'a'\ngreeting_hex = '00'\n",
            "servers[0].greeting_hex: give greeting or greeting_hex, not both",
        ),
        (
            R + "framing = 'json'\n",
            "servers[0].framing: 'json' is not one of lines, raw, http, length_prefixed",
        ),
        (
            R + "framing = {lines = {delim = 'x'}}\n",
            "servers[0].framing.lines.delim: unknown key for lines framing",
        ),
        (
            R + "framing = {length_prefixed = {size = 3}}\n",
            "servers[0].framing.length_prefixed: length_prefixed(size=3)",
        ),
        (
            R + "framing = {lines = {delimiter_hex = 'zz'}}\n",
            "servers[0].framing.lines.delimiter_hex: expected hex digits",
        ),
        (R + "framing = {lines = {}, raw = {}}\n", 'servers[0].framing: expected "lines", "raw"'),
        (R + "concurrency = 'async'\n", "servers[0].concurrency: 'async' is not one of thread, serial, fork"),
        (R + "client_auth = true\n", 'servers[0].client_auth: client certificates need kind = "tls"'),
        (R + "rules = {match = 'x'}\n", "servers[0].rules: expected a list of tables, not a table"),
        # rules
        (
            R + "[[servers.rules]]\nmatch = 'a'\n[[servers.rules]]\nmatch = 'b'\nreply = 5\n",
            "servers[0].rules[1].reply: expected a string, not 5",
        ),
        (
            R + "[[servers.rules]]\nreply = 'x'\n",
            "servers[0].rules[0]: a rule needs what it matches: one of match, match_hex",
        ),
        (
            R + "[[servers.rules]]\nmatch = 'a'\nprefix = 'b'\n",
            "servers[0].rules[0].prefix: a rule takes one matcher, and match is given too",
        ),
        (
            R + "[[servers.rules]]\nany = false\n",
            "servers[0].rules[0].any: expected true (match every message), not false",
        ),
        (
            R + "[[servers.rules]]\nregex = '('\n",
            "servers[0].rules[0].regex: regex(b'(') is not a valid bytes pattern",
        ),
        (
            R + "[[servers.rules]]\nany = true\ntimes = 0\n",
            "servers[0].rules[0].times: expected an integer >= 1, not 0",
        ),
        (
            R + "[[servers.rules]]\nany = true\ndelay = -1\n",
            "servers[0].rules[0].delay: expected a number >= 0, not -1",
        ),
        (
            R + "[[servers.rules]]\nany = true\nclose = 'yes'\n",
            "servers[0].rules[0].close: expected true or false, not 'yes'",
        ),
        (
            R + "[[servers.rules]]\nany = true\nreset = true\nclose = true\n",
            "servers[0].rules[0].close: a rule ends the connection by a reset or a close, not both",
        ),
        (
            R + "[[servers.rules]]\nany = true\ndelay = 1\n",
            "servers[0].rules[0].delay: delay is how long the reply waits: give reply (or reply_hex) too",
        ),
        (
            R + "[[servers.rules]]\nany = true\nrepyl = 'x'\n",
            "servers[0].rules[0].repyl: unknown key for a rule; did you mean 'reply'?",
        ),
        (
            R + "[[servers.rules]]\nmatch_hex = '0'\n",
            "servers[0].rules[0].match_hex: expected hex digits like '2b 50 4f 4e 47 0d 0a': an odd number",
        ),
        # scripts
        (R + "script = 'send'\n", "servers[0].script: expected a list of steps"),
        (R + "script = [{send = 'a', expect = 'b'}]\n", "servers[0].script[0]: a step does one thing"),
        (R + "script = [{}]\n", "servers[0].script[0]: a step does one thing"),
        (R + "script = [{close = false}]\n", "servers[0].script[0].close: expected true, not false"),
        (R + "script = [{sleep = -1.0}]\n", "servers[0].script[0].sleep: expected a number >= 0"),
        (
            R + "script = [{expect = 'a', expect_hex = '61'}]\n",
            "servers[0].script[0].expect_hex: an expect step takes one matcher",
        ),
        (R + "script = [{wait = 1}]\n", "servers[0].script[0].wait: unknown key for a script step"),
        # replays and proxies
        (
            "[[servers]]\nname = 'r'\nreplay = 'missing.json'\n",
            "servers[0].replay: cassette /nowhere/missing.json: no such file",
        ),
        ("[[servers]]\nname = 'r'\nreplay = 1\n", "servers[0].replay: expected a string, not 1"),
        (
            "[[servers]]\nname = 'r'\nreplay = 'x'\nproxy = 'y'\n",
            "servers[0].proxy: a server replays a cassette or proxies an upstream, not both",
        ),
        (
            "[[servers]]\nname = 'r'\nreplay = 'x'\nrules = []\n",
            "servers[0].rules: a replay answers from its cassette, so it takes no rules",
        ),
        (
            "[[servers]]\nname = 'p'\nproxy = 'x'\ngreeting = 'hi'\n",
            "servers[0].greeting: a recording proxy forwards every byte",
        ),
        (
            "[[servers]]\nname = 'p'\nproxy = 'db:5432:1'\n",
            "servers[0].proxy: 'db:5432:1': expected \"HOST:PORT\"",
        ),
        (
            "[[servers]]\nname = 'p'\nproxy = '127.0.0.1:0'\n",
            "servers[0].proxy: '127.0.0.1:0': port 0 is not in 1..65535",
        ),
        ("[[servers]]\nname = 'p'\nproxy = ''\n", 'servers[0].proxy: expected "HOST:PORT" or a socket path'),
        (
            "[[servers]]\nname = 'p'\nproxy = 'h:1'\nredact = 'x'\n",
            "servers[0].redact: expected a list of strings, not 'x'",
        ),
        (
            "[[servers]]\nname = 'p'\nproxy = 'h:1'\nkind = 'tls'\n",
            "servers[0].kind: 'tls' is not one of tcp, udp, unix, unix_dgram",
        ),
        # faults
        (
            R + "[[servers.faults]]\nseconds = 1\n",
            'servers[0].faults[0]: no type: give type = "NAME", one of bandwidth, blackhole',
        ),
        (
            R + "[[servers.faults]]\ntype = 'lag'\n",
            "servers[0].faults[0].type: 'lag' is not a fault; choose one of bandwidth",
        ),
        (
            R + "[[servers.faults]]\ntype = 'latency'\nsecs = 1\n",
            "servers[0].faults[0].secs: unknown keyword for latency; it takes seconds, jitter",
        ),
        (R + "[[servers.faults]]\ntype = 'latency'\n", "servers[0].faults[0]: latency needs seconds = ..."),
        (
            R + "[[servers.faults]]\ntype = 'latency'\nseconds = -1\n",
            "servers[0].faults[0]: latency(seconds=-1)",
        ),
        (
            R + "[[servers.faults]]\ntype = 'drop'\n",
            "servers[0].faults[0]: drop(1.0, burst=1) given to a tcp server: drop() acts on UDP",
        ),
    ],
)
def test_every_problem_names_its_key_path(text: str, expected: str) -> None:
    assert problem(text).startswith(expected)


def test_syntax_errors_name_their_line(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('[[servers]]\nname = "a"\nport = \n')
    with pytest.raises(ConfigError, match=r"^line 3, column 8: Invalid value$"):
        load(toml)
    unfinished = tmp_path / "unfinished.toml"
    unfinished.write_text('name = "a')
    with pytest.raises(ConfigError, match=r"^line 1, at the end: Unterminated string$"):
        load(unfinished)
    broken_json = tmp_path / "bad.json"
    broken_json.write_text('{"servers": [\n  {"name": "a"},\n]}')
    with pytest.raises(ConfigError, match=r"^line 3, column 1: Expecting value$"):
        load(broken_json)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'seed = 1\nname = "\xff"\n')
    with pytest.raises(ConfigError, match=r"^line 2: byte 0xff is not UTF-8 text$"):
        load(binary)


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read it: No such file or directory$"):
        load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"^cannot read it: Is a directory$"):
        load(tmp_path)
