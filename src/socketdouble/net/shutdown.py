"""Ending a connection's waits from outside: shut a descriptor down, ask whether its peer closed.

stop() (and a forked server's parent) works by descriptor number: the worker that owns
the socket object may be blocked in it, and a TLS wrap may have handed the descriptor
to a new object meanwhile.
"""

from __future__ import annotations

import select
import socket

__all__ = ["borrow", "peer_has_closed", "shutdown_fd"]

_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
#: Where there is none (macOS) the borrowed object sets the mode as before (a default timeout is rare).
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)
#: TCP states (``tcpi_state``, the first byte of TCP_INFO) in which the peer's FIN or reset
#: has come: TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING (Linux's tcp_states.h).
_PEER_CLOSED_STATES = frozenset({6, 7, 8, 9, 11})


def borrow(fd: int, family: int = socket.AF_UNSPEC) -> socket.socket:
    """A socket object on ``fd``, for a call that works on the descriptor; ``detach()`` it after.

    Given a family, type and protocol, it costs no system calls to look them up (a
    shutdown or a getsockopt does not use them; ``family=-1`` looks the family up, for a
    caller that needs it). Its type says non-blocking, so that it never touches the
    descriptor's mode: with a default timeout (``socket.setdefaulttimeout``) a plain
    ``socket(fileno=fd)`` would switch the owner's socket to non-blocking under it.
    """
    return socket.socket(family, socket.SOCK_STREAM | _NONBLOCK, 0, fileno=fd)


def shutdown_fd(fd: int) -> None:
    """Shut a socket down by descriptor, waking any thread blocked on it."""
    sock = borrow(fd)
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
        # lock, so the backlog is processed first, and the state it reports counts a
        # close that came.
        sock = borrow(fd)
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 8)
        except OSError:
            info = b""  # not TCP (a Unix socket delivers at once), or no longer connected: poll tells
        finally:
            sock.detach()
        if info:
            return info[0] in _PEER_CLOSED_STATES
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    return any(event & (select.POLLRDHUP | select.POLLHUP) for _, event in poller.poll(0))
