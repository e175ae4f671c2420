"""The ready line: one JSON line on stdout (and in ``--ready-file``) once every server listens.

``{"servers": {"NAME": {"kind": "tcp", "address": ["127.0.0.1", 41234]}}, "admin": URL}``;
a Unix server's address is its path. The ready file is written whole or not at all (a
temporary file renamed over it), so a CI script polling for it never reads half a line;
:func:`withdraw` removes it before start (a stale one would announce a service that is
not there yet) and after stop.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["announce", "ready_line", "withdraw"]


def ready_line(servers: Mapping[str, Mapping[str, Any]], admin_url: str | None = None) -> str:
    """The ready JSON, on one line: ``servers`` maps each name to ``{"kind": ..., "address": ...}``."""
    payload: dict[str, Any] = {"servers": {name: dict(entry) for name, entry in servers.items()}}
    if admin_url is not None:
        payload["admin"] = admin_url
    return json.dumps(payload, separators=(", ", ": "))


def announce(line: str, ready_file: str | os.PathLike[str] | None = None) -> None:
    """Print ``line`` on stdout (flushed) and write it atomically to ``ready_file``."""
    if ready_file is not None:
        target = Path(ready_file)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(line + "\n")
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def withdraw(ready_file: str | os.PathLike[str]) -> None:
    """Remove ``ready_file`` if it exists: what it announced no longer listens (or not yet)."""
    Path(ready_file).unlink(missing_ok=True)
