"""The two hooks the socket layer needs from the core: a fault list's change callback, server faults."""

from __future__ import annotations

import socketdouble as sd
from socketdouble.core.fault_spec import FaultList
from socketdouble.core.recording import Recording


def test_every_change_of_a_fault_list_calls_on_change_after_it() -> None:
    faults = FaultList("stream", "TCPServer")
    seen: list[int] = []
    faults.on_change = lambda: seen.append(faults.version)  # the change is done when it is called
    latency, slicer = sd.faults.latency(0.1), sd.faults.slicer(2)
    faults.append(latency)
    faults.insert(0, slicer)
    faults[1] = sd.faults.latency(0.2)
    faults.remove(slicer)
    faults.replace([latency])
    faults.clear()
    assert seen == [1, 2, 3, 4, 5, 6]


def test_a_fault_list_made_with_faults_calls_nothing() -> None:
    assert FaultList("stream", "TCPServer", [sd.faults.latency(0.1)]).on_change is None


def test_server_faults_are_listed_and_shown_with_the_seed() -> None:
    recording = Recording("double")
    recording.seed = 42
    assert "seed=42" not in recording.transcript()
    recording.add_fault("server down: listener closed")
    assert recording.server_faults == ["server down: listener closed"]
    lines = recording.transcript().splitlines()
    assert "faults seeded with seed=42" in lines[0]
    assert lines[1] == "server"
    assert lines[2].endswith("s ~~ fault: server down: listener closed")
