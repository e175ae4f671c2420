"""Redaction covers everything a proxy shows, not only its cassette."""

from __future__ import annotations

import pytest

import socketdouble as sd
from tests.helpers import connect, recv_exactly, recv_until_closed

SECRETS = (b"hunter2", b"s3cr3t-value")


def test_a_secret_never_shows_in_the_recording_nor_the_check_report() -> None:
    upstream = sd.TCPServer().start()
    upstream.on(sd.prefix(b"AUTH ")).reply(b"+OK token=s3cr3t-value\n")
    redact = [rb"(?<=AUTH )\S+", rb"token=\S+"]
    with sd.RecordingProxy(upstream.address, redact=redact) as proxy:
        with connect(proxy) as client:
            client.sendall(b"AUTH hunter2\n")
            assert recv_exactly(client, 23) == b"+OK token=s3cr3t-value\n"  # forwarded as it was
        upstream.stop()
        with connect(proxy) as client:  # an error, so check() fails and prints the transcript
            assert recv_until_closed(client) == b""
    with pytest.raises(sd.CheckFailed) as failure:
        proxy.check()
    record = proxy.recording.connections[0]
    shown = [str(failure.value), str(proxy.recording), proxy.recording.transcript()]
    shown_bytes = [record.received, record.sent, *proxy.recording.requests]
    for secret in SECRETS:
        assert all(secret.decode() not in text for text in shown)
        assert all(secret not in data for data in shown_bytes)
    assert record.received == b"AUTH *******\n"
    assert record.sent == b"+OK ******************\n"
    assert "cannot reach the upstream" in str(failure.value)
