"""One registry of concrete server classes, by role and cassette kind.

``RecordingProxy(upstream, kind="udp")`` and ``ReplayServer(cassette)`` are made as
the concrete class for their kind (``UDPProxy``, ``TCPReplay``...), and ``new_episodes``
picks its server the same way. Each concrete class registers itself with
:func:`registers`; :func:`concrete` looks it up. The table is filled as the modules
that define the classes are imported (``proxy``, ``replay``, ``episodes``), which the
roles' own modules do before they look anything up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

__all__ = ["Role", "concrete", "kinds", "registers"]

Role = Literal["proxy", "replay", "episodes"]
_T = TypeVar("_T", bound=type)

_TABLE: dict[tuple[Role, str], type] = {}


def registers(role: Role, kind: str) -> Callable[[_T], _T]:
    """A class decorator: the decorated class is ``role``'s concrete class for ``kind``."""

    def register(cls: _T) -> _T:
        existing = _TABLE.setdefault((role, kind), cls)
        if existing is not cls:
            raise TypeError(f"{role} kind {kind!r} is already {existing.__name__}; not also {cls.__name__}")
        return cls

    return register


def kinds(role: Role) -> tuple[str, ...]:
    """The kinds ``role`` has a class for, in registration order."""
    return tuple(kind for (each, kind) in _TABLE if each == role)


def concrete(role: Role, kind: str) -> type:
    """The class registered for ``(role, kind)``; callers check ``kind in kinds(role)`` first."""
    try:
        return _TABLE[(role, kind)]
    except KeyError:
        raise LookupError(f"no {role} class for kind {kind!r}; known: {', '.join(kinds(role))}") from None
