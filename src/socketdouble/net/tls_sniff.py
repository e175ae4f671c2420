"""Telling a client's TLS from plaintext by its first bytes, for a proxy that cannot decrypt it.

A plain proxy (no ``ssl_context``) records bytes to replay them; a TLS session through it
would record ciphertext that can never replay, so it refuses the session with an error
that says so. TLS is recognised at connect (a TLS record header), or later, after
STARTTLS or PostgreSQL's SSLRequest answered ``S``, by a whole ClientHello header.
"""

from __future__ import annotations

from ..errors import ConfigurationError

__all__ = ["CLIENT_HELLO", "TLS_RECORD_START", "opens_tls", "plain_proxy_error"]

#: A TLS record header, as a TLS client's first bytes always start (handshake, TLS 1.x).
TLS_RECORD_START = b"\x16\x03"
#: The handshake type at offset 5 of a TLS record that opens a session.
CLIENT_HELLO = b"\x01"


def opens_tls(turn: bytes, first: bool) -> bool:
    """Does a client turn that starts with ``turn`` open a TLS session?

    ``first``: ``turn`` is the connection's first bytes (then a record header is enough).
    """
    return turn.startswith(TLS_RECORD_START) and (first or turn[5:6] == CLIENT_HELLO)


def plain_proxy_error() -> ConfigurationError:
    """The error a plain proxy records when its client speaks TLS."""
    return ConfigurationError(
        "the client speaks TLS (its turn starts with a TLS record header, 0x16 0x03: at "
        "connect, or after STARTTLS or PostgreSQL's SSLRequest) but this "
        "proxy has no ssl_context, so the recording would hold ciphertext that can never "
        "replay; pass ssl_context= (and upstream_ssl_context= for a TLS upstream) to the "
        "proxy, or turn TLS off in the client"
    )
