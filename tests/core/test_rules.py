from __future__ import annotations

import re
import threading

import pytest

from socketdouble import ANY, ConfigurationError, prefix, regex
from socketdouble.core.actions import Reset, Send, Sleep
from socketdouble.core.conversation import Conversation
from socketdouble.core.framing import lines
from socketdouble.core.recording import Recording
from socketdouble.core.rules import Answer, RuleBook


def test_first_matching_rule_with_uses_left_answers() -> None:
    book = RuleBook()
    once = book.add(b"A", times=1).reply(b"first")
    always = book.add(b"A").reply(b"later")
    assert book.answer(b"A") == Answer(once, b"first", False)
    assert book.answer(b"A") == Answer(always, b"later", False)
    assert book.answer(b"A") == Answer(always, b"later", False)
    assert book.answer(b"B") is None
    assert (once.used, always.used) == (1, 2)


def test_unused_expectations_are_listed() -> None:
    book = RuleBook()
    expected = book.add(b"A", times=2)
    book.add(b"B")
    book.answer(b"A")
    assert book.unused_expectations() == [expected]
    assert "times=2 (used 1)" in expected.describe()


def test_nearest_rule_shares_the_longest_prefix() -> None:
    book = RuleBook()
    book.add(b"GET /a").reply(b"x")
    post = book.add(prefix(b"POST /b")).reply(b"y")
    assert book.nearest(b"POST /c") is post
    assert book.nearest(b"DELETE") is None  # no common start: nothing is "nearest"
    assert RuleBook().nearest(b"x") is None


def test_greetings_concatenate_in_order() -> None:
    book = RuleBook()
    book.add_greeting().reply(b"220 ")
    book.add_greeting().reply(b"ready\r\n")
    assert book.greeting() == b"220 ready\r\n"
    assert not book.empty


def test_snapshot_is_independent() -> None:
    book = RuleBook()
    book.add(b"A")
    copy = book.snapshot()
    book.add(b"B")
    assert len(copy.rules) == 1


@pytest.mark.parametrize("times", [0, -1, 1.5])
def test_bad_times(times: object) -> None:
    with pytest.raises(ConfigurationError, match="times="):
        RuleBook().add(b"A", times=times)  # type: ignore[arg-type]


def test_bad_reply() -> None:
    with pytest.raises(ConfigurationError, match="write b'pong'"):
        RuleBook().add(b"A").reply("pong")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="greeting is bytes"):
        RuleBook().add_greeting().reply("hi")  # type: ignore[arg-type]


def test_rule_order_holds_with_exact_bytes_found_by_lookup() -> None:
    """Exact-bytes rules come from the book's index; every other rule is still asked in its place."""
    asked: list[bytes] = []

    def is_b(message: bytes) -> bool:
        asked.append(message)
        return message == b"B"

    book = RuleBook()
    first_a = book.add(b"A", times=1).reply(b"a1")
    callable_b = book.add(is_b, times=1).reply(b"b1")
    regex_a = book.add(regex(rb"\AA")).reply(b"a2")
    later_a = book.add(b"A").reply(b"a3")  # behind the regex: never reached
    exact_b = book.add(b"B").reply(b"b2")
    chosen = [book.answer(message) for message in (b"A", b"A", b"B", b"B", b"C")]
    assert [answer.rule if answer else None for answer in chosen] == [
        first_a,  # before the callable: it is not asked
        regex_a,  # the spent exact rule is passed, the callable asked, the regex answers
        callable_b,
        exact_b,  # the callable is spent: not asked again
        None,
    ]
    assert asked == [b"A", b"B"]  # exactly what asking every rule in turn would have asked
    assert (first_a.used, callable_b.used, regex_a.used, later_a.used, exact_b.used) == (1, 1, 1, 0, 1)


