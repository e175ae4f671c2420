"""``socketdouble serve``: not written yet."""

from __future__ import annotations

import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("socketdouble serve")
