"""Difference reports: where a live message leaves the recorded one, shown briefly.

A report names the first differing byte offset, the lengths of both sides, and the
region of both sides around the difference (:data:`_WINDOW` bytes), never the whole
message: a turn of megabytes still fits on one screen. A region that is mostly
printable is shown as escaped text (as in the cassette), others as
hex + ASCII rows, both sides alike so they line up.
"""

from __future__ import annotations

from .payload import escape, is_mostly_printable

__all__ = ["describe", "describe_extra", "first_difference"]

#: How many bytes around the first difference a report shows, per side.
_WINDOW = 32
_INDENT = "      "


def first_difference(got: bytes, expected: bytes) -> int | None:
    """Offset of the first byte of ``got`` that differs from ``expected``.

    None when ``got`` is ``expected`` or a prefix of it; ``len(expected)`` when
    ``got`` is longer and ``expected`` a prefix of it.
    """
    size = min(len(got), len(expected))
    if got[:size] != expected[:size]:
        low, high = 0, size  # the difference is in [low, high): halve with C-speed slices
        while high - low > 64:
            middle = (low + high) // 2
            if got[low:middle] == expected[low:middle]:
                low = middle
            else:
                high = middle
        for offset in range(low, high):
            if got[offset] != expected[offset]:
                return offset
    return None if len(got) <= len(expected) else len(expected)


def _hex_rows(data: bytes, start: int) -> list[str]:
    """Hex + ASCII rows of 16 bytes; the left column is each row's offset in the whole."""
    rows = []
    for at in range(0, len(data), 16):
        chunk = data[at : at + 16]
        hexes = " ".join(f"{byte:02x}" for byte in chunk)
        chars = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        rows.append(f"{start + at:08x}  {hexes:<47}  |{chars}|")
    return rows


def _region(offset: int, *lengths: int) -> tuple[int, int]:
    """The window ``[start, end)`` around ``offset``, clipped to the longest side."""
    start = max(0, offset - _WINDOW // 2)
    end = min(max(lengths, default=0), start + _WINDOW)
    return start, end


def _show_sides(sides: list[tuple[str, bytes]], offset: int, *, caret: bool = True) -> list[str]:
    """The region around ``offset`` of each named side, as indented report lines."""
    start, end = _region(offset, *(len(data) for _, data in sides))
    parts = [(name, data[start:end]) for name, data in sides]
    width = max(len(name) for name, _ in sides)
    lines = []
    if is_mostly_printable(b"".join(part for _, part in parts)):
        for name, part in parts:
            head = f"{_INDENT}{name:<{width}} [{start}:{start + len(part)}]  "
            lines.append(f"{head}'{escape(part)}'")
        if caret:  # under the first difference, on the last side shown (the live one)
            before = escape(parts[-1][1][: offset - start])
            lines.append(" " * (len(head) + 1 + len(before)) + "^")
        return lines
    for name, part in parts:
        lines.append(f"{_INDENT}{name} [{start}:{start + len(part)}]")
        lines.extend(f"{_INDENT}  {row}" for row in _hex_rows(part, start) or ["(nothing)"])
    return lines


def describe(where: str, got: bytes, expected: bytes, offset: int | None = None) -> str:
    """A short report of how ``got`` (live) differs from ``expected`` (recorded).

    ``where`` names the recorded message ("connection 2, client turn 3"); ``offset``
    is the first difference when the caller knows it better than a plain comparison
    (after redaction, say).
    """
    if offset is None:
        offset = first_difference(got, expected)
    if offset is None:
        offset = len(got)  # got is a strict prefix: it stopped short here
    head = (
        f"{where}: first difference at byte {offset} "
        f"(client sent {len(got)} byte(s), recorded {len(expected)})"
    )
    return "\n".join([head, *_show_sides([("recorded", expected), ("client", got)], offset)])


def describe_extra(where: str, got: bytes) -> str:
    """A report for bytes the recording has no place for (beyond its end)."""
    head = f"{where} (the client sent {len(got)} byte(s) more)"
    if not got:
        return where
    return "\n".join([head, *_show_sides([("client", got)], 0, caret=False)])
