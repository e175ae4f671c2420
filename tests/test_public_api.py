"""The public surface: every name users meet is importable from ``socketdouble``."""

from __future__ import annotations

import importlib
import pkgutil
import typing

import socketdouble as sd
from socketdouble.core import cassette


def test_the_types_users_meet_are_exported() -> None:
    for name in ("Doubles", "Greeting", "CassetteError", "CassetteMissing", "StopFailed", "Concurrency"):
        assert name in sd.__all__, name
    assert issubclass(sd.Lines, sd.Framing) and issubclass(sd.LengthPrefixed, sd.Framing)
    assert issubclass(sd.Raw, sd.Framing)
    assert sorted(sd.__all__) == sorted(set(sd.__all__))
    assert all(hasattr(sd, name) for name in sd.__all__)


def test_cassette_errors_live_with_the_other_errors() -> None:
    assert sd.CassetteError is cassette.CassetteError
    assert sd.CassetteError.__module__ == "socketdouble.errors"
    assert issubclass(sd.CassetteError, sd.SocketDoubleError)


def test_concurrency_is_a_literal_of_the_three_modes() -> None:
    assert typing.get_args(sd.Concurrency) == ("thread", "serial", "fork")


def test_every_public_module_declares_all() -> None:
    missing = [] if hasattr(sd, "__all__") else ["socketdouble"]
    for module in pkgutil.walk_packages(sd.__path__, "socketdouble."):
        if any(part.startswith("_") for part in module.name.split(".")[1:]):
            continue
        if not hasattr(importlib.import_module(module.name), "__all__"):
            missing.append(module.name)
    assert missing == []
