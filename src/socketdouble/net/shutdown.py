"""Ending a connection's waits from outside: shut a descriptor down, ask whether its peer closed.

stop() (and a forked server's parent) works by descriptor number: the worker that owns
the socket object may be blocked in it, and a TLS wrap may have handed the descriptor
to a new object meanwhile.
"""

from __future__ import annotations

import select
import socket

__all__ = ["peer_has_closed", "shutdown_fd"]

_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)


def shutdown_fd(fd: int) -> None:
    """Shut a socket down by descriptor, waking any thread blocked on it."""
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down or reset by the peer: either way nothing blocks on it
    finally:
        sock.detach()


def peer_has_closed(fd: int) -> bool:
    """True when the peer of ``fd`` has shut its sending side (FIN, reset, or a Unix close).

    Asked by stop() before it shuts a connection down itself: after that, end of file
    can no longer tell the peer's close from the server's own.
    """
    if _TCP_INFO is not None:
        # A TCP segment that came while a worker was inside a send or receive waits in
        # the socket's backlog until that call ends; asking for TCP_INFO takes the socket
        # lock, so the backlog is processed first and poll() sees a close that came.
        sock = socket.socket(fileno=fd)
        try:
            sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 8)
        except OSError:
            pass  # not TCP (a Unix socket delivers at once), or no longer connected: nothing waits
        finally:
            sock.detach()
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    return any(event & (select.POLLRDHUP | select.POLLHUP) for _, event in poller.poll(0))
