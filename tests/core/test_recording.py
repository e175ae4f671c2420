from __future__ import annotations

import threading

import pytest

from socketdouble import WaitTimeout
from socketdouble.core.events import Event, EventKind
from socketdouble.core.payload import is_text, show_bytes
from socketdouble.core.recording import Recording


def test_connection_record_collects_bytes_messages_and_close() -> None:
    recording = Recording("r")
    record = recording.open_connection(("127.0.0.1", 5))
    record.on_received(b"ab")
    record.on_message(b"ab")
    record.on_sent(b"ok")
    record.on_closed("client closed")
    record.on_closed("ignored: already closed")
    assert (record.received, record.sent, record.requests) == (b"ab", b"ok", [b"ab"])
    assert record.closed and record.close_reason == "client closed"
    assert recording.connections == [record]


def test_wait_for_requests_returns_as_soon_as_they_arrive() -> None:
    recording = Recording("r")
    record = recording.open_connection(None)
    arrived = threading.Event()

    def later() -> None:
        arrived.wait(5)
        record.on_message(b"one")
        record.on_message(b"two")

    thread = threading.Thread(target=later)
    thread.start()
    arrived.set()
    assert recording.wait_for_requests(2, timeout=5) == [b"one", b"two"]
    thread.join(5)


def test_wait_for_requests_times_out_with_the_transcript() -> None:
    recording = Recording("my server")
    recording.open_connection(("127.0.0.1", 9)).on_message(b"only one\n")
    with pytest.raises(WaitTimeout, match="for 2 request") as info:
        recording.wait_for_requests(2, timeout=0.01)
    assert isinstance(info.value, TimeoutError)
    assert "'only one\\n'" in str(info.value)


def test_transcript_shows_text_as_text_and_binary_as_hex() -> None:
    recording = Recording("t")
    record = recording.open_connection(("::1", 7))
    record.on_message(b"GET /\r\n")
    record.on_sent(b"\x00\x01\xffhello")
    record.on_unmatched(b"BAD\n", "nearest: rule 1: on(b'GOOD\\n')")
    record.on_error(ValueError("boom"))
    record.on_closed("client reset")
    text = str(recording)
    assert "connection 1 from [::1]:7" in text
    assert "<- 'GET /\\r\\n'" in text
    assert "0000  00 01 ff 68 65 6c 6c 6f" in text
    assert "!! unmatched 'BAD\\n'" in text
    assert "nearest: rule 1" in text
    assert "!! error: ValueError: boom" in text
    assert "closed: client reset" in text


def test_is_text() -> None:
    assert is_text(b"plain\tline\r\n")
    assert is_text("caf\u00e9".encode())
    assert not is_text(b"\x00bin")
    assert not is_text(b"\xff")


def test_long_payloads_are_cut_in_the_transcript() -> None:
    assert "more bytes" in show_bytes(b"a" * 5000)


def test_wait_for_requests_returns_exactly_the_first_n() -> None:
    recording = Recording("test")
    connection = recording.open_connection(("127.0.0.1", 1))
    for message in (b"one\n", b"two\n", b"three\n"):
        connection.on_message(message)
    assert recording.wait_for_requests(2, timeout=0) == [b"one\n", b"two\n"]
    assert recording.wait_for_requests(3, timeout=0) == [b"one\n", b"two\n", b"three\n"]


def test_a_hint_of_many_lines_sits_under_its_message() -> None:
    recording = Recording("t")
    record = recording.open_connection(("127.0.0.1", 7))
    record.on_unmatched(b"DEL\n", "no rule matches\nrules (2):\n  rule 1: on(ANY)\n  rule 2: on(b'x')")
    lines = str(recording).splitlines()
    at = next(i for i, line in enumerate(lines) if "!! unmatched 'DEL\\n'" in line)
    pad = " " * 16
    assert lines[at + 1 : at + 5] == [
        pad + "no rule matches",
        pad + "rules (2):",
        pad + "  rule 1: on(ANY)",
        pad + "  rule 2: on(b'x')",
    ]


def test_recording_repr_shows_its_name_and_counts() -> None:
    recording = Recording("SMTP double")
    record = recording.open_connection(("127.0.0.1", 7))
    record.on_message(b"EHLO x\r\n")
    record.on_unmatched(b"HELO\r\n", "no rule matches")
    assert repr(recording) == (
        "<Recording 'SMTP double': 1 connection(s), 1 request(s), 1 unmatched, 0 error(s)>"
    )


def test_a_read_and_its_messages_recorded_in_one_step_are_one_event_each() -> None:
    recording = Recording("r")
    batched, separate = recording.open_connection(None), recording.open_connection(None)
    batched.on_received_messages(b"a\nb\nc", (b"a\n", b"b\n"))
    separate.on_received(b"a\nb\nc")
    separate.on_message(b"a\n")
    separate.on_message(b"b\n")
    assert (batched.received, batched.requests) == (separate.received, separate.requests)
    assert [(e.kind, e.data) for e in batched.events] == [(e.kind, e.data) for e in separate.events]
    assert recording.requests == [b"a\n", b"b\n", b"a\n", b"b\n"]
    batched.on_received_messages(b"c", ())  # a read that completes nothing: bytes only
    assert batched.received == b"a\nb\nc" + b"c"
    assert len(batched.events) == 3


def test_events_are_true_events_with_their_own_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = Recording("r")
    record = recording.open_connection(None)
    ticks = iter(range(100, 200))
    under_lock: list[bool] = []

    def clock() -> float:
        under_lock.append(recording._mutex.locked())  # read under the lock: offsets never go back
        return float(next(ticks))

    monkeypatch.setattr("socketdouble.core.recording._monotonic", clock)
    recording.started = 100.0
    record.on_received_messages(b"x\ny\n", (b"x\n", b"y\n"))
    record.on_sent(b"ok")
    record.on_message(b"z\n")
    assert record.events[1:] == [
        Event(0.0, EventKind.MESSAGE, b"x\n"),  # one read: one clock reading for its messages
        Event(0.0, EventKind.MESSAGE, b"y\n"),
        Event(1.0, EventKind.SEND, b"ok"),
        Event(2.0, EventKind.MESSAGE, b"z\n"),
    ]
    assert all(type(event) is Event for event in record.events)
    assert under_lock == [True, True, True]


def test_offsets_never_go_back_with_many_writers() -> None:
    recording = Recording("r")
    record = recording.open_connection(None)

    def write() -> None:
        for _ in range(500):
            record.on_received_messages(b"m", (b"m",))
            record.on_sent(b"r")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    offsets = [event.offset for event in record.events]
    assert len(offsets) == 1 + 4 * 500 * 2
    assert offsets == sorted(offsets)


def test_a_waiter_wakes_once_every_message_of_a_read_is_recorded() -> None:
    recording = Recording("r")
    record = recording.open_connection(None)
    waiting = threading.Event()
    got: list[list[bytes]] = []

    def wait() -> None:
        waiting.set()
        got.append(recording.wait_for_requests(2, timeout=5))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait(5)
    record.on_received_messages(b"1\n2\n", (b"1\n", b"2\n"))
    thread.join(5)
    assert got == [[b"1\n", b"2\n"]]
