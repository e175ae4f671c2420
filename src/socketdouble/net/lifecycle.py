"""Start and stop without polling, and without leaving anything behind.

:class:`Lifecycle` owns a server's threads, its wake-up descriptor (a
:class:`~socketdouble.net.watch.Waker`) and the serve loop's wait, which start() makes
(so the serve thread goes to sleep as soon as it runs). The loop waits on the listener
and the wake-up descriptor together, so :meth:`Lifecycle.stop` ends it at once; stop
then interrupts every live connection (subclasses say how), joins every thread against
one deadline, and reports any thread that outlived it.

The listening socket may change while the server runs (an outage closes it and
opens another on the same address; connect_timeout holds it full): whoever changes
it does so under :attr:`Lifecycle._listener_lock` and calls :meth:`Lifecycle._listener_changed`,
which wakes the serve loop to watch the new one (or none). So the loop never waits
on a closed socket, and never spins on one it must not read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from ..errors import HandlerError, ServerStateError
from .flag import Flag
from .watch import ReadWatch, Waker

__all__ = ["Lifecycle", "State"]

State = Literal["new", "running", "stopping", "stopped"]
L = TypeVar("L", bound="Lifecycle")


class Lifecycle:
    """The start/stop state machine and thread bookkeeping of one server."""

    #: Longest time stop() waits for threads after interrupting them.
    stop_timeout: float = 1.0

    def __init__(self) -> None:
        self._state: State = "new"
        self._state_lock = threading.Lock()
        self._stopping: threading.Event = Flag()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._prune_at = 64
        self._waker: Waker | None = None
        #: The serve loop's wait, made by start() with the wake-up descriptor and the first
        #: listener in it (so the serve thread goes to sleep at once), closed by stop().
        self._watch: ReadWatch | None = None
        self._watching: tuple[socket.socket | None, int] = (None, -1)  # the listener in it, and its number
        self._stopped: threading.Event = Flag()  # set when stop() has finished
        self._joined = False  # stop() has joined every thread: no new one may start
        #: When stop() came, plus half of stop_timeout: until then a worker still reads
        #: what its client had sent (see :mod:`socketdouble.net.session`).
        self.drain_deadline = float("inf")
        #: Held to change the listening socket, and to read it (accept, receive) meanwhile.
        self._listener_lock = threading.RLock()
        #: Bumped (lock held) whenever what the serve loop must watch changed.
        self._listener_version = 0
        #: True between down() and up(): the listener is closed.
        self._down = False
        #: How many times the server went down: a connection accepted before an outage
        #: and handed to its worker after it is reset too.
        self._outages = 0
        #: The identity of the thread running the serve loop (see :mod:`socketdouble.net.inline`).
        self._serve_thread: int | None = None

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._state == "running"

    def start(self: L) -> L:
        """Bind, listen and serve in a background thread; returns the server."""
        with self._state_lock:
            if self._state == "running":
                return self
            if self._state != "new":
                raise ServerStateError(f"{self!r} was stopped and cannot start again; make a new server")
            self._open()
            try:
                self._waker = Waker()
                self._watch = ReadWatch()
                self._watch.add(self._waker.fileno())
                with self._listener_lock:
                    first = self._watched(None)
                    if first is not None:
                        self._watching = (first, first.fileno())
                        self._watch.add(first.fileno())
                self._spawn(self._serve, "serve")
            except BaseException:
                self._close_wakeup()
                self._close()
                raise
            self._state = "running"
        return self

    def stop(self) -> None:
        """Stop serving, close every socket, join every thread; safe from any thread.

        Called from one of the server's own threads (a handler, a reply function), it
        cannot join that thread; calling stop() again from outside (as fixtures do)
        joins it too. Called from two threads at once, both return once the server is
        fully stopped. An error in any step is recorded (check() reports it) and the
        remaining steps still run: the listener and the wake-up descriptor always close.
        """
        with self._state_lock:
            state = self._state
            if state == "new":
                self._state = "stopped"
                self._stopped.set()
            elif state == "running":
                self._state = "stopping"
        if state == "running":
            if self._stop():
                return  # every thread but the caller's is joined, and no new one may start
        elif state == "stopping" and not self._own_thread():
            # Another thread is stopping: return only once it is done. (One of our own
            # threads must not wait: that stop() may be joining it.)
            self._stopped.wait()
        if state != "new":
            self._join(time.monotonic() + self.stop_timeout)

    def _stop(self) -> bool:
        """Stop and join; True when no thread outlived the deadline (then none is left to join)."""
        stuck: list[threading.Thread] | None = None
        try:
            self.drain_deadline = time.monotonic() + self.stop_timeout / 2
            self._stopping.set()
            assert self._waker is not None
            self._step(self._waker.wake)
            self._step(self._interrupt)
            stuck = self._join(time.monotonic() + self.stop_timeout)
            if stuck:
                self._step(self._abandon, stuck)
        finally:
            with self._threads_lock:
                self._joined = True
            try:
                self._step(self._close)
            finally:
                self._close_wakeup()
                with self._state_lock:
                    self._state = "stopped"
                self._stopped.set()
        return stuck == []

    def _close_wakeup(self) -> None:
        """Close the serve loop's wait and the wake-up descriptor (its thread is joined, or abandoned)."""
        if self._watch is not None:
            self._watch.close()
        if self._waker is not None:
            self._waker.close()

    def _step(self, step: Callable[..., object], *args: Any) -> None:
        """Run one step of stop(); an error in it is recorded, and stop() goes on."""
        try:
            step(*args)
        except Exception as error:
            self._record_error(error)

    def _own_thread(self) -> bool:
        me = threading.current_thread()
        with self._threads_lock:
            return me in self._threads

    def __enter__(self: L) -> L:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- outage ------------------------------------------------------------------------

    def down(self) -> None:
        """Take the server down: the listener closes (new connections are refused, ECONNREFUSED)
        and every open connection is reset (RST; Unix stream sockets have no RST: closed).

        ``up()`` listens again on the same address. A datagram server closes its socket
        (clients' datagrams are refused: ICMP port unreachable). Recorded in the transcript
        as a fault of the server; each reset connection shows ``fault: reset``. Calling it
        on a server that is down already does nothing.
        """
        with self._state_lock:
            self._require_running("down()")
            with self._listener_lock:
                if self._down:
                    return
                self._down = True
                self._outages += 1
                self._close_listener()
                self._listener_changed()
            reset = self._reset_connections("server down: connection reset")
        self._outage_fault(
            f"server down: listener closed (new connections refused), {reset} open connection(s) reset"
        )

    def up(self) -> None:
        """Listen again on the same address after ``down()`` (TCP: the same port; Unix: the same path).

        Does nothing on a server that is not down. Raises :class:`~socketdouble.errors.ConfigurationError`
        if another socket took the address meanwhile (the server stays down).
        """
        with self._state_lock:
            self._require_running("up()")
            with self._listener_lock:
                if not self._down:
                    return
                self._reopen_listener()
                self._down = False
                self._listener_changed()
        self._outage_fault("server up: listening again on the same address")

    @contextlib.contextmanager
    def outage(self: L) -> Iterator[L]:
        """``with server.outage(): ...`` — ``down()`` on entry, ``up()`` on exit (if still running)."""
        self.down()
        try:
            yield self
        finally:
            if self.running and not self._stopping.is_set():
                self.up()

    @property
    def is_down(self) -> bool:
        """True between ``down()`` and ``up()``."""
        return self._down

    def _require_running(self, what: str) -> None:
        if self._state != "running" or self._stopping.is_set():
            state = "stopping" if self._state == "running" else self._state
            raise ServerStateError(
                f"{what} on {self!r}: only a running server can go down or up, and this one is {state}; "
                "call it between start() and stop()"
            )

    # -- serving -----------------------------------------------------------------------

    def _serve_while_readable(
        self,
        sock: socket.socket | None,
        drain: Callable[[], bool],
        timer: Callable[[], float | None] | None = None,
    ) -> None:
        """Call ``drain`` each time the listening socket is readable, until stop() or ``drain`` says False.

        ``sock`` is the first listening socket; after a change (see the module
        docstring) the loop watches :meth:`_watched`. The wait includes the wake-up
        descriptor, so stop() ends it at once: no polling. An exception from ``drain`` is
        recorded and serving goes on; while drain keeps failing, the loop backs off
        (up to half a second) instead of spinning.

        ``timer``, when given, is called after each wake-up: it does the work that came
        due (datagrams a fault held back) and returns the seconds until it is due again
        (None: nothing waits), the next wait's timeout. A thread that gives it work due
        sooner wakes the loop with :meth:`_nudge`.
        """
        watch = self._watch
        assert watch is not None
        backoff = 0.0
        timeout: float | None = None
        # What the wait holds of the listener: start() added the first; a serve thread that
        # takes over from one serving a connection inline (see .inline) goes on from there.
        watched, watched_fd = self._watching  # the number stays known once the socket is closed
        seen = -1  # look once more, in case _watched() wants ``sock``: no change costs no call
        self._serve_thread = threading.get_ident()  # only it may serve a connection inline, on its wait
        while True:
            if seen != self._listener_version:
                with self._listener_lock:  # so the listener is open while it is added
                    seen = self._listener_version
                    current = self._watched(sock)
                    if current is not watched:
                        if watched_fd >= 0:
                            watch.remove(watched_fd)
                        watched_fd = -1 if current is None else current.fileno()
                        if current is not None:
                            watch.add(watched_fd)
                        watched = current
                        self._watching = (watched, watched_fd)
            if self._stopping.is_set():  # also before the wait: stop() closes it once its join is over
                return
            ready = watch.wait(timeout)
            if self._stopping.is_set():
                return
            readable = len(ready) == 1 and ready[0] == watched_fd  # the usual wake-up
            if not readable:
                # A timeout or the wake-up descriptor: a nudge or a listener change (stop()'s
                # wake may be among them), maybe with the listener readable too.
                if not self._take_nudges():
                    return
                readable = watched_fd >= 0 and watched_fd in ready
                if not readable and timer is None and not self._has_handoff():
                    continue
            try:
                if (readable or self._has_handoff()) and not self._drain_watched(drain, watched):
                    return
                if timer is not None:
                    timeout = timer()
                backoff = 0.0
            except Exception as error:
                self._record_error(error)
                backoff = min(max(backoff * 2, 0.01), 0.5)
                if self._stopping.wait(backoff):
                    return

    #: True when ``drain`` reads the listening socket itself (datagrams): it runs under the
    #: listener lock, so an outage never closes the socket under it. Stream servers lock
    #: each accept() instead: their drain may serve a connection inline (``"serial"``).
    _drain_holds_listener = True

    def _drain_watched(self, drain: Callable[[], bool], watched: socket.socket | None) -> bool:
        if not self._drain_holds_listener:
            return drain()
        with self._listener_lock:
            if self._watched(watched) is not watched:  # changed since the wait: look again
                return True
            return drain()

    def _listener_changed(self) -> None:
        """The listening socket changed (listener lock held): the serve loop watches anew at once."""
        self._listener_version += 1
        self._nudge()

    def _watched(self, first: socket.socket | None) -> socket.socket | None:
        """The socket the serve loop waits on now (None: none, while down or held)."""
        return first

    def _has_handoff(self) -> bool:
        """True when another thread left the serve loop something to serve (see StreamServer)."""
        return False

    def _nudge(self) -> None:
        """Wake the serve loop so that it asks its ``timer`` again (work due sooner came)."""
        waker = self._waker
        if waker is not None:  # None before start(); once closed, a wake does nothing (the loop ended)
            waker.wake()

    def _take_nudges(self) -> bool:
        """Take the nudges waiting; False when stop() came (its wake may have been among them)."""
        assert self._waker is not None
        self._waker.take()
        return not self._stopping.is_set()

    def _join(self, deadline: float) -> list[threading.Thread]:
        """Join every thread but the caller's by ``deadline``; return those still alive.

        Threads started while joining (a connection accepted as stop() came) are
        joined too: the loop takes new ones until none is left.
        """
        me = threading.current_thread()
        seen: set[threading.Thread] = {me}
        alive: list[threading.Thread] = []
        while True:
            with self._threads_lock:
                threads = [t for t in self._threads if t not in seen]
            if not threads:
                return alive
            seen.update(threads)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    alive.append(thread)

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` in a thread that stop() will join.

        Finished threads stay tracked until joined (a thread that removed itself would
        still be alive for a moment after), and are pruned as new ones start.
        """
        thread = threading.Thread(target=target, name=f"socketdouble-{name}", daemon=True)
        with self._threads_lock:
            if self._joined:
                raise RuntimeError(f"{self!r} is stopping and has joined its threads: {name} cannot start")
            if len(self._threads) >= self._prune_at:
                self._threads = {t for t in self._threads if t.is_alive()}
                self._prune_at = max(64, 2 * len(self._threads))
            self._threads.add(thread)
            thread.start()  # under the lock: stop() never sees a thread it cannot join yet
        return thread

    def _stuck_error(self, thread: threading.Thread) -> HandlerError:
        return HandlerError(
            f"{thread.name} did not return within stop_timeout={self.stop_timeout}s after "
            "stop() closed its connection; its socket was closed and the thread abandoned. "
            "A handler must return when its connection reaches end of file."
        )

    # -- what servers provide ----------------------------------------------------

    def _open(self) -> None:
        """Create, bind and listen; raise ConfigurationError on bad settings."""
        raise NotImplementedError

    def _serve(self) -> None:
        """The serve loop; returns when stop() wakes it."""
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Unblock every worker (shut its connection down)."""

    def _record_error(self, error: BaseException) -> None:
        """An error outside any connection (the serve loop, stop()): servers record it."""
        raise error

    def _abandon(self, threads: list[threading.Thread]) -> None:
        """Threads outlived the deadline: report them and close what they hold."""

    def _close_listener(self) -> None:
        """down(): close the listening socket (listener lock held)."""
        raise NotImplementedError

    def _reopen_listener(self) -> None:
        """up(): listen again on the same address (listener lock held)."""
        raise NotImplementedError

    def _reset_connections(self, why: str) -> int:
        """down(): reset every open connection, recording ``why`` on each; return how many."""
        return 0

    def _outage_fault(self, text: str) -> None:
        """Record what an outage did to the server (its transcript shows it)."""

    def _close(self) -> None:
        """Close listening sockets, remove files."""
