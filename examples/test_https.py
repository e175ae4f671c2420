"""http.client over TLS to a tls_server double."""

from __future__ import annotations

import http.client

import socketdouble as sd


def test_https_get(tls_server: sd.TLSServer) -> None:
    tls_server.framing = sd.lines(b"\r\n\r\n")  # one message per request head
    tls_server.on(sd.prefix(b"GET /health HTTP/1.1\r\n")).reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    )
    connection = http.client.HTTPSConnection(
        "localhost", tls_server.port, context=tls_server.client_ssl_context(), timeout=5
    )
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    finally:
        connection.close()
    [head] = tls_server.recording.requests
    assert b"Host: localhost:" in head
