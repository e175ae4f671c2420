"""record_or_replay through pytest: the record modes, and where cassettes go."""

from __future__ import annotations

import json
import socket
from pathlib import Path

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
    before = cassette.read_text()
    pytester.runpytest_subprocess("--socketdouble-record-mode=new_episodes").assert_outcomes(passed=1)
    assert cassette.read_text() == before  # nothing new: the file is not even rewritten
    pytester.makepyfile(test_service=module() + SECOND_EPISODE)
    pytester.runpytest_subprocess("--socketdouble-record-mode=new_episodes").assert_outcomes(passed=1)
    connections = json.loads(cassette.read_text())["connections"]
    assert [c["events"][0]["data"] for c in connections] == ["hello\n", "again\n"]
    assert cassette.read_text().startswith(before[: before.index("]}")])  # the old connection, as it was


CHANGED = TEST_MODULE.replace("hello\\n", "hello v2\\n").replace("hi from upstream\\n", "hi v2\\n")


def test_new_episodes_after_the_conversation_changed_replays_green(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=module())
    pytester.runpytest_subprocess("--socketdouble-record-mode=all").assert_outcomes(passed=1)
    pytester.makepyfile(test_service="UPSTREAM = None\n" + CHANGED)
    pytester.runpytest_subprocess("--socketdouble-record-mode=new_episodes").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_service" / "greeting.json"
    connections = json.loads(cassette.read_text())["connections"]
    assert [c["events"][0]["data"] for c in connections] == ["hello\n", "hello v2\n"]  # the old one kept
    # the next run replays (no upstream: a dead port) and is green: the stale connection stays unused
    pytester.makepyfile(test_service='UPSTREAM = ("127.0.0.1", 9)\n' + CHANGED)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    # and the old version of the test still replays from the same cassette
    pytester.makepyfile(test_service=module('("127.0.0.1", 9)'))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


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


def cassette_file(pytester: pytest.Pytester, name: str = "greeting") -> Path:
    return pytester.path / "cassettes" / "test_service" / f"{name}.json"


def test_a_failing_test_keeps_the_old_cassette_and_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=module())
    pytester.runpytest_subprocess("--socketdouble-record-mode=all").assert_outcomes(passed=1)
    before = cassette_file(pytester).read_text()
    failing = module() + '        assert False, "the client broke"\n'
    pytester.makepyfile(test_service=failing)
    result = pytester.runpytest_subprocess("--socketdouble-record-mode=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*- socketdouble cassettes -*", "not written, because the test did not pass:", "*greeting.json"]
    )
    assert cassette_file(pytester).read_text() == before


def test_an_empty_recording_writes_nothing_and_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_service="""
        def test_never_connects(socketdouble):
            socketdouble.record_or_replay(socketdouble.tcp().address, "greeting")
        """
    )
    result = pytester.runpytest_subprocess("--socketdouble-record-mode=once")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*greeting.json not written: no connection was recorded*none was written"])
    assert not cassette_file(pytester).exists()


def test_an_unreachable_upstream_fails_the_recording_at_once(pytester: pytest.Pytester) -> None:
    with socket.socket() as holder:  # bound, not listening: connecting is refused
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        pytester.makepyfile(test_service=module(f'("127.0.0.1", {port})'))
        result = pytester.runpytest_subprocess("--socketdouble-record-mode=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*ConfigurationError: cannot reach the upstream 127.0.0.1:{port}: connection refused; "
            "start it, or replay with --socketdouble-record-mode=none"
        ]
    )
    assert not (pytester.path / "cassettes").exists()


EVERY_KEYWORD = """
import socket


def test_greeting(socketdouble):
    upstream = socketdouble.tcp()
    upstream.on(socketdouble_regex(rb"\\Ahello ")).reply(b"hi from upstream\\n")
    server = socketdouble.record_or_replay(
        upstream.address, "greeting", ignore=[rb"\\d+"], match="order", timing=False, report_unused=True,
        redact=[rb"secret"], upstream_ssl_context=None, upstream_hostname="localhost", connect_timeout=2.0,
    )
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"hello secret 42\\n")
        assert client.recv(100) == b"hi from upstream\\n"


from socketdouble import regex as socketdouble_regex
"""


def test_record_or_replay_takes_the_same_keywords_in_every_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=EVERY_KEYWORD)
    for mode in ("once", "none", "once", "new_episodes", "all", "none"):
        pytester.runpytest_subprocess(f"--socketdouble-record-mode={mode}").assert_outcomes(passed=1)
    assert '"data": "hello ****** 42\\n"' in cassette_file(pytester).read_text()


def test_the_cassette_name_defaults_to_the_test_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_service="""
        import socket, pytest

        @pytest.mark.parametrize("path", ["a/b"])
        @pytest.mark.parametrize("n", [1])
        def test_get(socketdouble, path, n):
            upstream = socketdouble.tcp()
            upstream.on(b"hello\\n").reply(b"hi\\n")
            server = socketdouble.record_or_replay(upstream.address)
            with socket.create_connection(server.address, timeout=5) as client:
                client.sendall(b"hello\\n")
                assert client.recv(100) == b"hi\\n"

        class TestTwice:
            def test_two_without_a_name(self, socketdouble):
                socketdouble.record_or_replay(socketdouble.tcp().address)
                socketdouble.record_or_replay(socketdouble.tcp().address)
        """
    )
    result = pytester.runpytest_subprocess("--socketdouble-record-mode=once")
    result.assert_outcomes(passed=1, failed=1)
    assert cassette_file(pytester, "test_get[1-a%2Fb]").exists()
    result.stdout.fnmatch_lines(
        ["*ConfigurationError: cassette *TestTwice.test_two_without_a_name.json is already used*"]
    )


TWO_TESTS_ONE_CASSETTE = """
import os, socket


def use(socketdouble, name):
    with open(f"{name}.worker", "w") as file:
        file.write(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    upstream = socketdouble.tcp()
    upstream.on(b"hello\\n").reply(b"hi\\n")
    server = socketdouble.record_or_replay(upstream.address, "shared")
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"hello\\n")
        assert client.recv(100) == b"hi\\n"


def test_a(socketdouble):
    use(socketdouble, "a")


def test_b(socketdouble):
    use(socketdouble, "b")
"""


@pytest.mark.parametrize(
    "workers", [[], ["-n", "2", "-p", "xdist"]], ids=["one process", "two xdist workers"]
)
def test_two_tests_using_one_cassette_fail_naming_both(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makepyfile(test_service=TWO_TESTS_ONE_CASSETTE)
    result = pytester.runpytest_subprocess("--socketdouble-record-mode=once", *workers)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ConfigurationError: cassette *shared.json is used by two tests: "
            "test_service.py::test_? and test_service.py::test_?; a cassette belongs to one test*"
        ]
    )
    ran_on = {(pytester.path / f"{name}.worker").read_text() for name in "ab"}
    assert len(ran_on) == (2 if workers else 1)  # with xdist, the two tests ran in two processes
