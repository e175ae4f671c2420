"""What happens on a connection: the events a recording logs and the sink that takes them.

A conversation (rules, script, replay, socketserver adapter) reports through an
:class:`EventSink`; a :class:`~socketdouble.core.recording.ConnectionRecord` is one. Each
logged :class:`Event` carries its time offset and an :class:`EventKind`.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from enum import Enum
from typing import NamedTuple, Protocol

__all__ = ["Event", "EventKind", "EventSink", "describe_error"]


class EventKind(Enum):
    """What an :class:`Event` records; the value is its short name."""

    OPEN = "open"
    MESSAGE = "in"
    SEND = "out"
    UNMATCHED = "unmatched"
    ERROR = "error"
    NOTE = "note"
    FAULT = "fault"
    CLOSE = "close"


class Event(NamedTuple):
    """One entry of a connection's log: when (seconds since the server started), what."""

    offset: float
    kind: EventKind
    data: bytes = b""
    text: str = ""


class EventSink(Protocol):
    """Where a conversation reports what happened on its connection.

    ``on_received_messages(data, messages)`` is ``on_received(data)`` then
    ``on_message(m)`` for each of ``messages``, as one call: a read and the messages
    it completed. A sink whose ``on_rule_used`` does nothing may say so with a class
    attribute ``wants_rule_uses = False``: conversations then skip the call.
    """

    def on_received(self, data: bytes) -> None: ...
    def on_message(self, message: bytes) -> None: ...
    def on_received_messages(self, data: bytes, messages: Sequence[bytes]) -> None: ...
    def on_unmatched(self, message: bytes, hint: str) -> None: ...
    def on_sent(self, data: bytes) -> None: ...
    def on_error(self, error: BaseException) -> None: ...
    def on_note(self, text: str) -> None: ...
    def on_fault(self, text: str) -> None: ...
    def on_rule_used(self, number: int) -> None: ...
    def on_closed(self, reason: str) -> None: ...


def describe_error(error: BaseException) -> str:
    """The error with its traceback, as the transcript shows it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
