"""Bytes shown to people: as text, as escaped text, or as a hex dump / base64.

Three ways to write a payload, from the most to the least readable:

- *text*: UTF-8 made of printable characters, tabs, CR and LF (:func:`is_text`);
- *escaped text* (:func:`escape`), for payloads that are mostly printable ASCII but not
  text, such as a PostgreSQL ``Q`` message with its length prefix and trailing NUL: every
  printable ASCII byte other than the backslash stands for itself, and the rest are
  backslash escapes, so the words in it can be read and grepped;
- base64 (in cassettes) or a hex dump (in transcripts) for anything else.

Every form round-trips exactly: ``unescape(escape(b)) == b`` for all bytes ``b``.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_SHOWN",
    "MOSTLY_PRINTABLE",
    "READABLE",
    "escape",
    "is_mostly_printable",
    "is_text",
    "show_bytes",
    "unescape",
]

MAX_SHOWN = 4096

#: Bytes that read as themselves in a text editor: printable ASCII, TAB, LF and CR.
READABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
#: A payload with at least this share of READABLE bytes is "mostly printable".
MOSTLY_PRINTABLE = 0.75

# Escaped text: the named escapes stay readable; any other byte that is not printable
# ASCII (or is the backslash itself) becomes \xNN with lowercase hex digits. A table for
# str.translate (one C pass over the payload, read as Latin-1: byte n is character n).
_NAMED = {ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}
_ESCAPE_TABLE = [
    _NAMED.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}") for byte in range(256)
]
_VALID_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|[\\tnr])")
_NOT_PLAIN = re.compile(r"[^\x20-\x5b\x5d-\x7e]")  # anything but printable ASCII other than "\"
_UNESCAPE = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
# One token at a time, so "\\x41" is a backslash then "x41", never a \x41 escape.
_ESCAPED_TOKEN = re.compile(r"\\x[0-9a-fA-F]{2}|\\[\\tnr]|\\.?|[^\x20-\x7e]", re.DOTALL)


def is_text(data: bytes) -> bool:
    """True when ``data`` is UTF-8 made of printable characters, tabs, CR and LF."""
    if not data.translate(None, READABLE):  # all printable ASCII: the common case, in C
        return True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.translate({9: None, 10: None, 13: None}).isprintable()


def is_mostly_printable(data: bytes) -> bool:
    """True when at least 75% of ``data``'s bytes are printable ASCII, TAB, LF or CR."""
    unreadable = len(data.translate(None, READABLE))
    return len(data) - unreadable >= MOSTLY_PRINTABLE * len(data)


def escape(data: bytes) -> str:
    """``data`` as escaped text: printable ASCII as itself, ``\\\\ \\t \\n \\r \\xNN`` for the rest.

    The result holds only printable ASCII characters, so it survives any text tool.
    """
    return data.decode("latin-1").translate(_ESCAPE_TABLE)


def _check_token(match: re.Match[str]) -> str:
    token = match.group()
    if len(token) == 4 or token in _UNESCAPE:
        return ""
    offset = match.start()
    if token.startswith("\\"):
        raise ValueError(
            f"bad escape {token!r} at character {offset}: use \\\\, \\t, \\n, \\r or \\xNN (two hex digits)"
        )
    raise ValueError(
        f"character {token!r} at character {offset} is not printable ASCII: write it as \\xNN escapes"
    )


def unescape(text: str) -> bytes:
    """The bytes that :func:`escape` turned into ``text``; ValueError names a bad escape.

    Hex digits may be upper or lower case (a hand edit); anything else that is not
    printable ASCII or a known escape is refused rather than guessed at.
    """
    # Fast check in C: with every valid escape taken out (left to right, as a reader
    # tokenizes), only printable ASCII other than the backslash may be left.
    if _NOT_PLAIN.search(_VALID_ESCAPE.sub("", text)) is not None:
        _ESCAPED_TOKEN.sub(_check_token, text)  # slow, only to name the first bad token
        raise ValueError("not valid escaped text")  # pragma: no cover - the line above raised
    # Only \\ \t \n \r \xNN remain, all of which unicode_escape reads as we wrote them.
    return text.encode("ascii").decode("unicode_escape").encode("latin-1")


def show_bytes(data: bytes, indent: str = "") -> str:
    """One quoted line for text, a hex dump for binary (long data is cut)."""
    cut = len(data) > MAX_SHOWN
    shown = data[:MAX_SHOWN]
    suffix = f" ... ({len(data) - MAX_SHOWN} more bytes)" if cut else ""
    if is_text(shown):
        return repr(shown.decode("utf-8")) + suffix
    rows = [f"{len(data)} bytes{suffix}"]
    for start in range(0, len(shown), 16):
        chunk = shown[start : start + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        chars = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        rows.append(f"{indent}  {start:04x}  {hexes:<47}  |{chars}|")
    return "\n".join(rows)
