"""Nothing is lost at stop: a client's last bytes and its close, sent just before stop()."""

from __future__ import annotations

import pytest

import socketdouble as sd
from socketdouble.core.cassette import CloseEvent, DataEvent
from tests.helpers import connect, cpu_load, recv_exactly

RUNS = 300


def lost_runs(runs: int) -> list[str]:
    """Run a session ending in QUIT + close right before stop(); describe each run that lost it."""
    upstream = sd.TCPServer()
    upstream.on(b"PING\r\n").reply(b"+PONG\r\n")
    upstream.on(b"QUIT\r\n").reply(lambda _: None)
    lost = []
    with upstream:
        for run in range(runs):
            with sd.RecordingProxy(upstream.address) as proxy, connect(proxy) as client:
                client.sendall(b"PING\r\n")
                assert recv_exactly(client, 7) == b"+PONG\r\n"  # the pump is running
                client.sendall(b"QUIT\r\n")
                # stop() at once, with the QUIT and the close perhaps still in the kernel
            proxy.check()
            [connection] = proxy.cassette().connections
            data = [e for e in connection.events if isinstance(e, DataEvent)]
            said = b"".join(e.payload for e in data if e.side == "client")
            closed = [e.how for e in connection.events if isinstance(e, CloseEvent) and e.side == "client"]
            if said != b"PING\r\nQUIT\r\n" or closed != ["fin"]:
                lost.append(f"run {run}: client sent {said!r}, closes {closed}")
    upstream.check()
    return lost


@pytest.mark.parametrize("burners", [0, 2])
def test_a_clients_last_bytes_and_close_before_stop_reach_the_cassette(burners: int) -> None:
    with cpu_load(burners):
        assert lost_runs(RUNS) == []
