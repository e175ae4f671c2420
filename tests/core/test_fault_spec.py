"""FaultList (the live list) and seeding: what makes a fault run repeatable."""

from __future__ import annotations

import pytest

import socketdouble as sd
from socketdouble.core.fault_spec import FaultList, check_seed, fault_random


def test_every_change_bumps_the_version() -> None:
    faults = FaultList("stream", "TCPServer")
    versions = [faults.version]
    faults.append(sd.faults.latency(0.1))
    versions.append(faults.version)
    faults.insert(0, sd.faults.reset())
    versions.append(faults.version)
    faults[1] = sd.faults.latency(0.2)
    versions.append(faults.version)
    faults.remove(sd.faults.reset())  # an equal, fresh fault removes it
    versions.append(faults.version)
    del faults[0]
    versions.append(faults.version)
    faults.extend([sd.faults.slicer(2)])
    versions.append(faults.version)
    faults.clear()
    versions.append(faults.version)
    assert versions == sorted(set(versions))
    assert list(faults) == []


def test_snapshot_reads_version_and_contents_together() -> None:
    faults = FaultList("stream", "TCPServer", [sd.faults.latency(0.1)])
    version, contents = faults.snapshot()
    assert (version, contents) == (faults.version, (sd.faults.latency(0.1),))
    assert faults[0:1] == [sd.faults.latency(0.1)]
    assert faults == FaultList("stream", "TCPServer", [sd.faults.latency(0.1)])
    assert repr(faults) == "[latency(0.1, jitter=0.0)]"


def test_slice_assignment_is_checked_too() -> None:
    faults = FaultList("datagram", "UDPServer")
    with pytest.raises(sd.ConfigurationError, match="slicer"):
        faults[:] = [sd.faults.slicer(3)]
    with pytest.raises(sd.ConfigurationError, match="given to UDPServer"):
        faults.append(sd.faults.reset())
    assert faults.version == 0


def test_listener_faults_are_found_apart() -> None:
    faults = FaultList("stream", "TCPServer", [sd.faults.latency(0.1), sd.faults.connect_timeout()])
    assert faults.of_medium("listener") == [sd.faults.connect_timeout()]


def test_the_same_inputs_give_the_same_draws_and_any_change_others() -> None:
    fault = sd.faults.latency(0.1, jitter=0.1)

    def draws(*key: object) -> list[float]:
        generator = fault_random(*key)  # type: ignore[arg-type]
        return [generator.random() for _ in range(3)]

    assert draws(7, fault, 0, 1, "to_client") == draws(7, fault, 0, 1, "to_client")
    others = [
        draws(8, fault, 0, 1, "to_client"),
        draws(7, fault, 1, 1, "to_client"),
        draws(7, fault, 0, 2, "to_client"),
        draws(7, fault, 0, 1, "from_client"),
        draws(7, sd.faults.latency(0.1, jitter=0.2), 0, 1, "to_client"),
    ]
    assert draws(7, fault, 0, 1, "to_client") not in others


def test_toxicity_and_connections_choose_connections_repeatably() -> None:
    half = sd.faults.reset(toxicity=0.5)
    chosen = [half.chosen(11, 0, number) for number in range(1, 41)]
    assert chosen == [half.chosen(11, 0, number) for number in range(1, 41)]
    assert 5 < sum(chosen) < 35  # about half of 40
    assert chosen != [half.chosen(12, 0, number) for number in range(1, 41)]
    assert all(sd.faults.reset(toxicity=1.0).chosen(1, 0, n) for n in range(1, 5))
    assert not any(sd.faults.reset(toxicity=0.0).chosen(1, 0, n) for n in range(1, 5))
    only = sd.faults.reset(connections=[2])
    assert [only.chosen(1, 0, n) for n in (1, 2, 3)] == [False, True, False]


def test_seeds() -> None:
    assert check_seed(5) == 5
    assert 0 <= check_seed(None) < 2**32
    with pytest.raises(sd.ConfigurationError, match="seed=True"):
        check_seed(True)


def test_an_empty_list_at_construction_leaves_the_version_at_zero() -> None:
    # Version 0 is what a server's hot path checks: faults=[] must cost nothing either.
    assert FaultList("stream", "TCPServer", []).version == 0
    assert FaultList("stream", "TCPServer", [sd.faults.latency(0.1)]).version != 0
