"""Datagram fault decisions: per peer, per direction, seeded."""

from __future__ import annotations

import math

import socketdouble as sd
from socketdouble.core.datagram_faults import DatagramFaults
from socketdouble.core.fault_spec import Fault, FaultList
from socketdouble.core.stream_faults import Piece


def peer(*faults: Fault, seed: int = 1, number: int = 1) -> tuple[FaultList, DatagramFaults]:
    fault_list = FaultList("datagram", "UDPServer", faults)
    return fault_list, DatagramFaults(fault_list, seed, number)


def run(faults: DatagramFaults, count: int, *, flow: str = "to_client") -> tuple[list[bytes], list[str]]:
    events: list[str] = []
    out: list[bytes] = []
    side = faults.to_client if flow == "to_client" else faults.from_client
    for i in range(1, count + 1):
        out += [piece.data for piece in side.datagram(b"%d" % i, float(i), events)]
    return out, events


def test_drop_everything_and_bursts() -> None:
    _, faults = peer(sd.faults.drop())
    assert run(faults, 2) == (
        [],
        ["dropped datagram 1 to the client (1 bytes)", "dropped datagram 2 to the client (1 bytes)"],
    )
    _, faults = peer(sd.faults.drop(0.2, burst=3), seed=4)
    out, events = run(faults, 60)
    dropped = [int(event.split()[2]) for event in events]
    runs: list[list[int]] = []
    for number in dropped:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    assert runs
    # Bursts of three (back-to-back bursts join; the last may be cut by the end of the run).
    assert all(len(run) % 3 == 0 for run in runs if run[-1] < 60)
    assert all(b"%d" % n not in out for n in dropped)
    assert run(peer(sd.faults.drop(0.2, burst=3), seed=4)[1], 60) == (out, events)


def test_drop_from_the_client_leaves_replies_alone() -> None:
    _, faults = peer(sd.faults.drop(direction="from_client"))
    assert run(faults, 1) == ([b"1"], [])
    assert run(faults, 1, flow="from_client") == ([], ["dropped datagram 1 from the client (1 bytes)"])


def test_duplicate_truncate_corrupt() -> None:
    _, faults = peer(sd.faults.duplicate(copies=2))
    assert run(faults, 1) == ([b"1", b"1", b"1"], ["duplicated datagram 1 to the client (2 extra)"])
    _, faults = peer(sd.faults.truncate(2))
    events: list[str] = []
    assert faults.to_client.datagram(b"abcd", 0.0, events) == [Piece(0.0, b"ab")]
    assert faults.to_client.datagram(b"ab", 0.0, events) == [Piece(0.0, b"ab")]
    assert events == ["truncated datagram 1 to the client from 4 to 2 bytes"]
    _, faults = peer(sd.faults.corrupt(bits=3), seed=2)
    events = []
    [piece] = faults.to_client.datagram(b"\x00" * 4, 0.0, events)
    assert sum(bin(byte).count("1") for byte in piece.data) == 3
    assert events[0].startswith("corrupted datagram 1 to the client: bit(s) [")
    _, again = peer(sd.faults.corrupt(bits=3), seed=2)
    assert again.to_client.datagram(b"\x00" * 4, 0.0, []) == [piece]
    assert peer(sd.faults.corrupt())[1].to_client.datagram(b"", 0.0, events) == [Piece(0.0, b"")]


def test_reorder_shuffles_full_windows_and_releases_late_ones_in_order() -> None:
    _, faults = peer(sd.faults.reorder(window=4, max_hold=0.5), seed=3)
    side = faults.to_client
    events: list[str] = []
    out = [piece.data for i in range(1, 5) for piece in side.datagram(b"%d" % i, 1.0, events)]
    assert sorted(out) == [b"1", b"2", b"3", b"4"]
    assert out != [b"1", b"2", b"3", b"4"]  # this seed shuffles them
    assert events == ["reordered datagrams to the client: sent as " + ", ".join(d.decode() for d in out)]
    assert side.datagram(b"5", 2.0, events) == []
    assert side.due() == 2.5
    assert side.release(2.4, events) == []
    assert side.release(2.5, events) == [Piece(2.5, b"5")]
    assert side.due() == math.inf


def test_datagram_latency_keeps_order() -> None:
    _, faults = peer(sd.faults.latency(0.3, jitter=0.2))
    events: list[str] = []
    times = [faults.to_client.datagram(b"x", i * 0.01, events)[0].at for i in range(10)]
    assert times == sorted(times) and times[0] >= 0.1
    assert events == ["latency 0.3 s ± 0.2 s on datagrams to the client"]


def test_removing_a_reorder_hands_back_what_it_held() -> None:
    fault_list, faults = peer(sd.faults.reorder(window=3))
    faults.to_client.datagram(b"held", 0.0, [])
    fault_list.clear()
    assert not faults.refresh()
    assert faults.orphans["to_client"] == [Piece(0.0, b"held")]


def test_peers_are_chosen_by_number() -> None:
    fault_list = FaultList("datagram", "UDPServer", [sd.faults.drop(connections=[2])])
    assert not DatagramFaults(fault_list, 1, 1).refresh()
    assert DatagramFaults(fault_list, 1, 2).refresh()
