"""What a ``tcp_server`` fixture costs a test, against a test that uses a socket pair.

    python -m benchmarks.fixture_cost [--tests 300] [--runs 3]

Writes a temporary test module holding --tests tests that use ``tcp_server`` (one
request: ``PING\\r\\n`` answered by a rule) and as many that use ``socket.socketpair()``
(one request, answered by the test itself), interleaved, and runs pytest on it in a
subprocess. A small plugin in that run wraps ``pytest_runtest_protocol`` (setup + call +
teardown, and pytest's own reporting of the test, alike for both kinds) and times each
test with ``time.perf_counter``. For each run: the median duration of each kind and
their difference; over --runs runs: the median difference. Target (DESIGN.md,
"Performance targets"): at most 1 ms. The same for the pytest process's CPU time
(``getrusage``, every thread, the servers' included) is printed beside it: on a busy
machine it moves less than wall time, so it shows whether a change helped.

Both kinds run in one pytest process, interleaved, because wall time between two
separate runs swings by more than the figure measured. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HELPERS = """
import socket


def socket_pair_request():
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(10)
        b.settimeout(10)
        a.sendall(b"PING\\r\\n")
        assert b.recv(100) == b"PING\\r\\n"
        b.sendall(b"+PONG\\r\\n")
        assert a.recv(100) == b"+PONG\\r\\n"


def server_request(server):
    server.on(b"PING\\r\\n").reply(b"+PONG\\r\\n")
    with socket.create_connection(server.address, timeout=10) as client:
        client.sendall(b"PING\\r\\n")
        assert client.recv(100) == b"+PONG\\r\\n"
"""

TESTS = """

def test_pair_{i}():
    socket_pair_request()


def test_server_{i}(tcp_server):
    server_request(tcp_server)
"""

TIMER = """
import json
import os
import resource
import time

import pytest

durations = []


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: the servers' too
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    started, cpu_started = time.perf_counter(), cpu()
    try:
        return (yield)
    finally:
        durations.append((item.name, time.perf_counter() - started, cpu() - cpu_started))


def pytest_sessionfinish(session):
    with open(os.environ["FIXTURE_COST_DURATIONS"], "w") as file:
        json.dump(durations, file)
"""


class Medians(NamedTuple):
    """One pytest run's median seconds per test of each kind: wall time (the figure) and CPU time."""

    pair: float
    server: float
    pair_cpu: float
    server_cpu: float


def write_tests(folder: Path, count: int) -> None:
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(TIMER)
    (folder / "test_fixture_cost.py").write_text(HELPERS + "".join(TESTS.format(i=i) for i in range(count)))


def run_once(folder: Path) -> Medians:
    """One pytest run of both kinds of test."""
    durations_file = folder / "durations.json"
    env = {**os.environ, "FIXTURE_COST_DURATIONS": str(durations_file)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini"]
    result = subprocess.run(
        [*command, "--rootdir", ".", "test_fixture_cost.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(f"the pytest run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    durations = json.loads(durations_file.read_text())
    pair = [(wall, cpu) for name, wall, cpu in durations if name.startswith("test_pair_")]
    server = [(wall, cpu) for name, wall, cpu in durations if name.startswith("test_server_")]
    median = statistics.median
    return Medians(
        median(w for w, _ in pair),
        median(w for w, _ in server),
        median(c for _, c in pair),
        median(c for _, c in server),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tests", type=int, default=300, help="tests of each kind in one run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    differences, cpu_differences = [], []
    with tempfile.TemporaryDirectory(prefix="fixture-cost-") as name:
        folder = Path(name)
        write_tests(folder, args.tests)
        for run in range(1, args.runs + 1):
            m = run_once(folder)
            differences.append(m.server - m.pair)
            cpu_differences.append(m.server_cpu - m.pair_cpu)
            print(
                f"run {run}: median per test  socket pair {m.pair * 1000:.3f} ms   "
                f"tcp_server {m.server * 1000:.3f} ms   difference {(m.server - m.pair) * 1000:.3f} ms   "
                f"(CPU {m.pair_cpu * 1000:.3f} / {m.server_cpu * 1000:.3f} ms)"
            )
    median = statistics.median(differences)
    print(
        f"a tcp_server test costs {median * 1000:.3f} ms more than a socket-pair test "
        f"(median of {args.runs} runs of {args.tests} each; target <= 1 ms)"
    )
    cpu = statistics.median(cpu_differences)
    print(f"and {cpu * 1000:.3f} ms more CPU time of the pytest process (steadier when the machine is busy)")


if __name__ == "__main__":
    main()
