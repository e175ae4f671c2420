from __future__ import annotations

import pytest

from socketdouble import ConfigurationError, Framing, FramingError, length_prefixed, lines, raw


def test_lines_keep_the_delimiter_and_wait_for_the_rest() -> None:
    decoder = lines().decoder()
    assert decoder.feed(b"PING\nPO") == [b"PING\n"]
    assert decoder.pending == b"PO"
    assert decoder.feed(b"NG\n\n") == [b"PONG\n", b"\n"]
    assert decoder.pending == b""


def test_lines_with_a_multibyte_delimiter_split_across_reads() -> None:
    decoder = lines(b"\r\n").decoder()
    assert decoder.feed(b"EHLO x\r") == []
    assert decoder.feed(b"\nQUIT\r\n") == [b"EHLO x\r\n", b"QUIT\r\n"]


def test_a_lone_delimiter_byte_is_not_a_line() -> None:
    decoder = lines(b"\r\n").decoder()
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"") == []
    assert decoder.pending == b"\r"


def test_an_over_long_line_is_a_framing_error_naming_the_limit() -> None:
    decoder = lines(max_length=8).decoder()
    assert decoder.feed(b"short\n") == [b"short\n"]
    with pytest.raises(FramingError, match="max_length=8"):
        decoder.feed(b"0123456789")


def test_an_over_long_complete_line_is_an_error_too() -> None:
    with pytest.raises(FramingError, match="max_length=4"):
        lines(max_length=4).decoder().feed(b"abcdef\n")


def test_length_prefixed_includes_the_prefix() -> None:
    decoder = length_prefixed(size=2, byteorder="little").decoder()
    assert decoder.feed(b"\x03\x00ab") == []
    assert decoder.feed(b"c\x00\x00") == [b"\x03\x00abc", b"\x00\x00"]


def test_length_prefixed_rejects_impossible_lengths() -> None:
    decoder = length_prefixed(size=4, max_length=100).decoder()
    with pytest.raises(FramingError, match="announces 4294967295 bytes"):
        decoder.feed(b"\xff\xff\xff\xff")


def test_raw_gives_each_read() -> None:
    decoder = raw().decoder()
    assert decoder.feed(b"ab") == [b"ab"]
    assert decoder.feed(b"") == []
    assert not raw().segmentation_independent


def test_a_user_framing_needs_only_frame_length() -> None:
    class Fixed(Framing):
        def frame_length(self, buffer: bytes | bytearray) -> int | None:
            return 3 if len(buffer) >= 3 else None

    decoder = Fixed().decoder()
    assert decoder.feed(b"abcdefg") == [b"abc", b"def"]
    assert decoder.pending == b"g"


def test_a_user_framing_returning_nonsense_is_reported() -> None:
    class Broken(Framing):
        def frame_length(self, buffer: bytes | bytearray) -> int | None:
            return 0

    with pytest.raises(FramingError, match=r"must be in 1\.\.2 or None"):
        Broken().decoder().feed(b"ab")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: lines(b""), "non-empty bytes"),
        (lambda: lines("\n"), "non-empty bytes"),  # type: ignore[arg-type]
        (lambda: lines(max_length=0), "max_length=0"),
        (lambda: length_prefixed(size=3), "1, 2, 4 or 8"),
        (lambda: length_prefixed(byteorder="middle"), "'big' or 'little'"),  # type: ignore[arg-type]
    ],
)
def test_bad_framing_arguments_say_what_to_do(make: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make()  # type: ignore[operator]
