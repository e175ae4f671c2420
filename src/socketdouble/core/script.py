"""Scripts: the same ordered conversation played on every connection.

``Script().send(b"220 ready\\r\\n").expect(b"EHLO x\\r\\n").send(b"250 ok\\r\\n").close()``

A :class:`Script` is a template; each connection plays it with its own
:class:`ScriptPlayer`, whose only state is its position in the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigurationError
from .actions import Action, Close, Reset, Send, Sleep
from .matchers import Matcher, MatcherLike, as_matcher

__all__ = ["Expect", "OnMismatch", "Script", "ScriptPlayer", "Step"]

OnMismatch = Literal["close", "reset", "continue"]


@dataclass(frozen=True)
class Expect:
    matcher: Matcher

    def __str__(self) -> str:
        return f"expect({self.matcher!r})"


Step = Send | Expect | Sleep | Close | Reset


class Script:
    """An ordered conversation: build it with chained ``send``/``expect``/... calls.

    ``on_mismatch`` says what happens when a message differs from what ``expect``
    wanted (it is recorded as unmatched either way): ``"close"`` (default) closes the
    connection, ``"reset"`` resets it, ``"continue"`` skips the expectation and goes on.
    """

    def __init__(self, *, on_mismatch: OnMismatch = "close") -> None:
        if on_mismatch not in ("close", "reset", "continue"):
            raise ConfigurationError(
                f"Script(on_mismatch={on_mismatch!r}): choose 'close', 'reset' or 'continue'"
            )
        self.on_mismatch: OnMismatch = on_mismatch
        self.steps: list[Step] = []

    def send(self, data: bytes) -> Script:
        """Send ``data``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigurationError(f"Script.send({data!r}): data is bytes")
        self.steps.append(Send(bytes(data)))
        return self

    def expect(self, matcher: MatcherLike) -> Script:
        """Wait for the next message and check it against ``matcher``."""
        self.steps.append(Expect(as_matcher(matcher)))
        return self

    def sleep(self, seconds: float) -> Script:
        """Pause for ``seconds`` (cut short when the server stops)."""
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ConfigurationError(f"Script.sleep({seconds!r}): seconds is a number >= 0")
        self.steps.append(Sleep(float(seconds)))
        return self

    def close(self) -> Script:
        """Close the connection (FIN); the rest of the script is not played."""
        self.steps.append(Close())
        return self

    def reset(self) -> Script:
        """Reset the connection (RST); the rest of the script is not played."""
        self.steps.append(Reset())
        return self

    def player(self) -> ScriptPlayer:
        return ScriptPlayer(self)

    def __repr__(self) -> str:
        return "Script(" + ", ".join(str(step) for step in self.steps) + ")"


class ScriptPlayer:
    """One connection's position in a script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.position = 0

    @property
    def finished(self) -> bool:
        return self.position >= len(self.script.steps)

    @property
    def waiting(self) -> Expect | None:
        """The expectation the player is waiting on, if any."""
        if self.finished:
            return None
        step = self.script.steps[self.position]
        return step if isinstance(step, Expect) else None

    def advance(self) -> list[Action]:
        """Play steps up to the next expectation (or the end); return their actions."""
        actions: list[Action] = []
        steps = self.script.steps
        while self.position < len(steps):
            step = steps[self.position]
            if isinstance(step, Expect):
                break
            self.position += 1
            actions.append(step)
            if isinstance(step, (Close, Reset)):
                self.position = len(steps)
        return actions

    def receive(self, message: bytes) -> tuple[bool, list[Action]]:
        """Check ``message`` against the awaited step: (matched, actions to take)."""
        step = self.waiting
        assert step is not None, "receive() is only called while waiting"
        if step.matcher(message):
            self.position += 1
            return True, self.advance()
        if self.script.on_mismatch == "continue":
            self.position += 1
            return False, self.advance()
        self.position = len(self.script.steps)
        return False, [Reset() if self.script.on_mismatch == "reset" else Close()]

    def describe_waiting(self) -> str:
        step = self.waiting
        return f"script step {self.position + 1}: {step}" if step else "script finished"
