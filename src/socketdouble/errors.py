"""The exceptions socketdouble raises, all under :class:`SocketDoubleError`.

Two kinds, kept apart so a user always sees which happened:

- :class:`ConfigurationError` — the test set the double up wrongly (a bad argument,
  a port in use). Raised at once, where the mistake was made.
- :class:`CheckFailed` — the code under test misbehaved (an unmatched message, a
  broken frame, a handler that raised). Recorded while the server runs and reported
  by ``server.check()`` with the transcript.
"""

from __future__ import annotations

__all__ = [
    "CassetteError",
    "CassetteMissing",
    "CheckFailed",
    "ConfigurationError",
    "FramingError",
    "HandlerError",
    "ServerStateError",
    "SocketDoubleError",
    "StopFailed",
    "WaitTimeout",
]


class SocketDoubleError(Exception):
    """Base class of every error socketdouble raises."""


class ConfigurationError(SocketDoubleError, ValueError):
    """The double was set up wrongly; the message names the bad value and the fix."""


class ServerStateError(ConfigurationError):
    """A server was used in a state that does not allow it (e.g. restarted after stop)."""


class FramingError(SocketDoubleError):
    """Inbound bytes broke the framing (an over-long line, an impossible length)."""


class HandlerError(SocketDoubleError):
    """A handler failed where no exception object could be kept.

    Used for a handler that raised in a forked child (its traceback comes back as
    text) and for a handler that did not return when the server stopped.
    """


class CassetteError(SocketDoubleError, ValueError):
    """A cassette file could not be read: the message names the file, place and problem."""


class CassetteMissing(ConfigurationError):
    """Replay-only mode found no cassette; the message says how to record one."""


class StopFailed(SocketDoubleError):
    """Stopping several servers raised; :attr:`errors` holds each error, in order.

    Every server was still stopped and every valid recording saved before this was
    raised (a single failure is re-raised as itself instead).
    """

    def __init__(self, message: str, errors: list[BaseException]) -> None:
        super().__init__(message)
        self.errors = errors


class CheckFailed(SocketDoubleError, AssertionError):
    """``server.check()`` found handler errors, unmatched messages or unused rules."""


class WaitTimeout(SocketDoubleError, TimeoutError):
    """``wait_for_requests`` timed out; the message carries the transcript."""
