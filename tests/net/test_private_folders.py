"""Where private socket folders go: the system's temporary folder, or a base the plugin sets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import socketdouble as sd
from socketdouble.net.address import UNIX_PATH_LIMIT, folders_under, private_socket_path


def test_socket_folders_go_under_the_base_while_one_is_set(tmp_path: Path) -> None:
    with folders_under(tmp_path), sd.UnixStreamServer() as server:
        assert server.path is not None
        assert Path(server.path).parent.parent == tmp_path
        assert oct(Path(server.path).parent.stat().st_mode & 0o777) == "0o700"
    assert list(tmp_path.iterdir()) == []  # stop() removed the folder


def test_a_base_too_long_for_a_socket_path_falls_back_to_a_short_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * (UNIX_PATH_LIMIT - len(os.fsencode(tmp_path))))
    deep.mkdir()
    with folders_under(deep):
        path, folder = private_socket_path()
    try:
        assert len(os.fsencode(path)) < UNIX_PATH_LIMIT
        assert Path(folder).parent == Path(tempfile.gettempdir())
        assert list(deep.iterdir()) == []  # the folder tried there was removed
    finally:
        os.rmdir(folder)


def test_outside_a_base_folders_go_to_the_system_temporary_folder() -> None:
    path, folder = private_socket_path()
    os.rmdir(folder)
    assert Path(folder).parent == Path(tempfile.gettempdir())
    assert Path(path).parent == Path(folder)
