"""The plugin, tested as users meet it: through pytest runs of their test files."""

from __future__ import annotations

import pytest

from socketdouble.core.cassette import Cassette, CassetteEvent, DataEvent, RecordedConnection, save


def test_fixtures_give_started_servers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_all(tcp_server, udp_server, unix_server, unix_dgram_server, tls_server, socketdouble):
            for server in (tcp_server, udp_server, unix_server, unix_dgram_server, tls_server):
                assert server.running
            extra = socketdouble.tcp(host="::1")
            assert extra.address[0] == "::1"
            tcp_server.on(b"PING\\r\\n").reply(b"+PONG\\r\\n")
            with socket.create_connection(tcp_server.address, timeout=5) as c:
                c.sendall(b"PING\\r\\n")
                assert c.recv(10) == b"+PONG\\r\\n"
            assert tcp_server.recording.requests == [b"PING\\r\\n"]
        """
    )
    pytester.runpytest_subprocess("-W", "error").assert_outcomes(passed=1)


def test_teardown_fails_the_test_that_sent_an_unexpected_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_unexpected(tcp_server):
            tcp_server.on(b"PING\\n").reply(b"PONG\\n")
            with socket.create_connection(tcp_server.address, timeout=5) as c:
                c.sendall(b"PONG\\n")
                tcp_server.wait_for_requests(1)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*CheckFailed*1 problem(s)*",
            "*unmatched message on connection 1*b'PONG\\n'*",
            "*nearest: rule 1: on(b'PING\\n')*",
            "*<- 'PONG\\n'*",
        ]
    )


def test_teardown_reports_a_handler_error_and_closes_everything(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os, socket, socketserver

        seen = {}

        class Broken(socketserver.BaseRequestHandler):
            def handle(self):
                raise RuntimeError("handler exploded")

        def test_broken(socketdouble):
            server = socketdouble.unix(handler=Broken)
            seen["path"] = server.path
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(5)
            c.connect(server.path)
            assert c.recv(10) == b""
            c.close()

        def test_after():
            assert not os.path.exists(seen["path"])
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: handler exploded*"])


def test_a_failing_test_gets_the_transcript_in_its_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_fails(tcp_server):
            with socket.create_connection(tcp_server.address, timeout=5) as c:
                c.sendall(b"hello transcript\\n")
                tcp_server.wait_for_requests(1)
            assert False, "the client was wrong"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*socketdouble transcript 1: TCP server at 127.0.0.1:*", "*<- 'hello transcript\\n'*"]
    )


def test_check_can_be_turned_off_by_ini_option_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_check = false\n")
    pytester.makepyfile(
        """
        import socket, pytest

        def send(server):
            with socket.create_connection(server.address, timeout=5) as c:
                c.sendall(b"nobody expects this\\n")
                server.wait_for_requests(1)

        def test_ini_off(tcp_server):
            tcp_server.on(b"x\\n")
            send(tcp_server)

        @pytest.mark.socketdouble(check=True)
        def test_marker_on(tcp_server):
            tcp_server.on(b"x\\n")
            send(tcp_server)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_marker_on*"])


def test_command_line_check_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_it(tcp_server):
            tcp_server.on(b"x\\n")
            with socket.create_connection(tcp_server.address, timeout=5) as c:
                c.sendall(b"y\\n")
                tcp_server.wait_for_requests(1)
        """
    )
    pytester.runpytest_subprocess("--socketdouble-check=false").assert_outcomes(passed=1)


def test_unused_rule_reporting_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_report_unused_rules = false\n")
    pytester.makepyfile(
        """
        def test_it(tcp_server):
            tcp_server.on(b"never\\n", times=1)
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_hanging_client_is_interrupted_by_the_default_timeout_and_torn_down(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nsocketdouble_timeout = 1\n")
    pytester.makepyfile(
        """
        import socket

        seen = {}

        def test_hangs(tcp_server):
            seen["address"] = tcp_server.address
            c = socket.create_connection(tcp_server.address)
            seen["client"] = c
            c.recv(10)  # the double never answers: only the timeout ends this

        def test_server_was_torn_down():
            assert seen["client"].recv(10) == b""  # stop() closed the connection
            seen["client"].close()
            try:
                socket.create_connection(seen["address"], timeout=5).close()
            except ConnectionRefusedError:
                pass
            else:
                raise AssertionError("the server still listens")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_an_explicit_timeout_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_timeout = 0.5\n")
    pytester.makepyfile(
        """
        import threading, pytest

        @pytest.mark.timeout(30)
        def test_slow_but_allowed(tcp_server):
            threading.Event().wait(1.0)
            assert tcp_server.running
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_bad_timeout_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsocketdouble_timeout = soon\n")
    pytester.makepyfile("def test_it(tcp_server):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*socketdouble_timeout='soon' is not a number of seconds*"])


def test_the_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--socketdouble-check*", "*--socketdouble-timeout*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.socketdouble(check=True*"])


REPLAYED = """
import socket


def test_greeting(socketdouble):
    server = socketdouble.record_or_replay(("127.0.0.1", 9), "greeting")
    with socket.create_connection(server.address, timeout=5) as client:
        for line in (b"hello\\n", b"how old are you\\n", b"bye\\n"):
            client.sendall(line)
            if not client.recv(100):
                break
    CLIENT_CHECK
"""


def three_line_cassette(pytester: pytest.Pytester) -> None:
    turns = [(b"hello\n", b"hi\n"), (b"how are you\n", b"fine\n"), (b"bye\n", b"bye\n")]
    events: list[CassetteEvent] = []
    for request, reply in turns:
        events += [DataEvent(0.0, "client", request), DataEvent(0.0, "server", reply)]
    save(
        Cassette("tcp", [RecordedConnection(0.0, events)]),
        pytester.path / "cassettes/test_service/greeting.json",
    )


@pytest.mark.parametrize("on_ci", [False, True])
def test_a_replay_mismatch_report_fits_on_one_screen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, on_ci: bool
) -> None:
    # On CI pytest does not shorten its summary: the problems come twice, the transcript once.
    if on_ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    three_line_cassette(pytester)
    pytester.makepyfile(test_service=REPLAYED.replace("CLIENT_CHECK", "pass"))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*first difference at byte 4*", "*All traceback entries are hidden*"])
    assert len(result.outlines) <= 40, "\n".join(result.outlines)
    assert sum("transcript of TCP replay server" in line for line in result.outlines) == 1


def test_a_transcript_is_shown_once_when_the_test_and_the_check_fail(pytester: pytest.Pytester) -> None:
    three_line_cassette(pytester)
    pytester.makepyfile(test_service=REPLAYED.replace("CLIENT_CHECK", "assert False, 'the replay hung up'"))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*first difference at byte 4*", "*its transcript is in this test's report sections*"]
    )
    assert sum("transcript of TCP replay server" in line for line in result.outlines) == 1
    assert not any("pytest_plugin.py" in line or "doubles.py" in line for line in result.outlines)
