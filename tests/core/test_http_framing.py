"""http(): an HTTP/1.x request, body included, is one message; bad framing is a FramingError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import socketdouble as sd
from socketdouble.errors import FramingError

GET = b"GET /items?id=1 HTTP/1.1\r\nHost: x\r\n\r\n"
POST = (
    b'POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"id": 1}'
)
CHUNKED = (
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nChecksum: abc\r\n\r\n"
)


def feed_all(data: bytes, cuts: list[int]) -> list[bytes]:
    decoder = sd.http().decoder()
    messages: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        messages += decoder.feed(data[start:cut])
        start = cut
    assert decoder.pending == b""
    return messages


def test_a_get_a_post_and_a_chunked_post_are_one_message_each() -> None:
    assert feed_all(GET + POST + CHUNKED + GET, []) == [GET, POST, CHUNKED, GET]


@given(st.lists(st.integers(0, len(GET + POST + CHUNKED)), max_size=12))
def test_how_the_stream_is_cut_never_changes_the_messages(cuts: list[int]) -> None:
    assert feed_all(GET + POST + CHUNKED, cuts) == [GET, POST, CHUNKED]


def test_an_incomplete_request_waits_for_more() -> None:
    framing = sd.http()
    assert framing.frame_length(POST[:-1]) is None
    assert framing.frame_length(CHUNKED[:-2]) is None
    assert framing.frame_length(b"GET / HTTP/1.1\r\nHost") is None
    assert framing.frame_length(b"\r\n" + GET) == len(GET) + 2  # a stray CRLF before a request


def test_equal_repeated_content_lengths_are_one_length() -> None:
    request = b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n\r\nok"
    assert sd.http().frame_length(request) == len(request)


@pytest.mark.parametrize(
    ("head", "match"),
    [
        (b"Content-Length: -1", "'-1' is not a number of bytes"),
        (b"Content-Length: ten", "'ten' is not a number"),
        (b"Content-Length: 5\r\nContent-Length: 6", r"different Content-Length values \(5, 6\)"),
        (b"Content-Length: 99999999999", "over max_body"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 3", "both Transfer-Encoding and Content-Length"),
        (b"Transfer-Encoding: gzip", "last coding must be chunked"),
        (b"Bad header", "not 'Name: value'"),
        (b"Host : x", "not 'Name: value'"),
    ],
)
def test_bad_heads_are_framing_errors(head: bytes, match: str) -> None:
    with pytest.raises(FramingError, match=match):
        sd.http().frame_length(b"POST / HTTP/1.1\r\n" + head + b"\r\n\r\nabc")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"zz\r\nab\r\n0\r\n\r\n", r"chunk size b'zz' is not hexadecimal"),
        (b"-1\r\n", "not hexadecimal"),
        (b"2\r\nabc\r\n0\r\n\r\n", r"followed by b'c\\r', not CRLF"),
        (b"f" * 5000, "chunk-size line longer than 4096"),
        (b"0\r\n" + b"X" * 5000, "trailer field line longer"),
        (b"100000000\r\n", "over max_body"),
    ],
)
def test_bad_chunked_bodies_are_framing_errors(body: bytes, match: str) -> None:
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    with pytest.raises(FramingError, match=match):
        sd.http().frame_length(head + body)


def test_a_head_over_the_limit_is_a_framing_error() -> None:
    framing = sd.http(max_head=64)
    with pytest.raises(FramingError, match="no blank line yet, over max_head=64"):
        framing.frame_length(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 60)
    with pytest.raises(FramingError, match="over max_head=64"):
        framing.frame_length(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 60 + b"\r\n\r\n")


@pytest.mark.parametrize("kwargs", [{"max_head": 0}, {"max_body": "1"}, {"max_body": True}])
def test_bad_limits_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(sd.ConfigurationError, match="number of bytes > 0"):
        sd.http(**kwargs)  # type: ignore[arg-type]


def test_http_response_sets_the_status_line_and_content_length() -> None:
    assert sd.http_response() == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert sd.http_response(404, b"nope", {"Content-Type": "text/plain"}) == (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"
    )
    assert sd.http_response(201, b"{}", [("Content-Length", "2")]) == (
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert sd.http_response(204) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert sd.http_response(299).startswith(b"HTTP/1.1 299 \r\n")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"status": 99}, "100 to 599"),
        ({"status": "200"}, "100 to 599"),
        ({"body": "text"}, "give bytes"),
        ({"status": 204, "body": b"x"}, "carries no body"),
        ({"body": b"abc", "headers": {"Content-Length": "2"}}, "the body has 3 bytes"),
        ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "would break the response"),
        ({"headers": {"Bad Name": "a"}}, "would break the response"),
        ({"headers": [("only-one",)]}, "not a \\(name, value\\) pair"),
        ({"headers": {"X-Name": "\u20ac"}}, "not Latin-1"),
    ],
)
def test_bad_responses_are_configuration_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(sd.ConfigurationError, match=match):
        sd.http_response(**kwargs)  # type: ignore[arg-type]
