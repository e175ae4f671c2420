"""A connection served on its server's serve thread, until it could hold that thread.

Most tests make one connection and send a request or two: starting a worker thread
for it costs more than serving it. So a stream server serves a connection on its
serve thread when no other connection is live and nothing in it can block: a
conversation of rules (no handler, TLS, script or fault; see
:meth:`~socketdouble.net.stream.StreamServer.serves_inline`). The thread waits for
the client's bytes on the serve loop's own wait, which also watches the listener and
its wake-up, and sends without blocking.

The moment the connection could hold the thread — another client connects, the
listener changes, a send would block, a rule calls the test's code or waits, a fault
appears — a new serve thread takes over the serve loop, and this thread goes on as
the connection's worker, exactly where it was: nothing is handed over, only the
roles swap. So a second client is accepted as promptly as ever, and stop() ends the
connection as it ends any worker's (it shuts the socket down; the wait returns).

A long conversation is handed over too, after :data:`INLINE_READS` reads: a worker
reads with one system call where the serve thread needs two (the wait, then the
read), and a test's connection is mostly done by then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .watch import ReadWatch

__all__ = ["INLINE_READS", "InlineServing"]

#: Reads a connection is served inline at most; then a worker takes it over.
INLINE_READS = 32


class InlineServing:
    """The serve thread serving one connection itself (see the module docstring)."""

    __slots__ = ("_fd", "_hand_over", "_reads_left", "_watch", "handed_over", "owner")

    def __init__(self, watch: ReadWatch, fd: int, hand_over: Callable[[], None]) -> None:
        self._watch = watch
        self._fd = fd
        self._hand_over = hand_over
        #: True once a new serve thread took over: this thread is the connection's worker.
        self.handed_over = False
        #: The serve thread's identity: only it serves inline (a push from the test's thread
        #: sends as it always did).
        self.owner = threading.get_ident()
        self._reads_left = INLINE_READS
        watch.add(fd)

    def wait_readable(self, stopping: threading.Event) -> bool:
        """Wait until the client's bytes (or its close) can be read; True if the serve loop is needed first.

        True when anything else the serve loop watches became ready (a connection to
        accept, a nudge, a listener change), or after :data:`INLINE_READS` reads: the
        caller hands the loop over, then reads. After stop() this does not wait: stop()
        shuts the connection down, so the read returns.
        """
        if stopping.is_set():
            return False
        self._reads_left -= 1
        if self._reads_left < 0:
            return True
        ready = self._watch.wait(None)
        if len(ready) == 1 and ready[0] == self._fd:
            return False
        return not stopping.is_set()  # stop()'s wake-up: the serve loop has nothing left to do

    def hand_over(self) -> None:
        """Start a new serve thread; this one serves only its connection from now on.

        If no thread can start, the error reaches the connection (which ends, recorded)
        and this thread goes back to serving.
        """
        if self.handed_over:
            return
        self._watch.remove(self._fd)
        self._hand_over()
        self.handed_over = True

    def done(self) -> None:
        """The connection is over (its socket about to close): the serve loop stops watching it."""
        if not self.handed_over:
            self._watch.remove(self._fd)
