"""logging.handlers.SysLogHandler writing into a Unix datagram double."""

from __future__ import annotations

import logging
import logging.handlers

from socketdouble import UnixDatagramServer


def test_syslog_messages_arrive(unix_dgram_server: UnixDatagramServer) -> None:
    handler = logging.handlers.SysLogHandler(address=unix_dgram_server.path or "")
    logger = logging.getLogger("example.syslog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("disk %s is full", "/var")
        logger.error("giving up")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert unix_dgram_server.wait_for_requests(2) == [b"<12>disk /var is full\x00", b"<11>giving up\x00"]
    # SysLogHandler's socket is unbound: the peer is recorded as such
    assert unix_dgram_server.recording.connections[0].peer is None
