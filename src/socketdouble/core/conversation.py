"""A conversation: one connection's logic, fed bytes, returning what to send.

The socket layer owns the socket; a :class:`Conversation` owns the decisions. It
records every inbound message before deciding on a reply, so a client that has its
answer can read the recording at once.

Who answers a message, in order: a socketserver handler (then the conversation only
records: it is *passive*); the script while it waits on an ``expect``; the rules.
With no rules, greetings nor script the server is a recorder and nothing it
receives is unmatched.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import FramingError
from .actions import Action, Close, Reset, Send
from .events import EventSink
from .framing import Decoder
from .rules import RuleBook
from .script import Script, ScriptPlayer

__all__ = ["Conversation", "DatagramDialogue", "Dialogue"]


class Dialogue(Protocol):
    """What the socket layer drives: a conversation, or a replay of a recorded one."""

    sink: EventSink
    over: bool

    def open(self) -> list[Action]: ...
    def receive(self, data: bytes) -> list[Action]: ...
    def end(self) -> list[Action]: ...


class DatagramDialogue(Protocol):
    """What a datagram server drives for each peer."""

    def open(self) -> list[Action]: ...
    def datagram(self, data: bytes) -> list[Action]: ...


class Conversation:
    """The sans-IO logic of one connection (or one datagram peer)."""

    def __init__(
        self,
        sink: EventSink,
        rules: RuleBook,
        script: Script | None = None,
        decoder: Decoder | None = None,
        *,
        passive: bool = False,
    ) -> None:
        self.sink = sink
        self.rules = rules
        self.player: ScriptPlayer | None = script.player() if script is not None else None
        self.decoder = decoder
        self.passive = passive
        #: True once the conversation asked to close or hit a framing error.
        self.over = False
        # A sink that does nothing with rule uses (a recording: the rule book counts them) is not told.
        self._rule_used = sink.on_rule_used if getattr(sink, "wants_rule_uses", True) else None

    def open(self) -> list[Action]:
        """The connection opened: the greeting and the script's opening steps."""
        if self.passive:
            return []
        actions: list[Action] = []
        greeting = self.rules.greeting()
        if greeting:
            actions.append(Send(greeting))
        if self.player is not None:
            actions.extend(self.player.advance())
        return self._track(actions)

    def receive(self, data: bytes) -> list[Action]:
        """Bytes arrived on a stream: frame them, record and answer each message.

        A read that completes exactly one message (the usual case) is recorded in one
        step with it; a read completing several records each just before answering it,
        so the transcript shows an unmatched one where it came.
        """
        decoder = self.decoder
        if decoder is None:
            return self.datagram(data)
        sink = self.sink
        try:
            messages = decoder.feed(data)
        except FramingError as error:
            sink.on_received(data)
            sink.on_error(error)
            self.over = True
            return [Close()]
        except BaseException:
            sink.on_received(data)  # recorded as it came, whatever the framing made of it
            raise
        if len(messages) == 1 and not self.over:
            sink.on_received_messages(data, messages)
            return self._decide(messages[0])
        sink.on_received(data)
        actions: list[Action] = []
        for message in messages:
            if self.over:
                sink.on_message(message)
            else:
                actions.extend(self._answer(message))
        return actions

    def datagram(self, data: bytes) -> list[Action]:
        """A datagram arrived: it is one message."""
        self.sink.on_received_messages(data, (data,))
        return [] if self.over else self._decide(data)

    def message(self, message: bytes) -> list[Action]:
        if self.over:
            self.sink.on_message(message)
            return []
        return self._answer(message)

    def end(self) -> list[Action]:
        """The peer closed its side: note what was left half-said; nothing more to send."""
        if self.decoder is not None and self.decoder.pending and not self.over:
            pending = self.decoder.pending
            if self.passive or self._recorder:
                self.sink.on_note(f"closed with an incomplete message: {pending!r}")
            else:
                self.sink.on_unmatched(pending, "an incomplete message at close (no complete frame)")
        if self.player is not None and self.player.waiting is not None and not self.over:
            self.sink.on_note(f"peer closed while the script waited on {self.player.describe_waiting()}")
        return []

    @property
    def _recorder(self) -> bool:
        return self.player is None and self.rules.empty

    def _answer(self, message: bytes) -> list[Action]:
        self.sink.on_message(message)
        return self._decide(message)

    def _decide(self, message: bytes) -> list[Action]:
        """What to do with ``message``, recorded already: the script's step, a rule's answer or nothing."""
        if self.passive:
            return []
        player = self.player
        if player is not None and player.waiting is not None:
            expected = player.describe_waiting()
            matched, steps = player.receive(message)
            if not matched:
                self.sink.on_unmatched(message, f"expected: {expected}")
            return self._track(steps)
        found = self.rules.reaction(message)
        if found is None:
            if not self._recorder:
                self.sink.on_unmatched(message, self._hint(message))
            return []
        rule, reaction = found
        if self._rule_used is not None:
            self._rule_used(rule.number)
        actions = reaction.actions
        if actions is not None:  # fixed bytes: the actions were made with the rule
            if reaction.ends:
                self.over = True
            return list(actions)
        response = reaction.response
        assert callable(response)
        try:
            reply = response(message)
        except Exception as error:
            # The user's reply function broke: report it, and close rather than leave
            # the client waiting for an answer that will never come.
            self.sink.on_error(error)
            return self._track([Close()])
        if reply is not None and not isinstance(reply, bytes):
            self.sink.on_error(
                TypeError(
                    f"reply function {rule.describe()} returned {type(reply).__name__}; "
                    "it must return bytes or None"
                )
            )
            return self._track([Close()])
        sent: list[Action] = [Send(reply)] if reply else []
        return self._track([*reaction.before, *sent, *reaction.after])

    def _hint(self, message: bytes) -> str:
        """What to show beside an unmatched message: the rules, or the script's place.

        The hint reads on its own (it may span lines); reports print it under the message.
        """
        hint = self.rules.explain(message)
        if hint is not None:
            return hint
        if self.player is not None:
            return self.player.describe_waiting()  # "script finished": it expects nothing more
        return "no rules (only a greeting)"

    def _track(self, actions: list[Action]) -> list[Action]:
        for action in actions:
            if isinstance(action, (Close, Reset)):
                self.over = True
        return actions
