from __future__ import annotations

from pathlib import Path

import pytest

from socketdouble.core.cassette import (
    Cassette,
    CassetteError,
    CassetteRecorder,
    Close,
    Data,
    RecordedConnection,
    Redactor,
    dumps,
    load,
    loads,
    save,
)


def sample() -> Cassette:
    return Cassette(
        "tcp",
        [
            RecordedConnection(
                0.25,
                [
                    Data(0.0, "server", b"220 ready\r\n"),
                    Data(0.001, "client", b"PING\r\n"),
                    Data(0.002, "server", b"\x00\xffbinary"),
                    Close(0.003, "client", "fin"),
                    Close(0.004, "server", "reset"),
                ],
            )
        ],
        [rb"token=\w+"],
    )


def test_round_trip_and_deterministic_text() -> None:
    text = dumps(sample())
    assert loads(text) == sample()
    assert dumps(loads(text)) == text
    assert '"data": "PING\\r\\n"' in text  # text as text
    assert '"base64": "AP9iaW5hcnk="' in text  # binary encoded
    assert text.count("\n") > 8  # one event a line: diffs stay small


def test_save_is_atomic_and_load_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "c.json"
    save(sample(), path)
    assert load(path) == sample()
    assert [p.name for p in path.parent.iterdir()] == ["c.json"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"socketdouble_cassette": 2, "kind": "tcp", "connections": []}',
            "format version 2 is not supported",
        ),
        ('{"socketdouble_cassette": 1, "kind": "sctp", "connections": []}', "kind: 'sctp' is not one of"),
        ('{"socketdouble_cassette": 1, "kind": "tcp", "connections": [', "line 1, column 61: not valid JSON"),
        (
            '{"socketdouble_cassette": 1, "kind": "tcp", "connections": [{"events": '
            '[{"t": 0, "from": "me"}]}]}',
            'connection 1, event 1: "from" must be "client" or "server"',
        ),
        (
            '{"socketdouble_cassette": 1, "kind": "tcp", "connections": [{"events": '
            '[{"t": 0, "from": "client", "base64": "!!"}]}]}',
            '"base64" is not valid base64',
        ),
        (
            '{"socketdouble_cassette": 1, "kind": "tcp", "connections": [{"events": '
            '[{"t": -1, "from": "client"}]}]}',
            '"t" must be a number of seconds >= 0',
        ),
        (
            '{"socketdouble_cassette": 1, "kind": "tcp", "connections": [{"events": '
            '[{"t": 1, "from": "client"}]}]}',
            'an event needs "data", "base64" or "close"',
        ),
        ('{"socketdouble_cassette": 1, "kind": "tcp", "redact": ["("], "connections": []}', "redact:"),
        ("[]", "top level: expected a JSON object"),
    ],
)
def test_mistakes_name_the_file_the_place_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(CassetteError) as info:
        loads(text, "my.json")
    assert str(info.value).startswith("cassette my.json: ")
    assert message in str(info.value)


def test_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(dumps(sample())[:120])
    with pytest.raises(CassetteError, match=f"cassette {path}: line .*not valid JSON"):
        load(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such file"):
        load(tmp_path / "absent.json")


def test_redaction_keeps_the_length() -> None:
    redact = Redactor([rb"password=\S+", "token"])
    assert redact(b"login password=hunter2 token") == b"login ****************" + b" *****"
    assert not Redactor()


def test_recorder_merges_a_sides_consecutive_stream_writes_into_a_turn() -> None:
    recorder = CassetteRecorder("tcp", Redactor([rb"secret"]), started=100.0)
    log = recorder.open(100.5)
    log.data("client", b"GET sec", 100.6)
    log.data("client", b"ret\n", 100.7)  # the secret spans two reads: still redacted
    log.data("server", b"ok\n", 100.8)
    log.close("client", "fin", 100.9)
    cassette = recorder.cassette()
    [connection] = cassette.connections
    assert connection.opened == 0.5
    assert [e for e in connection.events if isinstance(e, Data)] == [
        Data(pytest.approx(0.1), "client", b"GET ******\n"),  # type: ignore[arg-type]
        Data(pytest.approx(0.3), "server", b"ok\n"),  # type: ignore[arg-type]
    ]
    assert cassette.redact == [rb"secret"]


def test_recorder_keeps_datagrams_apart() -> None:
    recorder = CassetteRecorder("udp")
    log = recorder.open(0.0)
    log.data("client", b"a", 0.1)
    log.data("client", b"b", 0.2)
    assert recorder.cassette().connections[0].client_turns() == [b"a", b"b"]


def test_a_bad_redaction_pattern_is_a_configuration_error() -> None:
    from socketdouble import ConfigurationError

    with pytest.raises(ConfigurationError, match="redact pattern"):
        Redactor([b"("])
