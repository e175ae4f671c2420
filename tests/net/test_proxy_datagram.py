"""The datagram proxy: links opened, failed and stopped without losing a thread or an error."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import socketdouble as sd
from socketdouble.net.proxy import UDPProxy
from tests.helpers import datagram_client

CYCLES = 1000


def check_text(server: Any) -> str:
    with pytest.raises(sd.CheckFailed) as failure:
        server.check()
    return str(failure.value)


def relay_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("socketdouble-upstream-")]


def race_new_peers(address: Any, count: int) -> threading.Thread:
    """Datagrams from ``count`` new peers, sent while the caller stops the proxy."""

    def send() -> None:
        for _ in range(count):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"race", address)

    thread = threading.Thread(target=send, name="test-racer")
    thread.start()
    return thread


def test_start_traffic_stop_cycles_leave_no_thread_behind() -> None:
    # stop() shuts the links down while the serve thread may be adding one.
    upstream = sd.UDPServer()
    upstream.on(sd.ANY).reply(lambda message: message)
    deadline = time.monotonic() + 300  # a bound for a loaded machine, not a pass condition
    with upstream:
        for cycle in range(CYCLES):
            proxy = sd.RecordingProxy(upstream.address, kind="udp").start()
            with datagram_client(proxy) as client:
                client.sendto(b"ping", proxy.address)
                assert client.recv(100) == b"ping"
            racer = race_new_peers(proxy.address, 8)
            proxy.stop()
            racer.join(10)
            assert not proxy.running and proxy.errors == [], f"cycle {cycle}: {proxy.errors}"
            assert relay_threads() == [], f"cycle {cycle}"
            assert time.monotonic() < deadline, f"only {cycle} cycles in the time allowed"


def test_an_upstream_socket_that_is_not_there_is_recorded_and_the_proxy_goes_on(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.sock")
    with sd.RecordingProxy(path, kind="unix_dgram") as proxy, datagram_client(proxy) as client:
        client.sendto(b"one", proxy.address)
        client.sendto(b"two", proxy.address)
        assert proxy.wait_for_requests(2) == [b"one", b"two"]  # each noted, the loop went on
    assert f"cannot reach the upstream {path}: no such file or directory" in check_text(proxy)
    assert len(proxy.errors) == 2
    assert proxy.cassette().connections == []


def test_an_upstream_port_nobody_listens_on_is_recorded() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with sd.RecordingProxy(("127.0.0.1", port), kind="udp") as proxy, datagram_client(proxy) as client:
        client.sendto(b"hello", proxy.address)
        proxy.wait_for_requests(1)
        deadline = time.monotonic() + 5
        while not proxy.errors and time.monotonic() < deadline:
            time.sleep(0.001)  # the refusal comes back to the relay thread asynchronously
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as late:  # the upstream comes up
            late.bind(("127.0.0.1", port))
            late.settimeout(5)
            client.sendto(b"again", proxy.address)
            data, relay = late.recvfrom(100)
            late.sendto(b"answer", relay)
            assert (data, client.recv(100)) == (b"again", b"answer")  # the relay went on
    assert f"cannot reach the upstream 127.0.0.1:{port}: connection refused" in check_text(proxy)


def test_a_datagram_that_comes_as_stop_begins_opens_no_link() -> None:
    # stop() sets its event, then shuts the links down: a link opened after that would
    # never be woken. The serve thread may be between recvfrom and the link lock then.
    upstream = sd.UDPServer().start()
    proxy = UDPProxy(upstream.address).start()
    try:
        proxy._stopping.set()  # the first thing stop() does
        assert proxy.socket is not None
        proxy._receive(proxy.socket, b"late", ("127.0.0.1", 9))
        assert relay_threads() == []
        assert "arrived as the proxy stopped, not forwarded" in str(proxy.recording)
    finally:
        proxy.stop()
        upstream.stop()
