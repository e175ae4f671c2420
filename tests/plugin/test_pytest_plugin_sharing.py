"""One Doubles per test, whichever of the fixtures a test sets up first; the CA only when TLS needs it."""

from __future__ import annotations

import pytest


def test_server_fixtures_and_socketdouble_share_one_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_server_first(tcp_server, udp_server, socketdouble):
            assert socketdouble.servers == [tcp_server, udp_server]

        def test_socketdouble_first(socketdouble, tcp_server):
            extra = socketdouble.tcp()
            assert socketdouble.servers == [tcp_server, extra]
            assert socketdouble.default_cassette_name == "test_socketdouble_first"

        def test_two_servers_without_socketdouble(tcp_server, unix_server):
            assert tcp_server.running and unix_server.running
        """
    )
    pytester.runpytest_subprocess("-W", "error").assert_outcomes(passed=3)


def test_the_servers_stop_after_every_fixture_that_uses_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        seen = []

        @pytest.fixture
        def client(tcp_server):
            yield
            seen.append(("client teardown, running", tcp_server.running))

        @pytest.fixture
        def late(socketdouble):
            yield
            seen.append(("late teardown, running", socketdouble.servers[0].running))

        def test_it(tcp_server, client, late):
            pass

        def test_after():
            assert seen == [("late teardown, running", True), ("client teardown, running", True)]
        """
    )
    pytester.runpytest_subprocess("-W", "error", "-p", "no:randomly").assert_outcomes(passed=2)


def test_a_fixture_that_cannot_make_its_server_leaves_the_others_stopped(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_socket")
    pytester.makepyfile(
        """
        def test_opened_first(tcp_server, unix_server):
            pass

        def test_fails_first(unix_server, tcp_server):
            pass

        import gc

        def test_after():
            servers = [o for o in gc.get_objects() if type(o).__name__ == "TCPServer"]
            assert servers and not any(server.running for server in servers)
        """
    )
    # pytest-socket lets TCP through but no Unix client could connect: unix_server cannot be made
    result = pytester.runpytest_subprocess("-W", "error", "--allow-hosts=127.0.0.1,::1")
    result.assert_outcomes(passed=1, errors=2)  # at setup, and nothing more at teardown
    result.stdout.fnmatch_lines(["*ConfigurationError: pytest-socket blocks*Unix stream server*"])


def test_a_test_without_tls_never_makes_the_session_ca(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        import trustme

        made = []

        @pytest.fixture(scope="session")
        def socketdouble_ca():
            made.append(1)
            return trustme.CA()

        @pytest.fixture
        def cas_made():
            return len(made)
        """
    )
    pytester.makepyfile(
        """
        def test_plain(tcp_server, udp_server, unix_server, cas_made):
            assert cas_made == 0

        def test_tls(tcp_server, tls_server, socketdouble_ca):
            assert tls_server.ca_file
            with open(tls_server.ca_file, "rb") as file:
                assert socketdouble_ca.cert_pem.bytes() in file.read()
        """
    )
    pytester.runpytest_subprocess("-W", "error").assert_outcomes(passed=2)
