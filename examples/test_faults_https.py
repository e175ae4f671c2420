"""http.client reads a reply that a slicer fault cuts into small TLS records, 10 ms apart."""

from __future__ import annotations

import http.client

import socketdouble as sd
from socketdouble.core.events import EventKind

BODY = bytes(range(256)) * 4  # 1 KiB of binary


def test_http_client_reassembles_a_sliced_reply_over_tls(tls_server: sd.TLSServer) -> None:
    reply = sd.http_response(200, BODY, {"Content-Type": "application/octet-stream"})
    tls_server.framing = sd.http()
    tls_server.on(sd.prefix(b"GET /blob ")).reply(reply)
    tls_server.faults.append(sd.faults.slicer(100, delay=0.01))
    connection = http.client.HTTPSConnection(
        "localhost", tls_server.port, context=tls_server.client_ssl_context(), timeout=5
    )
    try:
        connection.request("GET", "/blob")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, BODY)
    finally:
        connection.close()
    tls_server.stop()  # joins the worker: the recording is complete
    [record] = tls_server.recording.connections
    slices = [event.data for event in record.events if event.kind is EventKind.SEND]
    assert slices == [reply[i : i + 100] for i in range(0, len(reply), 100)]
    assert record.faults == ["slicer: pieces of 100 bytes 0.01 s apart to the client"]
    assert record.sent == reply
