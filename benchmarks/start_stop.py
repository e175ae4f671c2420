"""Start + stop of a TCP server: socketdouble against socketserver, in one run.

    python -m benchmarks.start_stop [--rounds 200]

socketserver's reference is ThreadingTCPServer with serve_forever() in a thread (its
default 0.5 s poll), shutdown() and server_close() — what a hand-written fixture does.
Targets (DESIGN.md, "Performance targets"): median under 2 ms, and at least 100x
faster than the reference.
"""

from __future__ import annotations

import argparse
import socketserver
import statistics
import threading
import time

import socketdouble as sd


def socketdouble_round() -> float:
    started = time.perf_counter()
    sd.TCPServer().start().stop()
    return time.perf_counter() - started


def socketserver_round() -> float:
    started = time.perf_counter()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    server.shutdown()
    server.server_close()
    thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--reference-rounds", type=int, default=10)
    args = parser.parse_args()
    ours = statistics.median(socketdouble_round() for _ in range(args.rounds))
    theirs = statistics.median(socketserver_round() for _ in range(args.reference_rounds))
    print(f"socketdouble TCPServer start+stop, median of {args.rounds}: {ours * 1000:.3f} ms")
    print(f"socketserver.ThreadingTCPServer, median of {args.reference_rounds}: {theirs * 1000:.1f} ms")
    print(f"ratio: socketdouble is {theirs / ours:.0f}x faster (target: >= 100x, median < 2 ms)")


if __name__ == "__main__":
    main()
