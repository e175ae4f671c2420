"""smtplib against the SMTP double from demo.py, through the pytest fixture."""

from __future__ import annotations

import smtplib

from examples.demo import smtp_double
from socketdouble.doubles import Doubles


def test_smtplib_sends_a_message(socketdouble: Doubles) -> None:
    server = socketdouble.add(smtp_double())
    host, port = server.address
    with smtplib.SMTP(host, port, timeout=5) as client:
        client.sendmail("ann@example.test", ["bob@example.test"], "Subject: x\r\n\r\nbody line\r\n")
    requests = server.recording.requests
    assert requests[0].lower().startswith(b"ehlo ")
    assert b"body line\r\n" in requests
    assert requests[-1].lower() == b"quit\r\n"
