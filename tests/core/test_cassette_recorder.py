from __future__ import annotations

import pytest

from socketdouble import ConfigurationError
from socketdouble.core.cassette import CassetteRecorder, CloseEvent, DataEvent, Redactor


def test_recorder_merges_a_sides_consecutive_stream_writes_into_a_turn() -> None:
    recorder = CassetteRecorder("tcp", Redactor([rb"secret"]), started=100.0)
    log = recorder.open(100.5)
    log.data("client", b"GET sec", 100.6)
    log.data("client", b"ret\n", 100.7)  # the secret spans two reads: still redacted
    log.data("server", b"ok\n", 100.8)
    log.close("client", "fin", 100.9)
    cassette = recorder.cassette()
    [connection] = cassette.connections
    assert connection.opened == 0.5
    assert connection.events == [
        DataEvent(pytest.approx(0.1), "client", b"GET ******\n"),  # type: ignore[arg-type]
        DataEvent(pytest.approx(0.3), "server", b"ok\n"),  # type: ignore[arg-type]
        CloseEvent(pytest.approx(0.4), "client", "fin"),  # type: ignore[arg-type]
    ]
    assert cassette.redact == [rb"secret"]


def test_a_turn_keeps_its_chunks_so_recording_is_linear() -> None:
    # Appending to bytes copies the whole turn on every read (quadratic: minutes for
    # 200 MB), and even a growing bytearray copies itself as it outgrows its allocation:
    # the open turn keeps the chunks it was given and joins them once.
    recorder = CassetteRecorder("tcp")
    log = recorder.open(0.0)
    chunks = [bytes([65 + n % 26]) * 10 for n in range(101)]
    for chunk in chunks:
        log.data("client", chunk, 0.0)
    turn = log._log[-1]
    assert all(kept is given for kept, given in zip(turn, chunks, strict=True))  # no copies
    assert log.snapshot().events == [DataEvent(0.0, "client", b"".join(chunks))]
    assert log._log[-1] == b"".join(chunks)  # joined once; a later snapshot does not join again
    log.data("client", b"more", 1.0)
    assert log.snapshot().events == [DataEvent(0.0, "client", b"".join(chunks) + b"more")]


def test_turns_alternate_and_a_close_ends_the_open_one() -> None:
    recorder = CassetteRecorder("tcp")
    log = recorder.open(1.0)
    for n, side in enumerate(["client", "server", "server", "client", "server"]):
        log.data(side, b"%d," % n, 2.0 + n)  # type: ignore[arg-type]
    log.close("server", "fin", 7.0)
    log.data("server", b"late", 8.0)  # after the server's close: a turn of its own
    log.close("client", "reset", 9.0)
    expected = [
        DataEvent(1.0, "client", b"0,"),
        DataEvent(2.0, "server", b"1,2,"),
        DataEvent(4.0, "client", b"3,"),
        DataEvent(5.0, "server", b"4,"),
        CloseEvent(6.0, "server", "fin"),
        DataEvent(7.0, "server", b"late"),
        CloseEvent(8.0, "client", "reset"),
    ]
    assert log.snapshot().events == expected
    assert log.snapshot().events == expected  # taking it twice changes nothing


def test_a_reused_buffer_given_to_a_turn_is_copied() -> None:
    recorder = CassetteRecorder("tcp")
    log = recorder.open(0.0)
    buffer = bytearray(b"abc")
    log.data("client", buffer, 0.0)  # type: ignore[arg-type]
    buffer[:] = b"xyz"
    assert log.snapshot().events == [DataEvent(0.0, "client", b"abc")]


def test_the_cassette_holds_bytes_and_taking_it_leaves_the_turn_open() -> None:
    recorder = CassetteRecorder("tcp")
    log = recorder.open(0.0)
    log.data("client", b"abc", 0.1)
    [first] = recorder.cassette().connections[0].events
    assert type(first) is DataEvent and type(first.payload) is bytes and first.payload == b"abc"
    log.data("client", b"def", 0.2)  # the same turn goes on
    log.data("server", b"ok", 0.3)
    events = recorder.cassette().connections[0].events
    assert [(e.side, e.payload) for e in events if isinstance(e, DataEvent)] == [
        ("client", b"abcdef"),
        ("server", b"ok"),
    ]
    assert all(type(e.payload) is bytes for e in events if isinstance(e, DataEvent))
    assert first.payload == b"abc"  # an earlier cassette is not changed by later reads


def test_recorder_keeps_datagrams_apart() -> None:
    recorder = CassetteRecorder("udp")
    log = recorder.open(0.0)
    log.data("client", b"a", 0.1)
    log.data("client", b"b", 0.2)
    assert recorder.cassette().connections[0].client_turns() == [b"a", b"b"]


def test_a_bad_kind_is_a_configuration_error_naming_the_kinds() -> None:
    with pytest.raises(
        ConfigurationError, match="kind='sctp' is not a cassette kind; use one of tcp, udp, unix"
    ):
        CassetteRecorder("sctp")


@pytest.mark.parametrize(
    ("client", "server", "kept"),
    [
        (("127.0.0.1", 50412), ("127.0.0.1", 6379), (("127.0.0.1", 50412), ("127.0.0.1", 6379))),
        (("::1", 50412, 0, 0), ("::1", 6379), (("::1", 50412), ("::1", 6379))),  # IPv6: four fields
        (
            ("fe80::1%lo", 5, 0, 1),
            ("localhost", 6379),
            (("fe80::1", 5), None),
        ),  # scope dropped; names not kept
        ("", "/tmp/redis.sock", (None, None)),  # Unix: an unbound peer and a path
        (None, ("127.0.0.1", True), (None, None)),
    ],
)
def test_the_recorder_keeps_ip_endpoints_only(
    client: object, server: object, kept: tuple[object, object]
) -> None:
    recorder = CassetteRecorder("tcp")
    recorder.open(0.0, client, server)
    [connection] = recorder.cassette().connections
    assert (connection.client, connection.server) == kept
