"""The fixtures' socket folders and CA files live under pytest's base temporary folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def system_temp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short, private TMPDIR for the pytest run under test (short: socket paths fit under it)."""
    folder = Path(tempfile.mkdtemp(prefix="sdt"))
    monkeypatch.setenv("TMPDIR", str(folder))
    yield folder
    shutil.rmtree(folder)


def test_fixture_folders_are_under_the_base_temporary_folder_and_removed(
    pytester: pytest.Pytester, system_temp: Path
) -> None:
    pytester.makepyfile(
        """
        import os
        from pathlib import Path

        seen = {}

        def test_servers(unix_server, unix_dgram_server, tls_server, tmp_path_factory):
            base = tmp_path_factory.getbasetemp()
            seen["paths"] = [unix_server.path, unix_dgram_server.path, tls_server.ca_file]
            for path in seen["paths"]:
                assert Path(path).parent.parent == base, path

        def test_removed_at_teardown():
            for path in seen["paths"]:
                assert not os.path.exists(os.path.dirname(path)), path
        """
    )
    # pytester's own --basetemp is too long for a socket path; a run's usual one is short
    result = pytester.runpytest_subprocess("-W", "error", f"--basetemp={system_temp / 'base'}")
    result.assert_outcomes(passed=2)
    assert list(system_temp.glob("sd-*")) == []


def test_a_run_ended_by_the_thread_timeout_leaves_its_folders_where_pytest_prunes(
    pytester: pytest.Pytester, system_temp: Path
) -> None:
    pytester.makeini("[pytest]\nsocketdouble_timeout = 1\ntimeout_method = thread\n")
    pytester.makepyfile(
        """
        import threading

        def test_hangs(unix_server, tls_server):
            assert tls_server.ca_file
            threading.Event().wait(60)  # pytest-timeout's thread method ends the process here
        """
    )
    base = system_temp / "base"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--basetemp={base}")
    assert result.ret != 0
    assert any("Timeout" in line for line in result.outlines + result.errlines)
    assert list(system_temp.glob("sd-*")) == []  # before: sd-* and sd-ca-* folders stayed here
    left = sorted("CA" if path.name.startswith("sd-ca-") else "socket" for path in base.glob("sd-*"))
    assert left == ["CA", "socket"]  # left in the base, which the next run with it removes


def test_a_base_temporary_folder_too_long_for_a_socket_path_falls_back(
    pytester: pytest.Pytester, system_temp: Path
) -> None:
    base = pytester.path / ("b" * 100)
    pytester.makepyfile(
        """
        import tempfile
        from pathlib import Path

        def test_it(unix_server, tls_server, tmp_path_factory):
            assert Path(unix_server.path).parent.parent == Path(tempfile.gettempdir())
            assert Path(tls_server.ca_file).parent.parent == tmp_path_factory.getbasetemp()
        """
    )
    pytester.runpytest_subprocess("-W", "error", f"--basetemp={base}").assert_outcomes(passed=1)
