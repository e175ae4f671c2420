from __future__ import annotations

from collections.abc import Sequence

import pytest

from socketdouble import Script, length_prefixed, lines, prefix
from socketdouble.core.actions import Close, Reset, Send, Sleep
from socketdouble.core.conversation import Conversation
from socketdouble.core.events import EventKind
from socketdouble.core.recording import ConnectionRecord, Recording
from socketdouble.core.rules import RuleBook


def converse(rules: RuleBook, script: Script | None = None, **kw: bool) -> tuple[Conversation, Recording]:
    recording = Recording("test")
    record = recording.open_connection(("127.0.0.1", 1))
    return Conversation(record, rules, script, lines(b"\r\n").decoder(), **kw), recording


def test_rules_answer_each_framed_message() -> None:
    rules = RuleBook()
    rules.add(b"PING\r\n").reply(b"+PONG\r\n")
    conversation, recording = converse(rules)
    assert conversation.receive(b"PI") == []
    assert conversation.receive(b"NG\r\nPING\r\n") == [Send(b"+PONG\r\n"), Send(b"+PONG\r\n")]
    assert recording.requests == [b"PING\r\n", b"PING\r\n"]
    assert recording.unmatched == []


def test_unmatched_messages_carry_the_nearest_rule() -> None:
    rules = RuleBook()
    rules.add(b"PING\r\n").reply(b"+PONG\r\n")
    conversation, recording = converse(rules)
    assert conversation.receive(b"PONG\r\n") == []
    [(_, message, hint)] = recording.unmatched_details
    assert message == b"PONG\r\n"
    assert "rule 1: on(b'PING\\r\\n')" in hint


def test_a_recorder_matches_nothing_and_misses_nothing() -> None:
    conversation, recording = converse(RuleBook())
    assert conversation.open() == []
    assert conversation.receive(b"anything\r\n") == []
    assert recording.requests == [b"anything\r\n"]
    assert recording.unmatched == []


def test_callable_replies_get_the_message_and_may_answer_nothing() -> None:
    rules = RuleBook()
    rules.add(prefix(b"ECHO ")).reply(lambda m: m[5:])
    rules.add(b"QUIET\r\n").reply(lambda m: None)
    conversation, _ = converse(rules)
    assert conversation.receive(b"ECHO hi\r\n") == [Send(b"hi\r\n")]
    assert conversation.receive(b"QUIET\r\n") == []


