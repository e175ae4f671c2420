"""Each benchmark script runs with tiny counts and prints its ratio lines (never a timing asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(module: str, *args: str) -> str:
    source = str(ROOT / "src")
    path = os.pathsep.join(p for p in (source, str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_cpu_per_message_prints_both_ratios() -> None:
    out = run("cpu_per_message", "--requests", "50", "--repeats", "1", "--unrecorded")
    assert "server CPU per message: socketdouble / bare loop = " in out
    assert "(target <= 1.5x)" in out
    assert "round trips/s: socketdouble / best of bare and socketserver = " in out
    assert "(target >= 0.85)" in out
    assert "recording costs " in out


def test_fixture_cost_prints_the_median_difference() -> None:
    out = run("fixture_cost", "--tests", "3", "--runs", "1")
    assert "run 1: median per test  socket pair " in out
    assert "a tcp_server test costs " in out
    assert "more CPU time of the pytest process" in out
    assert "(median of 1 runs of 3 each; target <= 1 ms)" in out


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is the proxy benchmark's reference")
def test_proxy_prints_round_trip_and_bulk_ratios() -> None:
    out = run("proxy", "--requests", "20", "--megabytes", "1", "--repeats", "1")
    assert "ratio" in out
    assert "(target >= 0.9)" in out
    assert "(target >= 0.5)" in out


def test_start_stop_and_many_connections_print_their_ratios() -> None:
    assert "target: >= 100x" in run("start_stop", "--rounds", "3", "--reference-rounds", "1")
    assert "ratio: socketserver's stop takes" in run("many_connections", "--connections", "5")


def test_replay_prints_its_ratios() -> None:
    out = run("replay", "--requests", "20", "--turns", "20")
    assert "ratio replay/live:" in out
    assert "plain json.loads of the same text" in out


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is the proxy benchmark's reference")
def test_all_benchmarks_run_and_every_target_is_summed_up() -> None:
    out = run("__main__", "--quick")
    for name in (
        "server CPU per message / bare loop",
        "proxy round trips / socat",
        "tcp_server test - socket-pair test",
    ):
        assert f" {name} " in out
    summary = [line for line in out.splitlines() if line.startswith(("met ", "MISSED "))]
    assert len(summary) == 8, out
