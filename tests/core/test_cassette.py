from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketdouble import ConfigurationError
from socketdouble.core import cassette_codec
from socketdouble.core.cassette import (
    Cassette,
    CassetteError,
    CloseEvent,
    DataEvent,
    RecordedConnection,
    Redactor,
    dumps,
    load,
    loads,
    save,
)

POSTGRES_QUERY = b"Q\x00\x00\x00\x1eSELECT name FROM users\x00"


def sample() -> Cassette:
    return Cassette(
        "tcp",
        [
            RecordedConnection(
                0.25,
                [
                    DataEvent(0.0, "server", b"220 ready\r\n"),
                    DataEvent(0.001, "client", b"PING\r\n"),
                    DataEvent(0.002, "server", b"\x00\xff\x01\x02binary"),
                    DataEvent(0.0025, "client", POSTGRES_QUERY),
                    CloseEvent(0.003, "client", "fin"),
                    CloseEvent(0.004, "server", "reset"),
                ],
            ),
            RecordedConnection(0.5, []),
        ],
        [rb"token=\w+"],
    )


def test_round_trip_and_deterministic_text() -> None:
    text = dumps(sample())
    assert loads(text) == sample()
    assert dumps(loads(text)) == text
    assert text.startswith('{\n  "socketdouble_cassette": 3,\n')
    assert '"data": "PING\\r\\n"' in text  # text as text
    assert '"base64": "AP8BAmJpbmFyeQ=="' in text  # mostly binary: base64
    assert '"escaped": "Q\\\\x00\\\\x00\\\\x00\\\\x1eSELECT name FROM users\\\\x00"' in text
    assert len(text.splitlines()) == 17  # one event a line: diffs stay small


def test_the_words_of_a_binary_protocol_can_be_grepped_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pg.json"
    save(sample(), path)
    assert b"SELECT name FROM users" in path.read_bytes()


payloads = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=32).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from([b"\\", b"\\x41", b"SELECT ", b"\x00", b"\x7f", b"\xff", b"\r\n"])).map(
        b"".join
    ),
)


@given(st.lists(st.tuples(st.sampled_from(["client", "server"]), payloads), max_size=8))
def test_every_payload_round_trips_exactly(turns: list[tuple[Any, bytes]]) -> None:
    cassette = Cassette(
        "tcp", [RecordedConnection(0.0, [DataEvent(0.5, side, data) for side, data in turns])]
    )
    text = dumps(cassette)
    assert loads(text) == cassette
    assert dumps(loads(text)) == text


def test_version_1_files_are_still_read() -> None:
    text = """{
      "socketdouble_cassette": 1, "kind": "udp", "redact": [],
      "connections": [{"opened": 0, "events": [
        {"t": 0.1, "from": "client", "data": "hi"}, {"t": 0.2, "from": "server", "base64": "AP8="}
      ]}]
    }"""
    cassette = loads(text)
    assert cassette.datagram
    assert cassette.connections[0].events == [
        DataEvent(0.1, "client", b"hi"),
        DataEvent(0.2, "server", b"\x00\xff"),
    ]
    assert '"socketdouble_cassette": 3' in dumps(cassette)  # written back as the current version


def test_connections_keep_their_ip_endpoints_on_one_line() -> None:
    cassette = Cassette(
        "tcp",
        [
            RecordedConnection(
                0.0, [DataEvent(0.1, "client", b"hi")], ("127.0.0.1", 50412), ("127.0.0.1", 6379)
            ),
            RecordedConnection(0.2, [], ("::1", 1), None),  # the upstream's address unknown
            RecordedConnection(0.3, []),
        ],
    )
    text = dumps(cassette)
    assert (
        '    {"opened": 0.0, "client": ["127.0.0.1", 50412], "server": ["127.0.0.1", 6379], "events": ['
        in text
    )
    assert '    {"opened": 0.2, "client": ["::1", 1], "events": [' in text
    assert '    {"opened": 0.3, "events": [' in text
    assert loads(text) == cassette
    assert dumps(loads(text)) == text


