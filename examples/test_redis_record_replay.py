"""Record redis-py against a real redis-server once, then replay it with no server.

The recording proxy sits in front of a real ``redis-server`` (started here on a private
Unix socket); the cassette it writes is then replayed by a ReplayServer after the real
server is gone, and redis-py gets the very same answers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import socketdouble as sd
from examples.redis_server import redis_server
from socketdouble.doubles import Doubles


@pytest.fixture
def redis_unix() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real redis-server on a Unix socket in a private folder, stopped afterwards."""
    folder = tempfile.mkdtemp(prefix="sd-redis-")
    path = f"{folder}/redis.sock"
    try:
        with redis_server("--port", "0", "--unixsocket", path) as process:
            yield process, path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def session(path: str) -> list[Any]:
    client = redis.Redis(unix_socket_path=path, socket_timeout=5, protocol=2)
    try:
        client.set("user:1", "ann")
        return [
            client.get("user:1"),
            client.incr("visits"),
            client.incr("visits"),
            client.rpush("queue", "a", "b", "c"),
            client.lrange("queue", 0, -1),
            client.get("missing"),
        ]
    finally:
        client.close()


def test_record_then_replay_redis(
    socketdouble: Doubles, redis_unix: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, upstream = redis_unix
    proxy = socketdouble.add(sd.RecordingProxy(upstream, kind="unix"))
    live = session(proxy.path or "")
    assert live == [b"ann", 1, 2, 3, [b"a", b"b", b"c"], None]
    proxy.stop()
    proxy.save(tmp_path / "redis.json")
    process.terminate()  # no upstream from here on
    process.wait(timeout=10)

    replay = socketdouble.add(sd.ReplayServer(tmp_path / "redis.json"))
    assert session(replay.path or "") == live
    assert any(b"INCR" in request for request in replay.recording.requests)


def test_a_changed_command_fails_the_replay(
    socketdouble: Doubles, redis_unix: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    _, upstream = redis_unix
    proxy = socketdouble.add(sd.RecordingProxy(upstream, kind="unix"))
    session(proxy.path or "")
    proxy.stop()
    proxy.save(tmp_path / "redis.json")
    replay = sd.ReplayServer(tmp_path / "redis.json").start()
    client = redis.Redis(unix_socket_path=replay.path, socket_timeout=5, protocol=2)
    try:
        client.set("user:1", "bob")  # recorded: "ann"
    except redis.ConnectionError:
        pass  # the replay closed the connection at the first differing byte
    finally:
        client.close()
        replay.stop()
    with pytest.raises(sd.CheckFailed) as failure:
        replay.check()
    assert "first difference at byte" in str(failure.value)
    assert "ann" in str(failure.value)  # the recorded request is shown beside
