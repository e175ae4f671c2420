"""Framing in the doubles file: where one message of a stream ends.

``framing = "lines"`` (the default), ``"raw"``, ``"http"`` or ``"length_prefixed"``; or
one of them with its options, ``{lines = {delimiter = "\\r\\n"}}``,
``{length_prefixed = {size = 2, byteorder = "little"}}``, ``{http = {max_body = 65536}}``.
"""

from __future__ import annotations

from typing import Any

from ..core.framing import Framing, length_prefixed, lines, raw
from ..core.http_framing import http
from ..errors import ConfigurationError
from .config_values import ConfigError, bytes_value, check_keys, described, integer, join, table

__all__ = ["parse_framing"]


def parse_framing(value: Any, path: str) -> Framing:
    """``"lines"``, ``"raw"``, ``"http"``, ``"length_prefixed"``, or a table of one of them with options."""
    makers = ("lines", "raw", "http", "length_prefixed")
    if isinstance(value, str):
        if value not in makers:
            raise ConfigError(path, f"{value!r} is not one of {', '.join(makers)}")
        name, options = value, dict[str, Any]()
    elif isinstance(value, dict) and len(value) == 1:
        ((name, options),) = value.items()
        if name not in makers:
            raise ConfigError(join(path, name), f"unknown framing; choose one of {', '.join(makers)}")
        options = table(options, join(path, name))
    else:
        raise ConfigError(
            path,
            f'expected "lines", "raw", "http", "length_prefixed" or {{lines = {{delimiter = "\\r\\n"}}}}, '
            f"not {described(value)}",
        )
    where = join(path, name) if isinstance(value, dict) else path
    allowed = {
        "lines": ("delimiter", "delimiter_hex", "max_length"),
        "raw": (),
        "http": ("max_head", "max_body"),
        "length_prefixed": ("size", "byteorder", "max_length"),
    }[name]
    check_keys(options, where, allowed, f"{name} framing")
    try:
        if name == "lines":
            delimiter = bytes_value(options, "delimiter", where)
            kw: dict[str, Any] = {} if delimiter is None else {"delimiter": delimiter}
            if "max_length" in options:
                kw["max_length"] = integer(options, "max_length", where, minimum=1)
            return lines(**kw)
        if name == "length_prefixed":
            kw = {key: options[key] for key in ("size", "byteorder") if key in options}
            if "max_length" in options:
                kw["max_length"] = integer(options, "max_length", where, minimum=0)
            return length_prefixed(**kw)
        if name == "http":
            kw = {
                key: integer(options, key, where, minimum=1)
                for key in ("max_head", "max_body")
                if key in options
            }
            return http(**kw)
        return raw()
    except ConfigurationError as error:
        raise ConfigError(where, str(error)) from None
