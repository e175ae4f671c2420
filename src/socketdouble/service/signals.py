"""Running until told to stop: SIGTERM or SIGINT, or an in-process request (admin ``/shutdown``)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["StopRequest"]


class StopRequest:
    """Set by SIGTERM, SIGINT or :meth:`set`; :meth:`wait` blocks until then.

    Used as a context manager in the main thread: the signal handlers are installed on
    entry and the previous ones restored on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def set(self, why: str = "shutdown requested") -> None:
        if self.signal_name is None:
            self.signal_name = why
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested (True), or ``timeout`` seconds pass (False)."""
        return self._event.wait(timeout)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.set(signal.Signals(number).name)

    def __enter__(self) -> StopRequest:
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        self._previous.clear()
