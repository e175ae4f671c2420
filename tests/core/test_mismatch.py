from __future__ import annotations

from socketdouble.core.mismatch import describe, describe_extra, first_difference


def test_first_difference() -> None:
    assert first_difference(b"abc", b"abd") == 2
    assert first_difference(b"ab", b"abc") is None
    assert first_difference(b"abc", b"abc") is None
    assert first_difference(b"abcd", b"abc") == 3
    long = bytes(range(256)) * 40
    assert first_difference(long[:9000] + b"!" + long[9001:], long) == 9000  # the halving path
    assert first_difference(b"x" + long[1:], long) == 0


def test_a_text_difference_shows_both_sides_with_a_caret() -> None:
    report = describe("connection 2, client turn 3", b"GET /b HTTP/1.1\r\n", b"GET /a HTTP/1.1\r\n")
    head, recorded, client, caret = report.splitlines()
    assert (
        head
        == "connection 2, client turn 3: first difference at byte 5 (client sent 17 byte(s), recorded 17)"
    )
    assert recorded == "      recorded [0:17]  'GET /a HTTP/1.1\\r\\n'"
    assert client == "      client   [0:17]  'GET /b HTTP/1.1\\r\\n'"
    assert caret == " " * client.index("b HTTP") + "^"


def test_a_long_binary_turn_shows_only_the_region_around_the_difference() -> None:
    recorded = bytes(range(256)) * 32  # 8192 bytes, mostly not printable
    live = recorded[:4000] + b"\xee" + recorded[4001:6000]
    report = describe("connection 1, client turn 1", live, recorded)
    lines = report.splitlines()
    assert lines[0] == (
        "connection 1, client turn 1: first difference at byte 4000 (client sent 6000 byte(s), recorded 8192)"
    )
    assert lines[1] == "      recorded [3984:4016]"
    assert lines[2].startswith("        00000f90  90 91 92") and lines[2].endswith("|................|")
    assert lines[3].startswith("        00000fa0  a0 a1")
    assert lines[4] == "      client [3984:4016]"
    assert lines[5].startswith("        00000f90  90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f")
    assert lines[6].startswith("        00000fa0  ee a1")
    assert len(lines) == 7  # one screen, not 8192 bytes of hex
    assert "00000000" not in report


def test_a_short_side_and_a_difference_near_the_start() -> None:
    report = describe("datagram 1", b"abc", b"abcd")  # a prefix stops short: pointed at its end
    assert (
        report.splitlines()[0] == "datagram 1: first difference at byte 3 (client sent 3 byte(s), recorded 4)"
    )
    *_, client, caret = report.splitlines()
    assert client == "      client   [0:3]  'abc'"
    assert caret == " " * (len(client) - 1) + "^"  # under the closing quote: it stopped there


def test_bytes_beyond_the_recording_show_their_start() -> None:
    report = describe_extra("beyond the recording: connection 1 ended", b"EXTRA" * 100)
    assert report.splitlines() == [
        "beyond the recording: connection 1 ended (the client sent 500 byte(s) more)",
        "      client [0:32]  'EXTRAEXTRAEXTRAEXTRAEXTRAEXTRAEX'",
    ]
    assert describe_extra("nothing", b"") == "nothing"
