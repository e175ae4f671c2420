"""What a rule does with a message it matched: its reply, delay, close or reset, as one :class:`Reaction`.

A reaction is made whole whenever ``reply()``, ``close()`` or ``reset()`` changes a
rule, and never changed after: a worker reads the one it found, never half of one.
It carries the actions of its answer, made once here rather than for every message.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import ConfigurationError
from .actions import Action, Close, Reset, Send, Sleep

__all__ = ["SILENT", "Reaction", "Response", "check_delay", "check_response"]

Response = bytes | Callable[[bytes], bytes | None]


def check_response(response: object) -> Response:
    """``response`` as a rule keeps it (bytes, or a callable); a ConfigurationError naming it else."""
    if isinstance(response, (bytes, bytearray, memoryview)):
        return bytes(response)
    if callable(response):
        return response
    raise ConfigurationError(
        f"reply({response!r}): a reply is bytes or a callable message -> bytes | None"
        + (f"; write b{response!r}" if isinstance(response, str) else "")
    )


def check_delay(delay: object) -> float:
    """``delay`` in seconds, a finite float >= 0; a ConfigurationError naming it else."""
    seconds = float(delay) if isinstance(delay, (int, float)) and not isinstance(delay, bool) else math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(
            f"reply(..., delay={delay!r}): delay is the seconds the reply waits, a finite number >= 0, "
            "e.g. delay=0.2"
        )
    return seconds


class Reaction:
    """What a rule does with a matched message, replaced as one so a worker never reads half of it.

    Never changed once made: ``reply()``, ``close()`` and ``reset()`` make a new one.
    Its actions are made here, once, rather than for each message it answers.
    """

    __slots__ = ("actions", "after", "before", "close", "delay", "ends", "may_block", "reset", "response")

    def __init__(
        self, response: Response | None = None, close: bool = False, delay: float = 0.0, reset: bool = False
    ) -> None:
        self.response = response
        self.close = close
        self.delay = delay
        self.reset = reset
        #: Before the reply: the delay's Sleep, if any.
        self.before: tuple[Action, ...] = (Sleep(delay),) if delay else ()
        #: After the reply: Reset or Close, if the rule ends the connection.
        self.after: tuple[Action, ...] = (Reset(),) if reset else (Close(),) if close else ()
        #: True when the answer ends the connection (close or reset).
        self.ends = reset or close
        #: True when answering may take time: a reply function (the test's code) or a delay.
        self.may_block = callable(response) or bool(delay)
        #: The whole answer when the reply is fixed (bytes or none); None for a reply function,
        #: whose bytes are known only once it has been called with the message.
        sent: tuple[Action, ...] = (Send(response),) if isinstance(response, bytes) and response else ()
        self.actions: tuple[Action, ...] | None = (
            None if callable(response) else (*self.before, *sent, *self.after)
        )

    def __repr__(self) -> str:
        return f"Reaction({self.response!r}, close={self.close}, delay={self.delay}, reset={self.reset})"


#: A rule's reaction until it is configured: it answers nothing (shared: a reaction never changes).
SILENT = Reaction()
