"""The doubles file of ``socketdouble serve``: TOML (or JSON, one schema), read and checked.

::

    seed = 7
    [[servers]]
    name = "cache"
    kind = "tcp"
      [[servers.rules]]
      match = "PING\\r\\n"
      reply = "+PONG\\r\\n"

:func:`load` reads a file into a :class:`Config`; every problem is a
:class:`~socketdouble.service.config_values.ConfigError` naming the key path
(``servers[0].rules[1].reply: expected a string, not 5``) or the line of a syntax
error. Nothing listens until the whole file is known to be good. The format is
documented in ``docs/service.md``; one server table is read by
:mod:`.config_servers`, its rules and script by :mod:`.config_rules`, its faults by
:mod:`.config_faults`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_servers import ServerSpec, parse_server
from .config_values import ConfigError, check_keys, integer, join, table, table_list

# Python 3.10 has no tomllib: the tomli backport (a dependency there) is the same module.
# Imported by name, so the type checker, told to check for 3.10, needs neither installed.
tomllib: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

__all__ = ["Config", "ConfigError", "load", "parse", "parse_text"]

_TOP_KEYS = ("seed", "servers")


@dataclass
class Config:
    """A checked doubles file: its servers, in file order."""

    #: The folder relative paths in the file (cassettes, socket paths) are taken from.
    base: Path
    seed: int | None = None
    servers: list[ServerSpec] = field(default_factory=list)


def load(path: str | os.PathLike[str], *, allow_remote: bool = False) -> Config:
    """Read and check the doubles file at ``path`` (JSON when its name ends in ``.json``)."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise ConfigError("", f"cannot read it: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError("", f"line {line}: byte {raw[error.start]:#04x} is not UTF-8 text") from None
    is_json = source.suffix.lower() == ".json"
    return parse_text(text, is_json=is_json, base=source.resolve().parent, allow_remote=allow_remote)


def parse_text(text: str, *, is_json: bool, base: Path, allow_remote: bool = False) -> Config:
    """Parse the file's text (TOML, or JSON) and check it; see :func:`load`."""
    if is_json:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError("", f"line {error.lineno}, column {error.colno}: {error.msg}") from None
        except RecursionError:
            raise ConfigError("", "JSON nested too deeply to read") from None
    else:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError("", _toml_problem(str(error), text)) from None
    return parse(document, base=base, allow_remote=allow_remote)


def _toml_problem(message: str, text: str) -> str:
    """tomllib's "Invalid value (at line 3, column 9)" as "line 3, column 9: Invalid value"."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is not None:
        return f"line {found.group(1)}, column {found.group(2)}: {message[: found.start()]}"
    found = re.search(r"\s*\(at end of document\)$", message)
    if found is not None:
        return f"line {text.count(chr(10)) + 1}, at the end: {message[: found.start()]}"
    return message


def parse(document: Any, *, base: Path, allow_remote: bool = False) -> Config:
    """Check a loaded document (the file's TOML or JSON, as dicts and lists)."""
    data = table(document, "")
    check_keys(data, "", _TOP_KEYS, "the file")
    config = Config(base=base, seed=integer(data, "seed", "", minimum=0))
    names: dict[str, str] = {}
    for index, server in enumerate(table_list(data, "servers", "")):
        path = join("servers", index)
        spec = parse_server(server, path, base=base, allow_remote=allow_remote, seed=config.seed)
        if spec.name in names:
            raise ConfigError(join(path, "name"), f"{spec.name!r} is also the name of {names[spec.name]}")
        names[spec.name] = path
        config.servers.append(spec)
    return config
