"""However a client's writes are split, the conversation sees and says the same."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from socketdouble import length_prefixed, lines, regex
from socketdouble.core.actions import Action
from socketdouble.core.conversation import Conversation
from socketdouble.core.framing import Framing
from socketdouble.core.recording import Recording
from socketdouble.core.rules import RuleBook

line_messages = st.lists(
    st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"") + b"\n"), min_size=1, max_size=12
)
prefixed_messages = st.lists(
    st.binary(max_size=20).map(lambda b: len(b).to_bytes(2, "big") + b), min_size=1, max_size=12
)


def play(framing: Framing, chunks: list[bytes]) -> tuple[list[Action], list[bytes], list[bytes], bytes]:
    rules = RuleBook()
    rules.add(regex(rb"\A.?a")).reply(lambda m: m.upper())
    rules.add(regex(rb"b"), times=3).reply(b"B!")
    recording = Recording("p")
    record = recording.open_connection(None)
    conversation = Conversation(record, rules, None, framing.decoder())
    actions: list[Action] = []
    for chunk in chunks:
        actions.extend(conversation.receive(chunk))
    return actions, recording.requests, recording.unmatched, record.received


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges) if b > a]


@settings(max_examples=300, deadline=None)
@given(messages=line_messages, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=40))
def test_line_framing_is_independent_of_segmentation(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(messages)
    whole = play(lines(), [stream])
    assert play(lines(), split(stream, cuts)) == whole
    assert play(lines(), [bytes([b]) for b in stream]) == whole
    assert whole[1] == messages


@settings(max_examples=300, deadline=None)
@given(messages=prefixed_messages, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=40))
def test_length_prefixed_framing_is_independent_of_segmentation(
    messages: list[bytes], cuts: list[int]
) -> None:
    framing = length_prefixed(size=2)
    stream = b"".join(messages)
    whole = play(framing, [stream])
    assert play(framing, split(stream, cuts)) == whole
    assert play(framing, [bytes([b]) for b in stream]) == whole
    assert whole[1] == messages
