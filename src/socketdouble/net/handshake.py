"""The server side of a TLS handshake on an accepted connection, and what its failures mean.

A client that leaves during the handshake (a port probe, a client that gave up) has
closed, not failed; a TLS-level refusal (a bad certificate, no common cipher) is an
error of the connection. A fault's close or reset scheduled before the client could
finish (``timeout()`` at accept) ends the handshake at its time.
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING

__all__ = ["handshake"]

if TYPE_CHECKING:
    from .session import StreamSession

_SSL_EOF = (ssl.SSLEOFError, ssl.SSLZeroReturnError)


def handshake(session: StreamSession) -> str | None:
    """Wrap ``session``'s socket in TLS and shake hands; the close reason if the connection ends here."""
    context = session.server.ssl_context
    assert context is not None
    sock = session.sock = context.wrap_socket(session.sock, server_side=True, do_handshake_on_connect=False)
    ending = session.faulty.next_ending() if session.server.faults.version else None
    try:
        if ending is not None:
            sock.settimeout(max(0.0, ending.at - time.monotonic()))
        sock.do_handshake()
        sock.settimeout(None)
    except TimeoutError:
        if ending is None:
            raise
        return session.faulty.end(sock, ending)
    except (*_SSL_EOF, ConnectionError) as error:
        # A port probe, or a client that gave up: a close, not a failure.
        if session.stopping.is_set() and not session.eof_from_peer(session.fd):
            return "server stopped"
        session.sink.on_note(f"peer left during the TLS handshake: {error}")
        return "client closed during the TLS handshake"
    except ssl.SSLError as error:
        if _is_eof(error):
            return _handshake_eof(session, error)
        # A TLS-level refusal (bad certificate, no common cipher) is the peer's doing
        # even if stop() came meanwhile; stop() itself only ever causes EOF or OSError.
        session.sink.on_error(error)
        return "TLS handshake failed"
    except OSError as error:
        if session.stopping.is_set():
            return "server stopped"
        if error.errno in (0, None):  # OpenSSL's "EOF in violation of protocol", undecorated
            return _handshake_eof(session, error)
        raise
    return None


def _handshake_eof(session: StreamSession, error: OSError) -> str:
    if session.stopping.is_set() and not session.eof_from_peer(session.fd):
        return "server stopped"
    session.sink.on_note(f"peer left during the TLS handshake: {error}")
    return "client closed during the TLS handshake"


def _is_eof(error: ssl.SSLError) -> bool:
    """An SSLError that only says the peer went away (no TLS alert, no refusal)."""
    return getattr(error, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"
