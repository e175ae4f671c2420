"""The public fault functions: parameters checked, names and reprs as the transcript shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.core.fault_spec import DATAGRAM_FAULTS, STREAM_FAULTS


def test_every_fault_named_in_the_tables_is_a_function() -> None:
    for name in {*STREAM_FAULTS, *DATAGRAM_FAULTS}:
        assert callable(getattr(sd.faults, name)), name
        assert name in sd.faults.__all__


def test_a_fault_shows_its_parameters() -> None:
    fault = sd.faults.latency(0.2, jitter=0.05, direction="both", connections=[3, 1], toxicity=0.5)
    assert fault.describe() == "latency(0.2, jitter=0.05, direction='both', connections=[1, 3], toxicity=0.5)"
    assert repr(fault) == f"<Fault {fault.describe()}>"
    assert fault["seconds"] == 0.2
    assert sd.faults.refuse().describe() == "refuse()"
    assert sd.faults.connect_timeout().describe() == "connect_timeout()"
    with pytest.raises(KeyError, match="latency\\(\\) has no parameter 'size'"):
        fault["size"]


def test_equal_faults_compare_equal_so_remove_takes_a_fresh_one() -> None:
    assert sd.faults.reset(3) == sd.faults.reset(after_bytes=3)
    assert sd.faults.reset(3) != sd.faults.reset(3, direction="from_client")


def test_directions() -> None:
    assert sd.faults.latency(1).acts_on("to_client")
    assert not sd.faults.latency(1).acts_on("from_client")
    assert sd.faults.latency(1, direction="from_client").acts_on("from_client")
    both = sd.faults.latency(1, direction="both")
    assert both.acts_on("to_client") and both.acts_on("from_client")


BAD: list[tuple[Callable[[], Any], str]] = [
    (lambda: sd.faults.latency(-0.1), r"latency\(seconds=-0.1\): seconds must be >= 0"),
    (
        lambda: sd.faults.latency("0.2"),  # type: ignore[arg-type]
        r"latency\(seconds='0.2'\): seconds must be a finite number",
    ),
    (lambda: sd.faults.latency(float("nan")), r"seconds must be a finite number"),
    (lambda: sd.faults.latency(True), r"seconds must be a finite number"),
    (lambda: sd.faults.latency(0.1, jitter=-1), r"latency\(jitter=-1\)"),
    (lambda: sd.faults.bandwidth(0), r"bandwidth\(bytes_per_second=0\): bytes_per_second must be > 0"),
    (lambda: sd.faults.slicer(0), r"slicer\(size=0\): size must be >= 1"),
    (lambda: sd.faults.slicer(2.5), r"slicer\(size=2.5\): size must be a whole number >= 1"),  # type: ignore[arg-type]
    (lambda: sd.faults.slicer(4, variation=-1), r"variation must be >= 0"),
    (lambda: sd.faults.close_after(-1), r"close_after\(nbytes=-1\)"),
    (lambda: sd.faults.reset(delay=-2), r"reset\(delay=-2\)"),
    (lambda: sd.faults.timeout(-1), r"timeout\(seconds=-1\)"),
    (lambda: sd.faults.garbage(0), r"garbage\(nbytes=0\): nbytes must be >= 1"),
    (lambda: sd.faults.drop(1.5), r"drop\(probability=1.5\): probability is a fraction between 0 and 1"),
    (lambda: sd.faults.drop(-0.5), r"drop\(probability=-0.5\)"),
    (lambda: sd.faults.drop(burst=0), r"drop\(burst=0\): burst must be >= 1"),
    (lambda: sd.faults.duplicate(copies=0), r"copies must be >= 1"),
    (lambda: sd.faults.corrupt(bits=0), r"bits must be >= 1"),
    (lambda: sd.faults.reorder(window=1), r"reorder\(window=1\): window must be >= 2"),
    (lambda: sd.faults.reorder(max_hold=-1), r"max_hold must be >= 0"),
    (lambda: sd.faults.truncate(-1), r"truncate\(nbytes=-1\)"),
    (lambda: sd.faults.latency(1, direction="up"), r"direction='up'\): direction is one of 'to_client'"),  # type: ignore[arg-type]
    (lambda: sd.faults.latency(1, toxicity=2), r"latency\(toxicity=2\): toxicity is a fraction"),
    (lambda: sd.faults.reset(connections=1), r"reset\(connections=1\): give a list of connection numbers"),  # type: ignore[arg-type]
    (lambda: sd.faults.reset(connections=[0]), r"0 is not a connection number"),
    (lambda: sd.faults.reset(connections=["1"]), r"'1' is not a connection number"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_bad_parameters_name_the_parameter_and_the_fix(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(sd.ConfigurationError, match=message):
        make()


def test_servers_take_faults_and_a_seed() -> None:
    fault = sd.faults.latency(0.1)
    server = sd.TCPServer(faults=[fault], seed=42)
    assert server.seed == 42
    assert server.faults == [fault]
    server.faults = [sd.faults.reset()]
    assert server.faults == [sd.faults.reset()]
    assert isinstance(sd.TCPServer().seed, int)


def test_a_fault_for_the_other_medium_is_refused_naming_what_fits() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"drop\(1.0, burst=1\) given to TCPServer: drop\(\)"):
        sd.TCPServer(faults=[sd.faults.drop()])
    with pytest.raises(sd.ConfigurationError, match="faults for UDPServer: drop, duplicate"):
        sd.UDPServer(faults=[sd.faults.slicer(3)])
    with pytest.raises(sd.ConfigurationError, match="connect_timeout\\(\\) given to UDPServer"):
        sd.UDPServer().faults.append(sd.faults.connect_timeout())
    assert sd.UDPServer(faults=[sd.faults.latency(0.1)]).faults  # latency fits both


def test_bad_seeds_and_fault_lists() -> None:
    with pytest.raises(sd.ConfigurationError, match=r"seed=-1: give a whole number >= 0"):
        sd.TCPServer(seed=-1)
    with pytest.raises(sd.ConfigurationError, match=r"seed='7'"):
        sd.TCPServer(seed="7")
    with pytest.raises(sd.ConfigurationError, match=r"faults=<Fault latency.*give a list of faults"):
        sd.TCPServer(faults=sd.faults.latency(1))
    with pytest.raises(sd.ConfigurationError, match=r"'latency' is not a fault: make one with socketdouble"):
        sd.TCPServer(faults=["latency"])
