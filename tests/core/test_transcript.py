"""The transcript renders a frozen view: no Recording, no lock needed."""

from __future__ import annotations

from socketdouble.core.events import Event, EventKind
from socketdouble.core.recording import Recording
from socketdouble.core.transcript import ConnectionView, RecordingView, render


def test_a_view_renders_without_a_recording() -> None:
    view = RecordingView(
        name="cache",
        connections=(
            ConnectionView(
                1,
                ("::1", 4242),
                (
                    Event(0.0, EventKind.OPEN),
                    Event(0.001, EventKind.MESSAGE, b"PING\r\n"),
                    Event(0.002, EventKind.SEND, b"\x00\xff"),
                    Event(0.003, EventKind.CLOSE, text="client closed"),
                ),
            ),
        ),
        requests=1,
        unmatched=0,
        errors=1,
        rejected=(("127.0.0.1", 1),),
        server_errors=(OSError("accept failed"),),
    )
    text = render(view)
    assert text.splitlines()[:3] == [
        "transcript of cache: 1 connection(s), 1 request(s), 0 unmatched, 1 error(s)",
        "rejected by verify_request: ('127.0.0.1', 1)",
        "!! server error: OSError('accept failed')",
    ]
    assert "connection 1 from [::1]:4242" in text
    assert "<- 'PING\\r\\n'" in text
    assert "closed: client closed" in text


def test_the_view_is_a_snapshot() -> None:
    recording = Recording("s")
    connection = recording.open_connection(("127.0.0.1", 1))
    with recording.lock:
        view = recording._view()
    connection.on_message(b"later\n")
    assert view.requests == 0 and len(view.connections[0].events) == 1
    assert "later" in recording.transcript() and "later" not in render(view)


def test_fault_events_and_the_seed_once_a_fault_acted() -> None:
    recording = Recording("flaky")
    recording.seed = 1234
    record = recording.open_connection(("127.0.0.1", 5))
    assert "seed" not in recording.transcript()  # no fault acted: the seed says nothing
    record.on_fault("reset after 3 bytes to the client")
    text = recording.transcript()
    assert text.splitlines()[0].endswith("(faults seeded with seed=1234)")
    assert "~~ fault: reset after 3 bytes to the client" in text
    assert record.faults == ["reset after 3 bytes to the client"]
