"""What a test's cassette is called, and which test owns each cassette file in a run.

The default name is the test's name, made file-safe so that the mapping is stable,
readable and never maps two tests to one file:

- a test in a class is ``ClassName.test_name``;
- letters, digits, ``_``, ``-``, ``.``, ``[`` and ``]`` are kept (so parametrize ids
  stay as pytest shows them: ``test_get[redis-1]`` is ``test_get[redis-1].json``);
- every other character becomes ``%XX`` per UTF-8 byte (``%`` itself too, which keeps
  the mapping one-to-one): ``test_get[a/b-1]`` is ``test_get[a%2Fb-1]``, a space ``%20``;
- a name longer than 120 characters keeps its first 109 and ends with ``-`` and ten hex
  digits of its SHA-256, so file names stay far below every file system's limit.

A cassette belongs to one test: :class:`CassetteClaims` remembers who claimed each
file, in memory or, across pytest-xdist workers, in a shared file locked with
``fcntl.flock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["MAX_LENGTH", "CassetteClaims", "default_cassette_name"]

MAX_LENGTH = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]")


def default_cassette_name(test_name: str, class_name: str | None = None) -> str:
    """The file-safe cassette name of a test (see the module docstring for the mapping)."""
    name = f"{class_name}.{test_name}" if class_name else test_name
    safe = _UNSAFE.sub(lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode()), name)
    if len(safe) > MAX_LENGTH:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        safe = f"{safe[: MAX_LENGTH - 11]}-{digest}"
    return safe


class CassetteClaims:
    """Which test uses which cassette file in this run; a second test is an error naming both.

    ``shared_file=None`` keeps the claims in memory (one process); otherwise every
    process of the run appends its claims to that file under an exclusive lock, so
    pytest-xdist workers see each other's.
    """

    def __init__(self, shared_file: Path | None = None) -> None:
        self.shared_file = shared_file
        self._owners: dict[str, str] = {}

    def claim(self, path: Path, test: str) -> None:
        """Make ``path`` the cassette of ``test``; raise if another test has it already."""
        key = os.path.normpath(os.path.abspath(path))
        owner = self._owners.get(key)
        if owner is None:
            owner = test if self.shared_file is None else self._claim_in_file(key, test)
            self._owners[key] = owner
        if owner != test:
            raise ConfigurationError(
                f"cassette {path} is used by two tests: {owner} and {test}; a cassette belongs to "
                "one test, so pass one of them its own name= (record_or_replay(upstream, name=...))"
            )

    def _claim_in_file(self, key: str, test: str) -> str:
        import fcntl  # POSIX only; only pytest-xdist runs get here

        assert self.shared_file is not None
        with open(self.shared_file, "a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                file.seek(0)
                for line in file:
                    claimed, owner = json.loads(line)
                    if claimed == key:
                        return str(owner)
                file.write(json.dumps([key, test]) + "\n")  # "a+": always at the end
                file.flush()
                return test
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)
