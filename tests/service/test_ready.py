"""The ready line, written whole to stdout and the ready file, and withdrawn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socketdouble.service.ready import announce, ready_line, withdraw


def test_the_ready_line() -> None:
    line = ready_line(
        {"a": {"kind": "tcp", "address": ["127.0.0.1", 1]}, "u": {"kind": "unix", "address": "/s"}},
        "http://x",
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "servers": {
            "a": {"kind": "tcp", "address": ["127.0.0.1", 1]},
            "u": {"kind": "unix", "address": "/s"},
        },
        "admin": "http://x",
    }
    assert json.loads(ready_line({})) == {"servers": {}}


def test_announce_prints_and_replaces_the_file_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = tmp_path / "ready.json"
    ready.write_text("stale")
    announce('{"servers": {}}', ready)
    assert ready.read_text() == '{"servers": {}}\n'
    assert capsys.readouterr().out == '{"servers": {}}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["ready.json"]  # no temporary file left
    withdraw(ready)
    assert not ready.exists()
    withdraw(ready)  # already gone: nothing to do


def test_announce_into_a_missing_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        announce("{}", tmp_path / "missing" / "ready.json")
    assert list(tmp_path.iterdir()) == []