def test_addresses_are_read_as_ipaddress_writes_them() -> None:
    [connection] = loads(connection_text('"client": ["0::1", 53]', kind="udp")).connections
    assert connection.client == ("::1", 53)


def test_version_2_files_are_read_without_addresses() -> None:
    text = '{"socketdouble_cassette": 2, "kind": "tcp", "connections": [{"opened": 1, "events": []}]}'
    [connection] = loads(text).connections
    assert (connection.client, connection.server) == (None, None)


def test_save_is_atomic_and_load_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "c.json"
    save(sample(), path)
    assert load(path) == sample()
    assert [p.name for p in path.parent.iterdir()] == ["c.json"]


def test_threads_saving_one_path_at_once_never_share_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    writers = 4
    # Every writer has written its temporary file before any of them renames it.
    all_written = threading.Barrier(writers, timeout=10)
    real_replace = os.replace
    sources: list[str] = []

    def replace(source: str, target: str) -> None:
        sources.append(source)
        all_written.wait()
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    cassettes = [Cassette("tcp", [RecordedConnection(float(n), [])]) for n in range(writers)]
    errors: list[BaseException] = []

    def write(cassette: Cassette) -> None:
        try:
            save(cassette, path)
        except BaseException as error:  # reported below, so the test names it
            errors.append(error)

    threads = [threading.Thread(target=write, args=(c,)) for c in cassettes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(set(sources)) == writers
    assert all(re.fullmatch(r"\.c\.json\.\d+\.\d+\.[0-9a-f]{8}\.tmp", os.path.basename(s)) for s in sources)
    assert load(path) in cassettes
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def test_a_failed_save_removes_its_temporary_file_and_keeps_the_old_cassette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    path.write_text("old")

    def replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        save(sample(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]
    assert path.read_text() == "old"


def test_a_cassette_that_cannot_be_written_touches_no_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot write a cassette with t = nan"):
        save(
            Cassette("tcp", [RecordedConnection(0.0, [CloseEvent(float("nan"), "client", "fin")])]),
            tmp_path / "c",
        )
    assert list(tmp_path.iterdir()) == []


def document(*events: str, version: str = "2", top: str = "") -> str:
    """A cassette laid out as dumps() does: the first event is on line 6."""
    rows = ",\n      ".join(events)
    return (
        f'{{\n  "socketdouble_cassette": {version},{top}\n  "kind": "tcp",\n  "connections": [\n'
        f'    {{"events": [\n      {rows}\n    ]}}\n  ]\n}}\n'
    )


def event(fields: str) -> str:
    """A cassette whose only event is ``{fields}`` (on line 6)."""
    return document("{" + fields + "}")


def head(fields: str) -> str:
    """A version 2 tcp cassette with these top-level fields."""
    return '{"socketdouble_cassette": 2, "kind": "tcp", ' + fields + "}"


def connection_text(fields: str, kind: str = "tcp") -> str:
    """A version 3 cassette whose only connection (on line 2) has these fields besides its events."""
    return f'{{"socketdouble_cassette": 3, "kind": "{kind}",\n"connections": [{{{fields}, "events": []}}]}}'


CLIENT = '"t": 0, "from": "client", '
EVENT = '{"t": 0, "from": "client", "data": "x"}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "top level: expected a JSON object"),
        ('{"kind": "tcp"}', 'not a socketdouble cassette: the "socketdouble_cassette" version is missing'),
        (document(version="4"), "line 2: socketdouble_cassette: format version 4 is not supported"),
        (document(version="true"), "format version True is not supported"),  # a bool is not 1
        (document(version="1.0"), "format version 1.0 is not supported"),
        (document(version='"2"'), "format version '2' is not supported"),
        (document(top=' "extra": 1,'), 'line 2: extra: unknown field "extra"; a cassette has'),
        ('{"socketdouble_cassette": 2, "kind": "sctp", "connections": []}', "kind: 'sctp' is not one of"),
        ('{"socketdouble_cassette": 2, "kind": ["tcp"], "connections": []}', "kind: ['tcp'] is not one of"),
        (head('"connections": {}'), "connections: expected a list"),
        (head('"connections": [3]'), "connection 1: expected {"),
        (head('"connections": [{"events": 1}]'), "connection 1: expected"),
        (
            head('"connections": [{"events": [], "x": 0}]'),
            'connection 1: unknown field "x"; a connection has',
        ),
        (head('"connections": [{"opened": "0", "events": []}]'), 'connection 1: "opened" must be a number'),
        (document(EVENT, '{"t": 0, "from": "me"}'), 'line 7: connection 1, event 2: "from" must be'),
        (event(CLIENT + '"base64": "!!"'), 'line 6: connection 1, event 1: "base64" is not valid base64'),
        (event(CLIENT + '"escaped": "\\\\q"'), 'line 6: connection 1, event 1: "escaped": bad escape'),
        (event(CLIENT + '"data": 7'), '"data" must be a string, not 7'),
        (event('"t": -1, "from": "client", "data": ""'), '"t" must be a number of seconds from 0 to'),
        (
            event('"t": NaN, "from": "client", "data": ""'),
            '"t" must be a number of seconds from 0 to 1e+07, not nan',
        ),
        (event('"t": Infinity, "from": "client", "data": ""'), ", not inf"),
        (event('"t": 1e400, "from": "client", "data": ""'), ", not inf"),  # json reads it as inf
        (event('"t": ' + "9" * 400 + ', "from": "client", "data": ""'), '"t" must be a number of seconds'),
        (event('"t": 1e8, "from": "client", "data": ""'), ", not 100000000.0"),
        (event('"t": true, "from": "client", "data": ""'), '"t" must be a number of seconds >= 0, not True'),
        (event('"from": "client", "data": ""'), '"t" is missing'),
        (event(CLIENT[:-2]), 'exactly one of "data", "escaped", "base64", "close": none given'),
        (event(CLIENT + '"data": "", "close": "fin"'), '"data" and "close" together'),
        (event(CLIENT + '"data": "", "base64": ""'), '"data" and "base64" together'),
        (event(CLIENT + '"close": "shut"'), '"close" must be "fin" or "reset", not \'shut\''),
        (event(CLIENT + '"date": ""'), 'unknown field "date"; an event has "t", "from"'),
        (
            document("{" + CLIENT + '"escaped": ""}', version="1"),
            'unknown field "escaped" (it came in version 2',
        ),
        (
            head('"connections": [{"client": ["127.0.0.1", 1], "events": []}]'),
            'connection 1: unknown field "client" (it came in version 3; this file says version 2)',
        ),
        (
            connection_text('"client": "127.0.0.1:5"'),
            'line 2: connection 1: "client" must be ["IP address", port]',
        ),
        (connection_text('"server": ["127.0.0.1"]'), '"server" must be ["IP address", port], as'),
        (connection_text('"client": ["localhost", 5]'), ": 'localhost' is not an IP address"),
        (connection_text('"client": [7, 5]'), ": 7 is not an IP address"),
        (connection_text('"server": ["::1", 65536]'), "the port 65536 is not an integer from 0 to 65535"),
        (connection_text('"server": ["::1", true]'), "the port True is not an integer"),
        (connection_text('"server": null'), '"server" must be ["IP address", port], as'),
        (
            connection_text('"client": ["127.0.0.1", 5]', kind="unix"),
            '"client" is an IP address, which a unix connection has not; drop "client"',
        ),
        (document("[1]"), "connection 1, event 1: expected a JSON object, not [1]"),
        (event(CLIENT + '"data": "\\ud800"'), "\"data\" holds '\\ud800', a lone surrogate"),
        (event(CLIENT + '"data": "' + "x" * 500 + '", "z": 1'), 'unknown field "z"'),
        (head('"redact": "x", "connections": []'), "redact: expected a list"),
        (head('"redact": [1], "connections": []'), "redact: pattern 1 is not a string"),
        (
            head('"redact": ["("], "connections": []'),
            "redact: redact pattern b'(' is not a valid bytes regex",
        ),
        (
            head('"redact": ["\u20ac"], "connections": []'),
            "redact: pattern '\u20ac' is not bytes: '\u20ac' is beyond",
        ),
        (
            head('"redact": ["a{99999999999}"], "connections": []'),
            "redact: redact pattern b'a{99999999999}' is",
        ),
        (head('"connections": ['), "line 1, column 61: not valid JSON"),
        ("", "line 1, column 1: not valid JSON (Expecting value)"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ("1" * 5000, "not valid JSON (Exceeds the limit"),
    ],
)
def test_mistakes_name_the_file_the_place_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(CassetteError) as info:
        loads(text, "my.json")
    assert str(info.value).startswith("cassette my.json")
    assert message in str(info.value)
    error = info.value
    assert error.__cause__ is None and (
        error.__context__ is None or error.__suppress_context__
    )  # no json trace
    assert len(str(info.value)) < 300


def test_a_long_value_is_shortened_in_the_message() -> None:
    with pytest.raises(CassetteError, match=r"not '[a]{50,}\.\.\.$"):
        loads(document('{"t": 0, "from": "' + "a" * 5000 + '", "data": ""}'))


def test_the_line_of_a_mistake_in_a_file_laid_out_by_hand() -> None:
    good = json.loads(dumps(sample()))
    good["connections"][0]["events"][3]["from"] = "me"
    text = json.dumps(good, indent=4)  # one field a line, as jq or an editor would write it
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"me"' in row)
    with pytest.raises(CassetteError, match=f'line {line - 2}: connection 1, event 4: "from"'):
        loads(text)  # the line where the event starts: two lines above its "from"


def test_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(dumps(sample())[:120])
    with pytest.raises(CassetteError, match=f"cassette {path}, line 6, column .*not valid JSON"):
        load(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such file"):
        load(tmp_path / "absent.json")


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match=f"cassette {tmp_path}: is a directory, not a cassette file"):
        load(tmp_path)


def test_a_file_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"

    def refuse(*args: object, **kw: object) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    # Tests may run as root, which chmod cannot stop: refuse the open itself.
    monkeypatch.setattr(cassette_codec, "open", refuse, raising=False)
    with pytest.raises(CassetteError, match=f"cassette {path}: cannot read it: Permission denied"):
        load(path)


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(dumps(sample()).encode().replace(b"ready", b"r\xe9ady"))
    with pytest.raises(CassetteError, match=r"line 7: byte \d+ \(0xe9\) is not UTF-8 text"):
        load(path)


def test_redaction_keeps_the_length() -> None:
    redact = Redactor([rb"password=\S+", "token"])
    assert redact(b"login password=hunter2 token") == b"login ****************" + b" *****"
    assert not Redactor()


def test_a_redactor_shows_its_patterns() -> None:
    assert repr(Redactor([rb"password=\S+", "token"])) == r"Redactor([b'password=\\S+', b'token'])"
    assert repr(Redactor([b"x"], fill=b"#")) == "Redactor([b'x'], fill=b'#')"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (b"(", "redact pattern b'(' is not a valid bytes regex"),
        (b"a{99999999999}", "is not a valid bytes regex: the repetition number is too large"),
        ("\ud800", "is not a valid bytes regex"),
        (
            re.compile("text"),
            "matches str, not bytes: compile it from a bytes pattern, re.compile(b'text')",
        ),
    ],
)
def test_a_bad_redaction_pattern_is_a_configuration_error(pattern: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Redactor([pattern])
