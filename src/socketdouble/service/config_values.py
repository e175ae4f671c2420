"""Reading one value of the doubles file: its type checked, its key path in every error.

The file is TOML or JSON; both load as dicts, lists, strings, numbers and booleans, so
one set of readers serves both (and the admin API's JSON bodies). Each reader takes the
table, the key and the table's key path (``servers[0].rules[1]``), and raises
:class:`ConfigError` naming ``servers[0].rules[1].reply`` and what was wrong with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

__all__ = [
    "ConfigError",
    "boolean",
    "bytes_value",
    "check_keys",
    "described",
    "hex_bytes",
    "integer",
    "join",
    "number",
    "string",
    "string_list",
    "table",
    "table_list",
]


class ConfigError(Exception):
    """A bad value in the doubles file (or an admin request's body), at a key path.

    ``str(error)`` is ``"servers[0].rules[1].reply: expected a string, not 5"``; an
    empty path (the file as a whole) leaves only the problem.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def join(path: str, key: str | int) -> str:
    """The key path of ``key`` (a name, or a list index) inside the value at ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def described(value: Any) -> str:
    """``value`` as the error shows it: its JSON-ish type and, when short, itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _expected(path: str, what: str, value: Any) -> ConfigError:
    return ConfigError(path, f"expected {what}, not {described(value)}")


def table(value: Any, path: str) -> dict[str, Any]:
    """``value`` if it is a table (a TOML table, a JSON object)."""
    if not isinstance(value, dict):
        raise _expected(path, "a table", value)
    return value


def table_list(data: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    """The list of tables at ``key`` (``[[servers.rules]]``), or ``[]`` when absent."""
    value = data.get(key, [])
    where = join(path, key)
    if not isinstance(value, list):
        raise _expected(where, "a list of tables", value)
    return [table(item, join(where, index)) for index, item in enumerate(value)]


def check_keys(data: Mapping[str, Any], path: str, allowed: Collection[str], what: str) -> None:
    """Refuse a key ``what`` does not take, naming the closest allowed one (or all of them)."""
    for key in data:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"{what} takes {', '.join(sorted(allowed))}"
        raise ConfigError(join(path, key), f"unknown key for {what}; {hint}")


def string(data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str | None:
    """The string at ``key``, or ``default`` when absent."""
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, str):
        raise _expected(join(path, key), "a string", value)
    return value


def string_list(data: Mapping[str, Any], key: str, path: str) -> list[str]:
    """The list of strings at ``key``, or ``[]`` when absent."""
    value = data.get(key, [])
    where = join(path, key)
    if not isinstance(value, list):
        raise _expected(where, "a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _expected(join(where, index), "a string", item)
    return list(value)


def integer(
    data: Mapping[str, Any], key: str, path: str, default: int | None = None, *, minimum: int | None = None
) -> int | None:
    """The integer at ``key`` (never a boolean), at least ``minimum``; ``default`` when absent."""
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expected(join(path, key), "an integer", value)
    if minimum is not None and value < minimum:
        raise ConfigError(join(path, key), f"expected an integer >= {minimum}, not {value}")
    return value


def number(data: Mapping[str, Any], key: str, path: str, default: float | None = None) -> float | None:
    """The number of seconds (or other non-negative quantity) at ``key``; ``default`` when absent."""
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _expected(join(path, key), "a number", value)
    if not 0 <= value < float("inf"):
        raise ConfigError(join(path, key), f"expected a number >= 0, not {value!r}")
    return float(value)


def boolean(data: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
    """The boolean at ``key``, or ``default`` when absent."""
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, bool):
        raise _expected(join(path, key), "true or false", value)
    return value


def bytes_value(data: Mapping[str, Any], key: str, path: str) -> bytes | None:
    """The bytes given as ``key`` (a string, UTF-8 encoded) or ``key_hex``; None when neither.

    Both at once is an error: the file would say two things.
    """
    hex_key = f"{key}_hex"
    if key in data and hex_key in data:
        raise ConfigError(join(path, hex_key), f"give {key} or {hex_key}, not both")
    if key in data:
        text = string(data, key, path)
        assert text is not None
        return text.encode("utf-8")
    if hex_key in data:
        return hex_bytes(data[hex_key], join(path, hex_key))
    return None


def hex_bytes(value: Any, path: str) -> bytes:
    """Bytes written as hex digits; spaces, tabs, newlines and ``:`` between them are allowed."""
    if not isinstance(value, str):
        raise _expected(path, "a string of hex digits", value)
    digits = "".join(value.split()).replace(":", "")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
        why = f"{bad!r} is not a hex digit" if bad is not None else "an odd number of hex digits"
        raise ConfigError(path, f"expected hex digits like '2b 50 4f 4e 47 0d 0a': {why}") from None
