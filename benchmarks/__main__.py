"""Every performance target of DESIGN.md in one run: each benchmark in turn, then a summary.

    python -m benchmarks [--quick]

Runs the benchmarks with their default sizes (``--quick``: small counts, to check that
they run; its figures mean nothing) and prints each one's own output, then one line per
target: the figure, the target and whether it is met. Exits 1 if a target is missed
(never with ``--quick``), so a loop of runs can stop at the first miss. socat must be
installed for the proxy figures. Loopback only; each benchmark has its own time limit.
"""

from __future__ import annotations

import argparse
import operator
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Target(NamedTuple):
    """One figure a benchmark prints, found by ``pattern`` (its first group), and its target."""

    name: str
    module: str
    pattern: str
    sign: str  # "<=", ">=" or "<"
    bound: float
    unit: str


LE, GE, LT = "<=", ">=", "<"
COMPARE: dict[str, Callable[[float, float], bool]] = {LE: operator.le, GE: operator.ge, LT: operator.lt}
TARGETS = [
    Target("server CPU per message / bare loop", "cpu_per_message", r"bare loop = ([\d.]+)x", LE, 1.5, "x"),
    Target("round trips / best reference", "cpu_per_message", r"and socketserver = ([\d.]+)", GE, 0.85, ""),
    Target("proxy round trips / socat", "proxy", r"round trips/s .* ratio ([\d.]+)", GE, 0.9, ""),
    Target("proxy 128 MB stream / socat", "proxy", r"MB stream .* ratio ([\d.]+)", GE, 0.5, ""),
    Target("tcp_server test - socket-pair test", "fixture_cost", r"test costs ([\d.]+) ms", LE, 1.0, " ms"),
    Target("start+stop, median", "start_stop", r"median of \d+: ([\d.]+) ms", LT, 2.0, " ms"),
    Target("start+stop vs socketserver", "start_stop", r"socketdouble is (\d+)x faster", GE, 100, "x"),
    Target("stop() with 1,000 blocked", "many_connections", r"TCPServer: .* in ([\d.]+) ms", LT, 1000, " ms"),
]

QUICK_ARGS = {
    "cpu_per_message": ["--requests", "300", "--repeats", "1"],
    "proxy": ["--requests", "300", "--megabytes", "4", "--repeats", "1"],
    "fixture_cost": ["--tests", "20", "--runs", "1"],
    "start_stop": ["--rounds", "20", "--reference-rounds", "1"],
    "many_connections": ["--connections", "50"],
}


def run(module: str, quick: bool) -> str:
    """Run ``benchmarks.<module>``, echoing its output; return it."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    print(f"== python -m benchmarks.{module}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *(QUICK_ARGS[module] if quick else [])],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        raise SystemExit(f"benchmarks.{module} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: checks that they run")
    args = parser.parse_args()
    outputs = {module: run(module, args.quick) for module in dict.fromkeys(t.module for t in TARGETS)}
    print('\n== targets (DESIGN.md, "Performance targets")')
    missed = 0
    for target in TARGETS:
        found = re.search(target.pattern, outputs[target.module])
        if found is None:
            raise SystemExit(f"benchmarks.{target.module} printed no figure for {target.name!r}")
        value = float(found.group(1))
        met = COMPARE[target.sign](value, target.bound)
        missed += not met
        print(
            f"{'met   ' if met else 'MISSED'} {target.name:<36} {value:>8g}{target.unit:<4} "
            f"(target {target.sign} {target.bound:g}{target.unit})"
        )
    if args.quick:
        print("(--quick: small counts, so these figures mean nothing)")
    sys.exit(1 if missed and not args.quick else 0)


if __name__ == "__main__":
    main()
