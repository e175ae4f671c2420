"""Replay against the live session through the proxy, and cassette loading.

    python -m benchmarks.replay [--requests 5000] [--turns 50000]

1. A client in its own process does N request/reply round trips with an upstream
   (a socketdouble rule server) through a RecordingProxy; the cassette is saved and
   the same client replays it against a ReplayServer. Ratio: replay rate / live rate
   (target >= 1).
2. A cassette of --turns turns is written and loaded; the load is timed against
   plain ``json.loads`` of the same text, the floor any JSON cassette can reach.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import socketdouble as sd
from benchmarks.client import drive
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, dumps, loads


def replay_against_live(requests: int, folder: Path) -> None:
    with sd.TCPServer() as upstream:
        upstream.on(b"PING\r\n").reply(b"+PONG\r\n")
        with sd.RecordingProxy(upstream.address) as proxy:
            live = drive(proxy.address, requests)
    proxy.save(folder / "session.json")
    with sd.ReplayServer(folder / "session.json") as replay:
        replayed = drive(replay.address, requests)
    replay.check()
    print(f"live through the proxy: {live:9.0f} req/s")
    print(f"replay:                 {replayed:9.0f} req/s")
    print(f"ratio replay/live: {replayed / live:.2f} (target >= 1.0)")


def load_speed(turns: int) -> None:
    events: list[DataEvent | CloseEvent] = []
    for i in range(turns // 2):
        events.append(DataEvent(i * 1e-4, "client", b"GET key:%d\r\n" % i))
        events.append(DataEvent(i * 1e-4 + 5e-5, "server", b"\x00\x01value %d" % i))
    text = dumps(Cassette("tcp", [RecordedConnection(0.0, events)]))
    started = time.perf_counter()
    cassette = loads(text)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    json.loads(text)
    floor = time.perf_counter() - started
    assert len(cassette.connections[0].events) == len(events)
    print(f"load a cassette of {len(events)} turns ({len(text) / 1e6:.1f} MB): {ours * 1000:.0f} ms")
    print(f"plain json.loads of the same text: {floor * 1000:.0f} ms (ratio {ours / floor:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=50000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        replay_against_live(args.requests, Path(folder))
    load_speed(args.turns)


if __name__ == "__main__":
    main()
