"""record_or_replay through pytest: the record modes, and where cassettes go."""

from __future__ import annotations

import json

import pytest

TEST_MODULE = """
import socket


def test_greeting(socketdouble):
    upstream = socketdouble.tcp()
    upstream.on(b"hello\\n").reply(b"hi from upstream\\n")
    server = socketdouble.record_or_replay(UPSTREAM or upstream.address, "greeting")
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"hello\\n")
        assert client.recv(100) == b"hi from upstream\\n"
"""


SECOND_EPISODE = """
    upstream.on(b"again\\n").reply(b"once more\\n")
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"again\\n")
        assert client.recv(100) == b"once more\\n"
"""


def module(upstream: str = "None") -> str:
    return f"UPSTREAM = {upstream}\n" + TEST_MODULE


def test_replay_only_mode_names_the_missing_cassette_and_how_to_record_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=module())
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*CassetteMissing: cassette *cassettes/test_service/greeting.json does not exist*"
            '*record it once against the real upstream with pytest --socketdouble-record-mode=once "*'
            'test_service.py::test_greeting"*',
        ]
    )


def test_once_records_then_replays_with_no_upstream(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=module())
    pytester.runpytest_subprocess("--socketdouble-record-mode=once").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_service" / "greeting.json"
    document = json.loads(cassette.read_text())
    assert document["kind"] == "tcp"
    assert document["connections"][0]["events"][0]["data"] == "hello\n"
    # the upstream's address is now a port nobody listens on: replay must not need it
    pytester.makepyfile(test_service=module('("127.0.0.1", 9)'))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    before = cassette.read_text()
    pytester.runpytest_subprocess("--socketdouble-record-mode=once").assert_outcomes(passed=1)
    assert cassette.read_text() == before  # once: an existing cassette is replayed, not re-recorded


def test_all_re_records_and_new_episodes_adds_connections(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=module())
    pytester.runpytest_subprocess("--socketdouble-record-mode=all").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_service" / "greeting.json"
    assert len(json.loads(cassette.read_text())["connections"]) == 1
    pytester.runpytest_subprocess("--socketdouble-record-mode=new_episodes").assert_outcomes(passed=1)
    assert len(json.loads(cassette.read_text())["connections"]) == 1  # nothing new
    pytester.makepyfile(test_service=module() + SECOND_EPISODE)
    pytester.runpytest_subprocess("--socketdouble-record-mode=new_episodes").assert_outcomes(passed=1)
    connections = json.loads(cassette.read_text())["connections"]
    assert [c["events"][0]["data"] for c in connections] == ["hello\n", "again\n"]


def test_the_record_mode_can_come_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_record_mode = once\n")
    pytester.makepyfile(test_service=module())
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert (pytester.path / "cassettes" / "test_service" / "greeting.json").exists()


def test_a_bad_record_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_record_mode = sometimes\n")
    pytester.makepyfile(test_service=module())
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(
        ["*socketdouble_record_mode='sometimes': choose one of none, once, new_episodes, all*"]
    )
