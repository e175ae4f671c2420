from __future__ import annotations

import pytest

from socketdouble import ConfigurationError, Script
from socketdouble.core.actions import Close, Reset, Send, Sleep


def smtp() -> Script:
    return Script().send(b"220 ready\r\n").expect(b"EHLO x\r\n").send(b"250 ok\r\n").close()


def test_a_script_plays_up_to_each_expectation() -> None:
    player = smtp().player()
    assert player.advance() == [Send(b"220 ready\r\n")]
    assert player.receive(b"EHLO x\r\n") == (True, [Send(b"250 ok\r\n"), Close()])
    assert player.finished


def test_a_mismatch_closes_by_default() -> None:
    player = smtp().player()
    player.advance()
    assert player.receive(b"HELO x\r\n") == (False, [Close()])
    assert player.finished


def test_on_mismatch_reset_and_continue() -> None:
    player = Script(on_mismatch="reset").expect(b"A").send(b"B").player()
    assert player.receive(b"X") == (False, [Reset()])
    player = Script(on_mismatch="continue").expect(b"A").send(b"B").player()
    assert player.receive(b"X") == (False, [Send(b"B")])


def test_sleep_and_reset_steps() -> None:
    player = Script().sleep(0.5).reset().send(b"never").player()
    assert player.advance() == [Sleep(0.5), Reset()]
    assert player.finished


def test_describe_waiting_names_the_step() -> None:
    player = smtp().player()
    player.advance()
    assert player.describe_waiting() == "script step 2: expect(b'EHLO x\\r\\n')"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Script(on_mismatch="explode"), "on_mismatch='explode'"),  # type: ignore[arg-type]
        (lambda: Script().send("text"), "data is bytes"),  # type: ignore[arg-type]
        (lambda: Script().sleep(-1), "seconds is a number"),
    ],
)
def test_bad_steps(build: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        build()  # type: ignore[operator]
