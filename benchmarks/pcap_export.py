"""How fast ``socketdouble export --pcap`` writes packets.

    python -m benchmarks.pcap_export [--connections 200] [--turns 100] [--size 40]

A cassette of --connections connections, each of --turns request/reply turns of --size
bytes, is written as a pcap (checksums computed) to memory; then one connection with a
64 MB turn (bulk: segments of 65,000 bytes). Reference in the same run, when dpkt is
installed (the test extra): dpkt building and writing the same small packets (its
checksums included). Prints packets/s and the ratio ours / dpkt.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import time

from socketdouble.core.cassette import Cassette, CassetteEvent, DataEvent, RecordedConnection
from socketdouble.service.export import write_pcap


def conversation(connections: int, turns: int, size: int) -> Cassette:
    request, reply = b"q" * size, b"r" * size
    made = []
    for n in range(connections):
        events: list[CassetteEvent] = []
        for i in range(turns):
            events += [DataEvent(i * 1e-3, "client", request), DataEvent(i * 1e-3 + 5e-4, "server", reply)]
        made.append(RecordedConnection(n * 0.01, events, ("127.0.0.1", 40000 + n), ("127.0.0.1", 6379)))
    return Cassette("tcp", made)


def ours(cassette: Cassette) -> tuple[int, float]:
    started = time.perf_counter()
    count = write_pcap(cassette, io.BytesIO())
    return count, time.perf_counter() - started


def dpkt_reference(packets: int, size: int) -> float | None:
    """Seconds dpkt takes to build and write ``packets`` TCP packets of ``size`` bytes."""
    try:
        import dpkt  # type: ignore[import-untyped]
    except ImportError:
        return None
    writer = dpkt.pcap.Writer(io.BytesIO(), linktype=dpkt.pcap.DLT_RAW)
    src, dst = ipaddress.ip_address("127.0.0.1").packed, ipaddress.ip_address("127.0.0.1").packed
    payload = b"q" * size
    started = time.perf_counter()
    for i in range(packets):
        tcp = dpkt.tcp.TCP(sport=40000, dport=6379, seq=i * size, ack=1, flags=0x18, data=payload)
        ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, id=i & 0xFFFF, data=tcp)
        writer.writepkt(bytes(ip), ts=i * 1e-4)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--size", type=int, default=40)
    args = parser.parse_args()

    count, seconds = ours(conversation(args.connections, args.turns, args.size))
    print(f"small packets ({args.size} bytes): {count} in {seconds:.3f} s = {count / seconds:,.0f} packets/s")
    reference = dpkt_reference(count, args.size)
    if reference is not None:
        print(f"dpkt, the same packets: {count / reference:,.0f} packets/s")
        print(f"ratio ours/dpkt: {reference / seconds:.2f}")
    else:
        print("(dpkt is not installed: no reference; pip install -e '.[test]')")

    bulk = Cassette("tcp", [RecordedConnection(0.0, [DataEvent(0.0, "server", b"\xab" * (64 << 20))])])
    count, seconds = ours(bulk)
    print(f"bulk (one 64 MB turn): {count} packets in {seconds:.3f} s = {64 / seconds:,.0f} MB/s")


if __name__ == "__main__":
    main()
