from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketdouble.core.payload import escape, is_mostly_printable, is_text, show_bytes, unescape

POSTGRES_QUERY = b"Q\x00\x00\x00\x1eSELECT name FROM users\x00"


@given(st.binary())
def test_escape_round_trips_any_bytes(data: bytes) -> None:
    text = escape(data)
    assert unescape(text) == data
    assert text.isascii() and text.isprintable()  # survives any editor, diff or grep


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_other_than_backslash_is_itself(text: str) -> None:
    assert escape(text.encode()) == text.replace("\\", "\\\\")


@pytest.mark.parametrize(
    ("data", "escaped"),
    [
        (b"", ""),
        (b"\\", "\\\\"),
        (b"C:\\x41", "C:\\\\x41"),  # a literal backslash-x in the bytes is not an escape
        (b"\\\\", "\\\\\\\\"),
        (b"\x00", "\\x00"),
        (b"\x7f", "\\x7f"),
        (b"\x80\xff", "\\x80\\xff"),
        (b"caf\xc3\xa9", "caf\\xc3\\xa9"),  # non-ASCII UTF-8 is escaped byte by byte
        (b"\xc3(", "\\xc3("),  # invalid UTF-8
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),  # an encoded surrogate: invalid UTF-8
        (b"a\tb\r\n", "a\\tb\\r\\n"),
        (b"\x0b\x0c\x1b", "\\x0b\\x0c\\x1b"),
        (b'"quoted"', '"quoted"'),
        (POSTGRES_QUERY, "Q\\x00\\x00\\x00\\x1eSELECT name FROM users\\x00"),
    ],
)
def test_escape_targeted_cases(data: bytes, escaped: str) -> None:
    assert escape(data) == escaped
    assert unescape(escaped) == data


def test_unescape_accepts_upper_case_hex_from_a_hand_edit() -> None:
    assert unescape("\\xFF\\xaB") == b"\xff\xab"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc\\", r"bad escape '\\\\' at character 3"),
        ("\\x4", r"bad escape '\\\\x' at character 0"),
        ("\\xzz", r"bad escape '\\\\x'"),
        ("\\u0041", r"bad escape '\\\\u'"),
        ("\\0", r"bad escape '\\\\0'"),
        ("caf\u00e9", "character 'é' at character 3 is not printable ASCII"),
        ("a\nb", r"character '\\n' at character 1 is not printable ASCII"),
        ("\ud800", "is not printable ASCII"),
    ],
)
def test_unescape_refuses_what_escape_never_writes(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        unescape(text)


def test_is_text() -> None:
    assert is_text(b"")
    assert is_text(b"plain\tline\r\n")
    assert is_text("caf\u00e9 \u4e2d\u6587".encode())
    assert not is_text(b"\x00bin")
    assert not is_text(b"\xff")
    assert not is_text(b"\x7f")
    assert not is_text("a\u2028b".encode())  # a line separator is not printable


def test_mostly_printable_is_three_quarters_readable_bytes() -> None:
    assert is_mostly_printable(POSTGRES_QUERY)  # 23 of 28 bytes readable
    assert is_mostly_printable(b"abc\x00")  # exactly 75%
    assert not is_mostly_printable(b"ab\x00\x00")  # 50%
    assert not is_mostly_printable(b"abcde\x00\x00")  # 71%
    assert is_mostly_printable(b"a\t\r\n\x00\x01\x02" + b"b" * 14)  # TAB, CR, LF count as readable
    assert not is_mostly_printable(bytes(range(256)))


def test_show_bytes_cuts_long_data() -> None:
    assert show_bytes(b"ok\r\n") == "'ok\\r\\n'"
    assert "more bytes" in show_bytes(b"a" * 5000)
    assert "|..bin|" in show_bytes(b"\x00\xffbin")
