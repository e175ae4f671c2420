"""Stream fault plans: timed pieces, endings and events, without a socket."""

from __future__ import annotations

import math

import socketdouble as sd
from socketdouble.core.fault_spec import Fault, FaultList
from socketdouble.core.stream_faults import ConnectionFaults, Ending, Piece, Plan


def connection(*faults: Fault, seed: int = 1, number: int = 1) -> tuple[FaultList, ConnectionFaults]:
    fault_list = FaultList("stream", "TCPServer", faults)
    return fault_list, ConnectionFaults(fault_list, seed, number)


def sent(plan: Plan) -> list[bytes]:
    return [piece.data for piece in plan.pieces]


def test_no_faults_means_nothing_acts() -> None:
    _, faults = connection()
    assert not faults.refresh()
    assert faults.to_client.chunk(b"abc", 5.0) == Plan([Piece(5.0, b"abc")])
    assert faults.ending() is None


def test_latency_delays_each_chunk_and_keeps_order() -> None:
    _, faults = connection(sd.faults.latency(0.5, jitter=0.4))
    flow = faults.to_client
    plans = [flow.chunk(bytes([i]), 10.0 + i * 0.01) for i in range(20)]
    times = [plan.pieces[0].at for plan in plans]
    assert times == sorted(times)
    for i, at in enumerate(times):
        arrival = 10.0 + i * 0.01
        # 0.5 ± 0.4 after arrival, or held behind an earlier chunk so the order is kept.
        assert arrival + 0.1 <= at and (at <= arrival + 0.9 or at == times[i - 1])
    assert plans[0].events == ["latency 0.5 s ± 0.4 s on data to the client"]
    assert all(plan.events == [] for plan in plans[1:])  # recorded once per direction


def test_latency_is_the_same_with_the_same_seed() -> None:
    def times(seed: int) -> list[float]:
        _, faults = connection(sd.faults.latency(0.5, jitter=0.4), seed=seed)
        return [faults.to_client.chunk(b"x", float(i)).pieces[0].at for i in range(5)]

    assert times(3) == times(3)
    assert times(3) != times(4)


def test_bandwidth_sends_a_tenth_of_a_second_at_a_time() -> None:
    _, faults = connection(sd.faults.bandwidth(100))
    plan = faults.to_client.chunk(b"x" * 25, 0.0)
    assert [(piece.at, len(piece.data)) for piece in plan.pieces] == [(0.0, 10), (0.1, 10), (0.2, 5)]
    later = faults.to_client.chunk(b"y" * 10, 0.1)  # the link is busy until 0.25
    assert [piece.at for piece in later.pieces] == [0.25]
    assert plan.events == ["bandwidth 100.0 bytes/s to the client"]


def test_slicer_cuts_pieces_apart_and_variation_is_seeded() -> None:
    _, faults = connection(sd.faults.slicer(4, delay=0.01))
    plan = faults.to_client.chunk(b"0123456789", 1.0)
    assert plan.pieces == [Piece(1.0, b"0123"), Piece(1.01, b"4567"), Piece(1.02, b"89")]
    assert plan.events == ["slicer: pieces of 4 bytes 0.01 s apart to the client"]

    def sizes(seed: int) -> list[int]:
        _, varied = connection(sd.faults.slicer(5, variation=3), seed=seed)
        return [len(piece.data) for piece in varied.to_client.chunk(b"x" * 200, 0.0).pieces]

    assert sizes(9) == sizes(9)
    assert sum(sizes(9)) == 200
    assert all(2 <= size <= 8 for size in sizes(9)[:-1])
    assert len(set(sizes(9))) > 1


def test_close_after_cuts_at_the_byte_and_ends_the_direction() -> None:
    _, faults = connection(sd.faults.close_after(5))
    first = faults.to_client.chunk(b"abc", 1.0)
    assert sent(first) == [b"abc"] and first.ending is None
    second = faults.to_client.chunk(b"defgh", 2.0)
    assert sent(second) == [b"de"]
    assert second.ending == Ending(2.0, "close")
    assert second.events == ["close after 5 bytes to the client"]
    assert second.withheld == 3
    third = faults.to_client.chunk(b"ij", 3.0)
    assert (sent(third), third.withheld, third.events) == ([], 2, [])
    assert faults.ending() == Ending(2.0, "close")


def test_close_after_zero_and_reset_at_accept_act_as_the_connection_opens() -> None:
    _, faults = connection(sd.faults.close_after(0))
    assert faults.opened(1.0) == Plan([], Ending(1.0, "close"), ["close after 0 bytes to the client"])
    _, faults = connection(sd.faults.reset(delay=0.3))
    plan = faults.opened(1.0)
    assert plan.ending == Ending(1.3, "reset")
    assert plan.events == ["reset at accept, 0.3 s later"]


