"""http.client and requests posting to an http() double, answered with http_response()."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import requests

import socketdouble as sd
from socketdouble.doubles import Doubles


def body_of(request: bytes) -> bytes:
    """The body of one framed request (chunked bodies still chunked, as on the wire)."""
    return request.split(b"\r\n\r\n", 1)[1]


def created(request: bytes) -> bytes:
    """Echo the posted JSON back with an id, as a real API would."""
    item = json.loads(body_of(request))
    return sd.http_response(201, json.dumps({"id": 7, **item}).encode(), {"Content-Type": "application/json"})


def api(socketdouble: Doubles) -> sd.TCPServer:
    server = socketdouble.tcp(framing=sd.http())
    server.on(sd.prefix(b"POST /items ")).reply(created)
    server.on(sd.prefix(b"POST /upload ")).reply(sd.http_response(204))
    return server


def parts() -> Iterator[bytes]:
    yield b"first part,"
    yield b"second part"


def test_http_client_posts_json_and_a_chunked_body(socketdouble: Doubles) -> None:
    server = api(socketdouble)
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request(
            "POST", "/items", body=b'{"name": "lamp"}', headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert (response.status, response.reason) == (201, "Created")
        assert json.loads(response.read()) == {"id": 7, "name": "lamp"}
        connection.request("POST", "/upload", body=parts())  # an iterator: sent chunked
        response = connection.getresponse()
        assert (response.status, response.read()) == (204, b"")
    finally:
        connection.close()
    posted, uploaded = server.recording.requests  # one message per request, body included
    assert posted.endswith(b'\r\n\r\n{"name": "lamp"}')
    assert b"Transfer-Encoding: chunked\r\n" in uploaded
    assert body_of(uploaded) == b"B\r\nfirst part,\r\nB\r\nsecond part\r\n0\r\n\r\n"
    assert len(server.recording.connections) == 1  # keep-alive: both on one connection


def test_requests_posts_json_and_a_generator(socketdouble: Doubles) -> None:
    server = api(socketdouble)
    host, port = server.address
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy from the environment
        answer = session.post(f"http://{host}:{port}/items", json={"name": "desk"}, timeout=5)
        assert answer.status_code == 201
        assert answer.json() == {"id": 7, "name": "desk"}
        assert session.post(f"http://{host}:{port}/upload", data=parts(), timeout=5).status_code == 204
    posted, uploaded = server.recording.requests
    assert json.loads(body_of(posted)) == {"name": "desk"}
    assert body_of(uploaded).endswith(b"second part\r\n0\r\n\r\n")
