"""Comparing a live client turn with a recorded one as its bytes arrive, in linear time.

Redaction keeps lengths and only ever writes the fill byte, and a recorded turn is
already redacted. So a live byte that differs from a recorded byte that is *not* fill
can never match, whatever the rest of the turn: a :class:`TurnCheck` reports it at
once. A difference where the recorded turn holds fill bytes may be a secret (or an
ignored field): it is only judged when the whole turn is in, by redacting the live turn
and comparing again. Each live byte is compared once, against the same offset of the
recorded turn, so a turn of hundreds of MB costs linear time.
"""

from __future__ import annotations

import bisect
import re

from .cassette import Redactor
from .mismatch import first_difference

__all__ = ["TurnCheck"]


class TurnCheck:
    """One recorded turn, and how far the live bytes have been checked against it.

    Feed it the live turn so far with :meth:`advance` (the same growing buffer each
    time; only the new bytes are compared), then ask :meth:`finish` once the live bytes
    are at least as long as the recorded turn.
    """

    def __init__(self, recorded: bytes, redactor: Redactor | None = None) -> None:
        self.recorded = recorded
        self.redactor = redactor if redactor else None
        #: How many live bytes were compared so far (the next offset to compare).
        self.checked = 0
        #: Live bytes compared in all, a work counter (tests hold it to linear).
        self.compared = 0
        #: Offset of the first difference that can never match, once one is seen.
        self.difference: int | None = None
        #: True when live bytes differ where the recorded turn holds fill bytes.
        self.pending = False
        self._fill_runs: tuple[list[int], list[int]] | None = None
        self._finished: bool | None = None

    def advance(self, live: bytes | bytearray) -> int | None:
        """Compare the live bytes not compared yet; the first sure difference, or None."""
        if self.difference is not None:
            return self.difference
        start, end = self.checked, min(len(live), len(self.recorded))
        if start >= end:
            return None
        chunk = live[start:end]
        self.compared += end - start
        self.checked = end
        if not self.recorded.startswith(chunk, start):  # compares in place, no copy of the turn
            self.difference = self._sure_difference(chunk, start)
        return self.difference

    def finish(self, live: bytes | bytearray) -> bool:
        """Whether the whole live turn (its first ``len(recorded)`` bytes) matches."""
        if self._finished is not None:
            return self._finished
        size = len(self.recorded)
        if len(live) < size:
            raise ValueError(f"finish() needs {size} live bytes, got {len(live)}")
        if self.advance(live) is None and self.pending:
            assert self.redactor is not None  # pending only arises with patterns
            redacted = self.redactor(bytes(live[:size]))
            self.difference = first_difference(redacted, self.recorded)
        self._finished = self.difference is None
        return self._finished

    def misfit(self, live: bytes | bytearray) -> int | None:
        """For a first turn, nothing answered yet: where the live bytes stop fitting, or None.

        The first sure difference, or ``len(recorded)`` when the client sent more than
        the whole turn (it would have waited for the answer); None while they fit.
        """
        difference = self.advance(live)
        if difference is None and len(live) >= len(self.recorded):
            if not self.finish(live):
                return self.difference
            if len(live) > len(self.recorded):
                return len(self.recorded)
        return difference

    def _sure_difference(self, chunk: bytes | bytearray, start: int) -> int | None:
        """In ``chunk`` (live bytes from ``start``), the first difference at a non-fill byte."""
        if self.redactor is None:
            offset = first_difference(bytes(chunk), self.recorded[start : start + len(chunk)])
            return None if offset is None else start + offset
        starts, ends = self._runs()
        end = start + len(chunk)
        at = start
        run = max(0, bisect.bisect_right(starts, start) - 1)
        while at < end:
            while run < len(starts) and ends[run] <= at:
                run += 1
            if run < len(starts) and starts[run] <= at:  # inside a fill run: wait for the turn
                upto = min(end, ends[run])
                if chunk[at - start : upto - start] != self.recorded[at:upto]:
                    self.pending = True
            else:  # up to the next fill run: any difference here is for sure
                upto = min(end, starts[run]) if run < len(starts) else end
                piece = bytes(chunk[at - start : upto - start])
                if not self.recorded.startswith(piece, at):
                    offset = first_difference(piece, self.recorded[at:upto])
                    return None if offset is None else at + offset
            at = upto
        return None

    def _runs(self) -> tuple[list[int], list[int]]:
        """Where the recorded turn holds fill bytes: run starts and ends, in order."""
        if self._fill_runs is None:
            assert self.redactor is not None
            fill = re.escape(self.redactor.fill[:1]) + b"+"
            matches = list(re.finditer(fill, self.recorded))
            self._fill_runs = ([m.start() for m in matches], [m.end() for m in matches])
        return self._fill_runs
