"""Faults in the doubles file: ``[[servers.faults]]`` with ``type = "NAME"`` and its keywords.

``type = "latency"`` and ``seconds = 0.2`` is ``socketdouble.faults.latency(seconds=0.2)``:
every function of :mod:`socketdouble.faults` is a type, and its keywords are the table's
other keys, so the file says whatever Python can. The admin API reads faults the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..core.fault_spec import Fault
from ..errors import ConfigurationError
from .config_values import ConfigError, described, join, table

__all__ = ["fault_names", "parse_fault"]


def _functions() -> dict[str, Callable[..., Any]]:
    from .. import faults

    return {
        name: getattr(faults, name)
        for name in faults.__all__
        if name[:1].islower() and inspect.isfunction(getattr(faults, name))
    }


def fault_names() -> list[str]:
    """Every fault type the file may name, sorted."""
    return sorted(_functions())


def parse_fault(value: Any, path: str) -> Fault:
    """The ``Fault`` a fault table describes; a bad name or keyword is a ConfigError at ``path``."""
    data = dict(table(value, path))
    functions = _functions()
    if "type" not in data:
        raise ConfigError(path, f'no type: give type = "NAME", one of {", ".join(sorted(functions))}')
    name = data.pop("type")
    if not isinstance(name, str) or name not in functions:
        shown = repr(name) if isinstance(name, str) else described(name)
        raise ConfigError(
            join(path, "type"), f"{shown} is not a fault; choose one of {', '.join(sorted(functions))}"
        )
    function = functions[name]
    parameters = inspect.signature(function).parameters
    for key in data:
        if key not in parameters or parameters[key].kind not in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            takes = ", ".join(p.name for p in parameters.values()) or "no keywords"
            raise ConfigError(join(path, key), f"unknown keyword for {name}; it takes {takes}")
    for parameter in parameters.values():
        if parameter.default is inspect.Parameter.empty and parameter.name not in data:
            raise ConfigError(path, f"{name} needs {parameter.name} = ...")
    try:
        fault: Fault = function(**data)
    except ConfigurationError as error:
        raise ConfigError(path, str(error)) from None
    except (TypeError, ValueError) as error:  # a value of the wrong type the function did not name
        raise ConfigError(path, f"{name}: {error}") from None
    return fault
