"""A cheap :class:`threading.Event` for the flags every server and connection carries.

Each server has a "stopping" flag and each connection a "ready" and a "cut" flag; most
are never waited on. A ``threading.Event`` builds a ``threading.Condition``, which
costs about as much as the rest of a connection's bookkeeping (its constructor raises
and catches three AttributeErrors on a plain lock). A :class:`Flag` is one C lock: held
while the flag is clear, released by :meth:`Flag.set`; a waiter passes by acquiring and
at once releasing it, so every waiter wakes in turn.
"""

from __future__ import annotations

import threading

__all__ = ["Flag"]

_allocate_lock = threading.Lock
#: Serialises set() and clear() (rare) so that the gate is released or taken once.
_CHANGING = threading.Lock()


class Flag(threading.Event):
    """A ``threading.Event`` made of one lock: what it does is the Event's, it costs less to make.

    A subclass, so that it goes wherever an Event is expected; it does not call
    ``Event.__init__`` (that is the Condition it saves) and overrides every method that
    would use one.
    """

    def __init__(self) -> None:  # deliberately not Event.__init__ (see the class docstring)
        self._flag = False
        self._gate = _allocate_lock()
        self._gate.acquire()  # held while clear

    def is_set(self) -> bool:
        """True once :meth:`set` was called (and :meth:`clear` not since)."""
        return self._flag

    def set(self) -> None:
        """Set the flag: every thread waiting wakes, later waits return at once."""
        with _CHANGING:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self) -> None:
        """Clear the flag: waits block again (after any waiter passing the gate now)."""
        with _CHANGING:
            if self._flag:
                self._gate.acquire()
                self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` seconds passed; return the flag."""
        if self._flag:
            return True
        gate = self._gate
        if timeout is None:
            passed = gate.acquire()
        elif timeout > 0:
            passed = gate.acquire(True, timeout)
        else:
            passed = gate.acquire(False)
        if passed:
            gate.release()  # the next waiter passes too
            return True
        return self._flag

    def _at_fork_reinit(self) -> None:
        # threading calls this on its own events only; as Event does, leave a clear flag.
        self._gate = _allocate_lock()
        self._gate.acquire()
        self._flag = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'set' if self._flag else 'unset'}>"
