"""Keyword checks for server constructors: a misspelt keyword names the closest valid one.

``TCPServer(prot=0)`` raises ``ConfigurationError("TCPServer(prot=0): unknown keyword
'prot'; did you mean 'port'?")`` instead of Python's bare TypeError. One mechanism for
every server class: :class:`ChecksKeywords` is the metaclass of ``BaseServer``, and the
keywords a class takes are read from its ``__new__``/``__init__`` chain, so a subclass
that adds a keyword needs nothing more.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any

from ..errors import ConfigurationError

__all__ = ["ChecksKeywords", "accepted_keywords", "check_keywords"]


class ChecksKeywords(type):
    """The metaclass of every server: a misspelt keyword is a ConfigurationError.

    It runs ``__new__`` first, so classes that pick a subclass there (``ReplayServer``,
    ``RecordingProxy``) are checked against the class actually made.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        made_by: Any = cls  # as a class, not as an instance of this metaclass
        instance = made_by.__new__(cls, *args, **kwargs)
        if isinstance(instance, cls):
            made = type(instance)
            check_keywords(made, kwargs, cls.__name__)
            made.__init__(instance, *args, **kwargs)
        return instance


@functools.lru_cache(maxsize=256)  # read once per class: every server made asks, twice in a fixture
def accepted_keywords(cls: type) -> frozenset[str] | None:
    """Every keyword the ``__new__``/``__init__`` chain of ``cls`` accepts by name.

    None when a class outside socketdouble takes ``**kwargs`` in that chain: it may
    read any keyword, so none can be called unknown.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        for attribute in ("__new__", "__init__"):
            function = klass.__dict__.get(attribute)
            if function is None or klass is object:
                continue
            if isinstance(function, staticmethod):
                function = function.__func__
            for parameter in inspect.signature(function).parameters.values():
                if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                    names.add(parameter.name)
                elif parameter.kind is parameter.VAR_KEYWORD and not klass.__module__.startswith(
                    "socketdouble."
                ):
                    return None
    return frozenset(names - {"self", "cls"})


def check_keywords(cls: type, kwargs: dict[str, Any], call: str) -> None:
    """Raise ConfigurationError naming each keyword ``cls`` does not take, and the closest one."""
    accepted = accepted_keywords(cls)
    if accepted is None:
        return
    unknown = [key for key in kwargs if key not in accepted]
    if not unknown:
        return
    given = ", ".join(f"{key}={kwargs[key]!r}" for key in unknown)
    why, guessed = [], True
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(accepted), n=1)
        guessed = guessed and bool(close)
        why.append(
            f"unknown keyword {key!r}; " + (f"did you mean {close[0]!r}?" if close else "none is close")
        )
    takes = "" if guessed else f" ({call} takes: {', '.join(sorted(accepted))})"
    raise ConfigurationError(f"{call}({given}): " + "; ".join(why) + takes)