def test_a_failing_reply_function_is_recorded_as_an_error() -> None:
    rules = RuleBook()
    rules.add(b"X\r\n").reply(lambda m: 1 // 0)  # type: ignore[arg-type, return-value]
    rules.add(b"Y\r\n").reply(lambda m: "text")  # type: ignore[arg-type, return-value]
    for message, error in ((b"X\r\n", ZeroDivisionError), (b"Y\r\n", TypeError)):
        conversation, recording = converse(rules)
        # Closed: the client must not wait for an answer that will never come.
        assert conversation.receive(message) == [Close()]
        assert [type(e) for e in recording.errors] == [error]
        assert conversation.over
    assert "must return bytes or None" in str(recording.errors[0])


def test_greeting_then_script_then_rules() -> None:
    rules = RuleBook()
    rules.add_greeting().reply(b"hello\r\n")
    rules.add(b"MORE\r\n").reply(b"ok\r\n")
    script = Script().expect(b"A\r\n").send(b"B\r\n")
    conversation, recording = converse(rules, script)
    assert conversation.open() == [Send(b"hello\r\n")]
    assert conversation.receive(b"A\r\nMORE\r\n") == [Send(b"B\r\n"), Send(b"ok\r\n")]
    assert recording.unmatched == []


def test_script_mismatch_is_unmatched_with_the_expected_step_and_closes() -> None:
    conversation, recording = converse(RuleBook(), Script().expect(b"A\r\n").send(b"B\r\n"))
    assert conversation.receive(b"Z\r\nA\r\n") == [Close()]
    assert recording.unmatched_details[0][2] == "expected: script step 1: expect(b'A\\r\\n')"
    # what came after the close is still recorded, and answered by nobody
    assert recording.requests == [b"Z\r\n", b"A\r\n"]
    assert conversation.over


def test_a_framing_error_is_recorded_and_closes() -> None:
    recording = Recording("test")
    record = recording.open_connection(None)
    conversation = Conversation(record, RuleBook(), None, length_prefixed(size=1, max_length=2).decoder())
    assert conversation.receive(b"\x09abc") == [Close()]
    assert "announces 9 bytes" in str(record.error)


def test_an_incomplete_message_at_close_is_unmatched_when_rules_expect_messages() -> None:
    rules = RuleBook()
    rules.add(b"A\r\n")
    conversation, recording = converse(rules)
    conversation.receive(b"A\r\nhalf")
    conversation.end()
    assert recording.unmatched == [b"half"]


def test_an_incomplete_message_at_close_is_a_note_for_a_recorder() -> None:
    conversation, recording = converse(RuleBook())
    conversation.receive(b"half")
    conversation.end()
    assert recording.unmatched == []
    assert "incomplete message: b'half'" in recording.transcript()


def test_passive_conversations_only_record() -> None:
    rules = RuleBook()
    rules.add(b"A\r\n").reply(b"never")
    conversation, recording = converse(rules, passive=True)
    assert conversation.receive(b"A\r\n") == []
    assert recording.requests == [b"A\r\n"]


def test_rule_close_after_reply() -> None:
    rules = RuleBook()
    rules.add(b"QUIT\r\n").reply(b"bye\r\n", close=True)
    conversation, _ = converse(rules)
    assert conversation.receive(b"QUIT\r\n") == [Send(b"bye\r\n"), Close()]


# -- what the hot path saves must not change what is recorded or answered --------------------


def kinds(recording: Recording) -> list[tuple[str, bytes]]:
    [connection] = recording.connections
    return [(event.kind.value, event.data) for event in connection.events if event.kind is not EventKind.OPEN]


def test_a_read_of_one_message_is_recorded_with_it_and_several_each_before_its_answer() -> None:
    rules = RuleBook()
    rules.add(b"ok\r\n").reply(b"fine\r\n")
    conversation, recording = converse(rules)
    assert conversation.receive(b"bad\r\n") == []
    assert conversation.receive(b"bad\r\nok\r\n") == [Send(b"fine\r\n")]
    assert kinds(recording) == [
        ("in", b"bad\r\n"),
        ("unmatched", b"bad\r\n"),
        ("in", b"bad\r\n"),
        ("unmatched", b"bad\r\n"),  # between the two messages of one read, where it came
        ("in", b"ok\r\n"),
    ]
    [connection] = recording.connections
    assert connection.received == b"bad\r\nbad\r\nok\r\n"
    offsets = [event.offset for event in connection.events]
    assert offsets == sorted(offsets)


def test_a_framing_error_still_records_the_bytes_that_caused_it() -> None:
    conversation, recording = converse(RuleBook())
    conversation.decoder = lines(b"\n", max_length=4).decoder()
    assert conversation.receive(b"far too long\n") == [Close()]
    [connection] = recording.connections
    assert connection.received == b"far too long\n"
    assert recording.errors


def test_a_changed_rule_answers_with_its_new_actions() -> None:
    rules = RuleBook()
    rule = rules.add(b"X\r\n").reply(b"1\r\n")
    conversation, _ = converse(rules)
    first = conversation.receive(b"X\r\n")
    assert first == [Send(b"1\r\n")]
    first.append(Close())  # the list handed out is the caller's: the rule's own actions are untouched
    rule.reply(b"2\r\n", delay=0.25)
    assert conversation.receive(b"X\r\n") == [Sleep(0.25), Send(b"2\r\n")]
    assert not conversation.over
    rule.reset()
    assert conversation.receive(b"X\r\n") == [Sleep(0.25), Send(b"2\r\n"), Reset()]
    assert conversation.over


class RelayingSink(ConnectionRecord):
    """A sink that passes rule uses on (as a forked child's does): it must hear of each."""

    wants_rule_uses = True

    def __init__(self, recording: Recording) -> None:
        super().__init__(recording, 1, None)
        self.uses: list[int] = []

    def on_rule_used(self, number: int) -> None:
        self.uses.append(number)


class SilentSink(ConnectionRecord):
    def on_rule_used(self, number: int) -> None:
        raise AssertionError("a recording counts nothing here: the call is skipped")


@pytest.mark.parametrize("framing", [b"\r\n", None], ids=["stream", "datagram"])
def test_rule_uses_reach_a_sink_that_wants_them_and_only_such_a_sink(framing: bytes | None) -> None:
    rules = RuleBook()
    rules.add(b"A\r\n").reply(b"a")
    rules.add(b"B\r\n").reply(lambda m: b"b")
    relaying = RelayingSink(Recording())
    for sink in (relaying, SilentSink(Recording(), 1, None)):
        conversation = Conversation(sink, rules, None, lines(framing).decoder() if framing else None)
        messages: Sequence[bytes] = (b"A\r\n", b"B\r\n")
        answered = [conversation.receive(m) if framing else conversation.datagram(m) for m in messages]
        assert answered == [[Send(b"a")], [Send(b"b")]]
        assert sink.requests == list(messages)
    assert relaying.uses == [1, 2]
