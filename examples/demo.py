"""A server double and a real client, end to end: run ``python examples/demo.py``.

An SMTP double greets, answers each command by rule and records the conversation;
Python's own smtplib sends a message through it. The transcript is printed, and the
program exits non-zero if anything went differently than scripted.
"""

from __future__ import annotations

import smtplib
import sys

import socketdouble as sd


def smtp_double() -> sd.TCPServer:
    server = sd.TCPServer(framing=sd.lines(b"\r\n"), name="SMTP double")
    server.on_connect().reply(b"220 mail.test ESMTP ready\r\n")
    server.on(sd.regex(rb"(?i)\Aehlo ")).reply(b"250-mail.test\r\n250 8BITMIME\r\n")
    server.on(sd.regex(rb"(?i)\Amail FROM:")).reply(b"250 sender ok\r\n")
    server.on(sd.regex(rb"(?i)\Arcpt TO:")).reply(b"250 recipient ok\r\n")
    server.on(sd.regex(rb"(?i)\Adata\r\n")).reply(b"354 end with .\r\n")
    server.on(b".\r\n", times=1).reply(b"250 queued as 42\r\n")
    server.on(sd.regex(rb"(?i)\Aquit\r\n")).reply(b"221 bye\r\n", close=True)
    server.on(sd.ANY)  # the message body: accepted, no answer
    return server


def main() -> int:
    with smtp_double() as server:
        host, port = server.address
        with smtplib.SMTP(host, port, timeout=5) as client:
            refused = client.sendmail(
                "ann@example.test", ["bob@example.test"], "Subject: hi\r\n\r\nHello, Bob.\r\n"
            )
    print(server.recording.transcript())
    server.check()
    assert refused == {}
    assert b"Hello, Bob.\r\n" in server.recording.requests
    print("\nok: smtplib delivered one message to the SMTP double")
    return 0


if __name__ == "__main__":
    sys.exit(main())