def test_a_snapshot_has_its_own_index() -> None:
    book = RuleBook()
    book.add(b"A").reply(b"a")
    copy = book.snapshot()
    book.add(b"B").reply(b"b")
    copy.add(b"C").reply(b"c")
    assert (book.answer(b"C"), copy.answer(b"B")) == (None, None)
    assert copy.answer(b"C") == Answer(copy.rules[1], b"c", False)


def test_a_reaction_carries_its_actions_made_once() -> None:
    book = RuleBook()
    rule = book.add(b"A").reply(b"x", delay=0.5)
    assert rule._reaction.actions == (Sleep(0.5), Send(b"x"))
    assert rule.reset()._reaction.actions == (Sleep(0.5), Send(b"x"), Reset())
    assert rule._reaction.ends
    assert book.add(b"B").reply(lambda m: m)._reaction.actions is None  # its bytes come per message
    assert book.add(b"C")._reaction.actions == ()


# -- the builder is order-free ---------------------------------------------------------


def test_close_then_reply_keeps_the_close() -> None:
    book = RuleBook()
    book.add(b"QUIT").close().reply(b"bye")
    book.add(b"EXIT").reply(b"bye").close()
    book.add(b"STAY").close().reply(b"ok", close=False)
    book.add(b"BARE")
    assert book.answer(b"QUIT") == Answer(book.rules[0], b"bye", True)
    assert book.answer(b"EXIT") == Answer(book.rules[1], b"bye", True)
    assert book.answer(b"STAY") == Answer(book.rules[2], b"ok", False)
    assert book.answer(b"BARE") == Answer(book.rules[3], None, False)


# -- a rule on a running server answers only once configured ----------------------------


class Asked:
    """A matcher that says when a worker is deciding: answer() has the message in hand."""

    def __init__(self, expected: bytes | None) -> None:
        self.expected = expected
        self.event = threading.Event()

    def __call__(self, message: bytes) -> bool:
        self.event.set()
        return self.expected is None or message == self.expected


def _answer_in_thread(book: RuleBook, message: bytes) -> tuple[threading.Thread, list[Answer | None]]:
    got: list[Answer | None] = []
    thread = threading.Thread(target=lambda: got.append(book.answer(message)))
    thread.start()
    return thread, got


def test_a_message_between_on_and_reply_gets_the_reply() -> None:
    book = RuleBook()
    book.settle_timeout = 30.0  # far longer than the test: only reply() may end the wait
    asked = Asked(b"PING")
    rule = book.add(asked, pending=True)  # what on() does on a running server
    thread, got = _answer_in_thread(book, b"PING")
    assert asked.event.wait(5)  # the worker is deciding on the rule before reply() is given
    rule.reply(b"PONG", close=True)
    thread.join(5)
    assert got == [Answer(rule, b"PONG", True)]
    assert rule.used == 1


def test_a_pending_rule_answers_nothing_once_the_test_moves_on() -> None:
    book = RuleBook()
    book.settle_timeout = 30.0
    asked = Asked(None)
    bare = book.add(asked, pending=True)  # server.on(sd.ANY) on a running server
    thread, got = _answer_in_thread(book, b"anything")
    assert asked.event.wait(5)
    book.add(b"next", pending=True)  # the next on(): the bare rule is complete as it is
    thread.join(5)
    assert got == [Answer(bare, None, False)]
    assert not bare.pending


def test_a_pending_rule_that_is_never_configured_answers_nothing_after_the_timeout() -> None:
    book = RuleBook()
    book.settle_timeout = 0.01
    bare = book.add(ANY, pending=True)
    assert book.answer(b"x") == Answer(bare, None, False)
    assert book.answer(b"y") == Answer(bare, None, False)  # settled: no second wait
    assert bare.used == 2


def test_published_rules_before_a_pending_one_answer_without_waiting() -> None:
    book = RuleBook()
    book.settle_timeout = 30.0
    ping = book.add(b"PING").reply(b"PONG")
    book.add(ANY, pending=True)
    assert book.answer(b"PING") == Answer(ping, b"PONG", False)


