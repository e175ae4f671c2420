"""Answering HTTP/1.x requests: :func:`http_response` builds the bytes of one response."""

from __future__ import annotations

import http
from collections.abc import Iterable, Mapping

from ..errors import ConfigurationError

__all__ = ["Headers", "http_response"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]

#: Statuses whose responses carry no body and no Content-Length (RFC 9110 8.6).
_NO_CONTENT_LENGTH = {204} | set(range(100, 200))


def http_response(status: int = 200, body: bytes = b"", headers: Headers | None = None) -> bytes:
    """The bytes of an HTTP/1.1 response: status line, ``headers``, Content-Length, ``body``.

    The reason phrase comes from :class:`http.HTTPStatus` (none for a status it does not
    know). ``Content-Length`` is set from ``body`` (not for 1xx and 204); one given in
    ``headers`` must agree with it. Use it as a rule's reply:
    ``server.on(socketdouble.prefix(b"GET /health ")).reply(socketdouble.http_response(body=b"ok"))``.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigurationError(f"http_response(status={status!r}): give an HTTP status code, 100 to 599")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ConfigurationError(
            f"http_response(body={body!r}): give bytes; encode text (body.encode()) or JSON "
            "(json.dumps(data).encode()) first"
        )
    body = bytes(body)
    fields = _fields(headers)
    has_length = [value for name, value in fields if name.lower() == "content-length"]
    if status in _NO_CONTENT_LENGTH or status == 304:
        if body:
            raise ConfigurationError(f"http_response(status={status}) carries no body; got {len(body)} bytes")
    elif has_length:
        if has_length != [str(len(body))]:
            raise ConfigurationError(
                f"http_response: Content-Length {has_length} given, but the body has {len(body)} bytes; "
                "leave Content-Length out, it is set for you"
            )
    else:
        fields.append(("Content-Length", str(len(body))))
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:  # a valid code HTTPStatus does not name: the reason phrase is optional
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _fields(headers: Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    fields = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ConfigurationError(
                f"http_response(headers=...): {pair!r} is not a (name, value) pair of str; pass a dict "
                "{'Content-Type': 'application/json'} or a list of such pairs"
            )
        name, value = pair
        if not name or any(c in name for c in " :\r\n") or any(c in value for c in "\r\n"):
            raise ConfigurationError(
                f"http_response(headers=...): header {name!r}: {value!r} would break the response "
                "(a name needs no space or colon; neither may hold CR or LF)"
            )
        try:
            (name + value).encode("latin-1")
        except UnicodeEncodeError:
            raise ConfigurationError(
                f"http_response(headers=...): header {name!r}: {value!r} is not Latin-1; "
                "percent-encode it or put it in the body"
            ) from None
        fields.append((name, value))
    return fields