def test_reset_after_bytes_in_either_direction() -> None:
    _, faults = connection(sd.faults.reset(3, direction="from_client"))
    assert faults.opened(0.0).ending is None
    assert faults.to_client.chunk(b"12345", 1.0).ending is None  # the other direction is untouched
    plan = faults.from_client.chunk(b"12345", 1.0)
    assert sent(plan) == [b"123"]
    assert plan.ending == Ending(1.0, "reset")
    assert plan.events == ["reset after 3 bytes from the client"]


def test_blackhole_holds_forever_and_timeout_closes_later() -> None:
    _, faults = connection(sd.faults.blackhole(2))
    plan = faults.to_client.chunk(b"abcd", 1.0)
    assert sent(plan) == [b"ab"] and plan.ending == Ending(math.inf, "close")
    assert plan.events == ["blackhole after 2 bytes to the client: nothing more passes"]
    _, faults = connection(sd.faults.timeout(0.5))
    opened = faults.opened(1.0)
    assert opened.ending == Ending(1.5, "close")
    assert opened.events == ["timeout after 0 bytes to the client: nothing more passes, closed 0.5 s later"]
    assert faults.to_client.chunk(b"late", 1.1).withheld == 4


def test_garbage_replaces_the_chunk_with_seeded_bytes_then_closes() -> None:
    def garbage(seed: int) -> Plan:
        _, faults = connection(sd.faults.garbage(8), seed=seed)
        return faults.to_client.chunk(b"+OK\r\n", 1.0)

    plan = garbage(5)
    assert len(plan.pieces[0].data) == 8 and plan.ending == Ending(1.0, "close")
    assert plan.events == ["garbage: 8 random bytes instead of 5 to the client, then close"]
    assert garbage(5) == plan
    assert garbage(6).pieces != plan.pieces


def test_refuse_and_slow_close_act_on_the_connection_once() -> None:
    _, faults = connection(sd.faults.refuse(), sd.faults.slow_close(0.4))
    plan = faults.opened(2.0)
    assert plan.ending == Ending(2.0, "reset")
    assert plan.events == ["refused: reset at accept"]
    assert faults.closing_delay() == 0.4


def test_faults_chain_in_list_order() -> None:
    _, faults = connection(sd.faults.slicer(2), sd.faults.latency(1.0))
    plan = faults.to_client.chunk(b"abcd", 0.0)
    assert plan.pieces == [Piece(1.0, b"ab"), Piece(1.0, b"cd")]
    _, faults = connection(sd.faults.latency(1.0), sd.faults.close_after(1))
    plan = faults.to_client.chunk(b"ab", 0.0)
    assert plan.pieces == [Piece(1.0, b"a")]
    assert plan.ending == Ending(1.0, "close")  # never before the last piece went


def test_a_change_reaches_an_open_connection_and_kept_faults_keep_their_state() -> None:
    fault_list, faults = connection(sd.faults.close_after(4))
    assert sent(faults.to_client.chunk(b"ab", 0.0)) == [b"ab"]
    fault_list.append(sd.faults.slicer(1))
    assert faults.refresh()
    plan = faults.to_client.chunk(b"cdef", 1.0)
    assert sent(plan) == [b"c", b"d"]  # close_after counted the first two bytes
    fault_list.clear()
    assert faults.refresh()  # the direction has ended: still active
    _, fresh = connection(sd.faults.latency(1))
    fresh_list = FaultList("stream", "TCPServer")
    fresh = ConnectionFaults(fresh_list, 1, 1)
    fresh_list.append(sd.faults.latency(1))
    assert fresh.refresh()
    fresh_list.clear()
    assert not fresh.refresh()
    assert sent(fresh.to_client.chunk(b"z", 0.0)) == [b"z"]


def test_connections_select_by_number() -> None:
    fault_list = FaultList("stream", "TCPServer", [sd.faults.reset(connections=[2])])
    assert not ConnectionFaults(fault_list, 1, 1).refresh()
    assert ConnectionFaults(fault_list, 1, 2).opened(0.0).ending == Ending(0.0, "reset")


def test_equal_faults_in_one_list_act_separately() -> None:
    _, faults = connection(sd.faults.latency(1.0), sd.faults.latency(1.0))
    assert faults.to_client.chunk(b"a", 0.0).pieces == [Piece(2.0, b"a")]


def test_garbage_withholds_the_whole_chunk_however_long_the_garbage() -> None:
    for size in (3, 8):
        _, faults = connection(sd.faults.garbage(size))
        assert faults.to_client.chunk(b"+OK\r\n", 1.0).withheld == 5
