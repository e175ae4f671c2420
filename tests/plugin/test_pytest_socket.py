"""pytest-socket: the flags that let doubles work, and a socketdouble error naming them otherwise.

pytest-socket is in the [test] extra and loads through its entry point (``-p pytest_socket``
on top of that would register it twice).
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_socket")

WORKING_FLAGS = ("--disable-socket", "--allow-unix-socket", "--allow-hosts=127.0.0.1,::1")
CLIENTS = """
import socket

def test_tcp(tcp_server):
    tcp_server.on(b"PING\\n").reply(b"PONG\\n")
    with socket.create_connection(tcp_server.address, timeout=5) as c:
        c.sendall(b"PING\\n")
        assert c.recv(10) == b"PONG\\n"

def test_unix(unix_server):
    unix_server.on(b"PING\\n").reply(b"PONG\\n")
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(5)
        c.connect(unix_server.path)
        c.sendall(b"PING\\n")
        assert c.recv(10) == b"PONG\\n"

def test_udp(udp_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.sendto(b"hi", udp_server.address)
        assert udp_server.wait_for_requests(1) == [b"hi"]
"""


def test_the_documented_flags_let_every_double_work(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CLIENTS)
    pytester.runpytest_subprocess("-W", "error", *WORKING_FLAGS).assert_outcomes(passed=3)


def test_disable_socket_alone_is_a_socketdouble_error_naming_the_flags(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CLIENTS)
    result = pytester.runpytest_subprocess("-W", "error", "--disable-socket")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ConfigurationError: pytest-socket blocks what this double (TCP server) needs in this test:",
            "*- AF_INET sockets: A test tried to use socket.socket.",
            f"*run pytest with {' '.join(WORKING_FLAGS)}*@pytest.mark.enable_socket",
        ]
    )
    assert "SocketBlockedError" not in result.stdout.str()


def test_allowed_hosts_without_unix_sockets_name_the_missing_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CLIENTS)
    result = pytester.runpytest_subprocess("-W", "error", "--allow-hosts=127.0.0.1,::1")
    result.assert_outcomes(passed=2, errors=1)  # tcp and udp work; a Unix stream client could not connect
    result.stdout.fnmatch_lines(
        [
            "*(Unix stream server) needs in this test:",
            "*- connecting to Unix sockets: *",
            "*--allow-unix-socket*",
        ]
    )


def test_unix_sockets_alone_leave_unix_doubles_working(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CLIENTS)
    result = pytester.runpytest_subprocess("-W", "error", "--disable-socket", "--allow-unix-socket")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*ERROR*test_tcp*", "*ERROR*test_udp*"])


def test_the_enable_socket_marker_is_honoured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.enable_socket
        def test_it(tcp_server):
            assert tcp_server.running
        """
    )
    pytester.runpytest_subprocess("-W", "error", "--disable-socket").assert_outcomes(passed=1)


def test_a_recording_whose_upstream_is_blocked_names_the_flags(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_record(socketdouble):
            socketdouble.record_or_replay(("192.0.2.1", 6379), "blocked")
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", *WORKING_FLAGS, "--socketdouble-record-mode=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ConfigurationError: pytest-socket blocks connecting to 192.0.2.1, so the upstream "
            "('192.0.2.1', 6379) cannot be recorded*",
            "*plus the upstream's host in --allow-hosts*",
        ]
    )