def test_settle_takes_pending_rules_as_they_are() -> None:
    book = RuleBook()
    rule = book.add(b"A", pending=True)
    book.settle()
    assert not rule.pending
    assert book.snapshot().settle_timeout == 0.0  # a forked child cannot hear of a later reply()


def test_the_answer_is_the_one_the_rule_had_when_chosen() -> None:
    book = RuleBook()
    rule = book.add(b"X").reply(b"first")
    chosen = book.answer(b"X")
    rule.reply(b"second", close=True)  # reconfigured while a worker sends the first answer
    assert chosen == Answer(rule, b"first", False)
    assert book.answer(b"X") == Answer(rule, b"second", True)


# -- what an unmatched message is shown beside ---------------------------------------------


def test_exact_and_prefix_rules_sharing_a_start_are_nearest() -> None:
    book = RuleBook()
    book.add(b"PING\n").reply(b"PONG\n")
    assert (
        book.explain(b"PONG\n") == "nearest: rule 1: on(b'PING\\n') -> b'PONG\\n' (the first 1 byte(s) agree)"
    )


def is_put(message: bytes) -> bool:
    return message.startswith(b"PUT")


def test_regex_any_and_callable_rules_are_listed_not_nearest() -> None:
    book = RuleBook()
    book.add(regex(rb"\AGET ")).reply(b"ok")
    book.add(is_put)
    book.add(ANY, times=1).reply(b"once")
    assert book.answer(b"first") is not None  # spends ANY
    hint = book.explain(b"DELETE /x") or ""
    assert not hint.startswith("nearest")
    assert hint.splitlines() == [
        "matches a spent rule: rule 3: on(ANY, times=1 (used 1)) -> b'once'",
        "rules (3):",
        "  rule 1: on(regex(b'\\\\AGET ')) -> b'ok' (used 0)",
        "  rule 2: on(is_put) (used 0)",
        "  rule 3: on(ANY, times=1 (used 1)) -> b'once'",
    ]


def test_nothing_in_common_says_so_and_lists_the_rules() -> None:
    book = RuleBook()
    book.add(b"GET /a").reply(b"A")
    assert book.explain(b"POST") == "no rule matches\nrules (1):\n  rule 1: on(b'GET /a') -> b'A' (used 0)"
    assert RuleBook().explain(b"x") is None


def test_a_long_rule_list_is_cut() -> None:
    book = RuleBook()
    for n in range(25):
        book.add(regex(rb"\A%d\Z" % n))
    lines = (book.explain(b"x") or "").splitlines()
    assert len(lines) == 2 + RuleBook.LISTED + 1
    assert lines[-2].startswith("  rule 10: ")
    assert lines[-1] == "  ... and 15 more"


# -- what a diff or a repr shows -------------------------------------------------------------


def test_reprs_show_the_content() -> None:
    book = RuleBook()
    rule = book.add(b"QUIT", times=2).reply(b"bye", close=True)
    book.answer(b"QUIT")
    assert repr(rule) == "<Rule rule 1: on(b'QUIT', times=2 (used 1)) -> b'bye' then close>"
    assert repr(book.add(ANY, pending=True)) == "<Rule rule 2: on(ANY) (used 0), pending>"
    assert repr(book.add_greeting().reply(b"220 ready\r\n")) == "<Greeting b'220 ready\\r\\n'>"
    assert repr(book) == "<RuleBook 2 rule(s), 1 greeting(s)>"


# -- delay= and reset() ----------------------------------------------------------------------


def test_a_delayed_reply_and_a_reset_are_part_of_the_answer() -> None:
    book = RuleBook()
    book.add(b"SLOW").reply(b"late", delay=0.25)
    book.add(b"CRASH").reply(b"bye").reset()
    book.add(b"RST").reset()
    assert book.answer(b"SLOW") == Answer(book.rules[0], b"late", False, 0.25, False)
    assert book.answer(b"CRASH") == Answer(book.rules[1], b"bye", False, 0.0, True)
    assert book.answer(b"RST") == Answer(book.rules[2], None, False, 0.0, True)


