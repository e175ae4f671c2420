"""``socketdouble show``: a cassette's transcript, in colour only on a terminal without NO_COLOR."""

from __future__ import annotations

import os
import pty
import selectors
import subprocess
import sys
from pathlib import Path

from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, save
from socketdouble.service import show

from .commands import TIMEOUT, environment, ping_cassette, run


def test_show_prints_the_transcript_plain_when_piped(tmp_path: Path) -> None:
    cassette = Cassette(
        "tcp",
        [
            RecordedConnection(
                0.5,
                [
                    DataEvent(0.25, "client", b"PING\r\n"),
                    DataEvent(0.5, "server", b"\x00\xff"),
                    CloseEvent(1, "server", "reset"),
                ],
                ("127.0.0.1", 50412),
                ("::1", 6379),
            ),
            RecordedConnection(2.0, [CloseEvent(0.0, "client", "fin")]),
        ],
        [rb"secret"],
    )
    save(cassette, tmp_path / "c.json")
    result = run("show", str(tmp_path / "c.json"))
    assert result.returncode == 0
    assert result.stdout == (
        f"cassette {tmp_path / 'c.json'}: tcp, 2 connection(s), 1 client turn(s), 1 server turn(s)\n"
        "redacted: b'secret'\n"
        "connection 1 from 127.0.0.1:50412 to [::1]:6379\n"
        "     0.5000s opened\n"
        "     0.7500s <- 'PING\\r\\n'\n"
        "     1.0000s -> 2 bytes\n"
        "               0000  00 ff                                            |..|\n"
        "     1.5000s closed: by the server (reset)\n"
        "connection 2 from a client\n"
        "     2.0000s opened\n"
        "     2.0000s closed: by the client (fin)\n"
    )
    assert "\x1b[" not in result.stdout


def show_on_a_terminal(path: Path, **env: str) -> str:
    """What ``socketdouble show`` writes to a pseudo-terminal."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "socketdouble", "show", str(path)],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=environment(**env),
        )
        os.close(follower)
        follower = -1
        output = b""
        with selectors.DefaultSelector() as selector:
            selector.register(leader, selectors.EVENT_READ)
            while selector.select(timeout=TIMEOUT):
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the terminal's other end is closed, the output is all read
                    break
                if not chunk:
                    break
                output += chunk
        _, errors = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, errors
        return output.decode()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_show_colours_for_a_terminal_unless_no_color_is_set(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json")
    coloured = show_on_a_terminal(cassette, NO_COLOR="")  # empty counts as unset (no-color.org)
    assert "\x1b[36m     0.0000s <- 'PING\\n'\x1b[0m\r\n" in coloured
    assert "\x1b[" not in show_on_a_terminal(cassette, NO_COLOR="1")


def test_colour_is_decided_by_the_terminal_and_no_color() -> None:
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert show.use_colour(Stream(True), {})  # type: ignore[arg-type]
    assert show.use_colour(Stream(True), {"NO_COLOR": ""})  # type: ignore[arg-type]  # empty: unset
    assert not show.use_colour(Stream(True), {"NO_COLOR": "1"})  # type: ignore[arg-type]
    assert not show.use_colour(Stream(False), {})  # type: ignore[arg-type]


def test_colour_marks_each_kind_of_line_and_keeps_a_hex_dump_with_its_turn() -> None:
    text = "\n".join(
        [
            "head",
            "connection 1 from a client",
            "  0.1s <- 2 bytes",
            "      0000  00 ff",
            "  0.2s -> 'x'",
            "  0.3s closed: by the client (fin)",
            "  0.4s closed: by the server (reset)",
        ]
    )
    lines = show.colour(text).split("\n")
    assert lines[0] == "\x1b[1mhead\x1b[0m" and lines[1].startswith("\x1b[1m")
    assert lines[2].startswith("\x1b[36m") and lines[3].startswith("\x1b[36m")  # the dump is the turn's
    assert [line[:5] for line in lines[4:]] == ["\x1b[32m", "\x1b[33m", "\x1b[31m"]


def test_show_into_a_pipe_closed_early_is_no_error(tmp_path: Path) -> None:
    cassette = ping_cassette(tmp_path / "c.json", connections=3000)  # more than a pipe holds
    process = subprocess.Popen(
        [sys.executable, "-m", "socketdouble", "show", str(cassette)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b"cassette ")
        process.stdout.close()  # as `| head -1` does
        assert process.wait(timeout=TIMEOUT) == 0
        assert process.stderr.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def test_show_summarises_datagram_cassettes_as_peers_and_datagrams(tmp_path: Path) -> None:
    result = run("show", str(ping_cassette(tmp_path / "c.json", "udp")))
    assert result.stdout.split("\n")[0].endswith(
        ": udp, 1 peer(s), 1 client datagram(s), 1 server datagram(s)"
    )