def test_reset_and_close_and_reply_come_in_any_order() -> None:
    book = RuleBook()
    first = book.add(b"A").reset().reply(b"x", delay=1)
    second = book.add(b"B").reply(b"x", delay=1).reset()
    assert (first.response, first.delay, first.resets) == (b"x", 1.0, True)
    assert (second.response, second.delay, second.resets) == (b"x", 1.0, True)
    assert book.add(b"C").reply(b"x", delay=1).reply(b"y").delay == 0.0  # a new reply, a new delay


def test_describe_shows_the_delay_and_the_reset() -> None:
    book = RuleBook()
    assert book.add(b"A").reply(b"x", delay=0.5).describe() == "rule 1: on(b'A') -> b'x' after 0.5 s"
    assert book.add(b"B").reply(b"x").reset().describe() == "rule 2: on(b'B') -> b'x' then reset"
    assert book.add(b"C").reset().describe() == "rule 3: on(b'C') -> reset"
    assert book.add(b"D").reply(lambda m: None, delay=2).close().describe().endswith("after 2 s then close")
    assert "after 0.5 s" in repr(book.rules[0])


@pytest.mark.parametrize("delay", [-1, -0.1, float("nan"), float("inf"), "1", None, True, b"1"])
def test_a_bad_delay_names_the_value(delay: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"delay={re.escape(repr(delay))}\): delay is the seconds"):
        RuleBook().add(b"A").reply(b"x", delay=delay)  # type: ignore[arg-type]


def test_conversation_sleeps_before_the_reply_and_resets_after_it() -> None:
    book = RuleBook()
    book.add(b"A\n").reply(b"a", delay=0.2).reset()
    book.add(b"B\n").reply(b"b", close=True).reset()  # a reset wins over a close
    record = Recording().open_connection(None)
    conversation = Conversation(record, book, decoder=lines().decoder())
    assert conversation.receive(b"A\n") == [Sleep(0.2), Send(b"a"), Reset()]
    assert conversation.over
    other = Conversation(Recording().open_connection(None), book, decoder=lines().decoder())
    assert other.receive(b"B\n") == [Send(b"b"), Reset()]


def test_clear_forgets_the_indexed_rules_too() -> None:
    book = RuleBook()
    book.add(b"A").reply(b"a")
    book.add(regex(rb"\AB")).reply(b"b")
    assert book.clear() == 2
    assert (book.answer(b"A"), book.answer(b"B")) == (None, None)
    later = book.add(b"B").reply(b"b2")
    assert book.answer(b"B") == Answer(later, b"b2", False)
    assert later.number == 1


def test_clear_wakes_a_worker_waiting_on_a_pending_rule() -> None:
    book = RuleBook()
    book.settle_timeout = 30.0
    asked = Asked(b"X")
    book.add(asked, pending=True)
    thread, got = _answer_in_thread(book, b"X")
    assert asked.event.wait(5)
    assert book.clear() == 1  # the rule is gone: the worker decides again, on no rule
    thread.join(5)
    assert not thread.is_alive() and got == [None]


def test_may_block_counts_rules_that_run_the_tests_code_or_wait() -> None:
    book = RuleBook()
    plain = book.add(b"A")
    plain.reply(b"a")
    assert not book.may_block
    function = book.add(b"B")
    function.reply(lambda message: message)
    assert book.may_block
    function.reply(b"b")  # replaced by fixed bytes: nothing blocks again
    assert not book.may_block
    book.add(b"C").reply(b"c", delay=0.5)
    assert book.may_block
    assert book.snapshot().may_block
    book.clear()
    assert not book.may_block
    book.add(lambda message: True)  # a predicate is the test's code too
    assert book.may_block
