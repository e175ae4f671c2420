"""``socketdouble export FILE --pcap OUT``: read back by tshark (as Wireshark would) and by dpkt."""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dpkt  # type: ignore[import-untyped]
import pytest
from examples.needs import unavailable

import socketdouble as sd
from socketdouble.core.cassette import Cassette, CloseEvent, DataEvent, RecordedConnection, save
from socketdouble.service import export

from .commands import TIMEOUT, run


def tshark(*args: str) -> str:
    """tshark's standard output for ``args`` (it warns on stderr when run as root)."""
    if shutil.which("tshark") is None:
        unavailable("tshark is not installed")
    result = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def follow(pcap: Path, stream: int = 0, protocol: str = "tcp") -> tuple[bytes, bytes]:
    """What "Follow TCP (or UDP) stream" shows: the bytes each way, (client, server)."""
    output = tshark("-r", str(pcap), "-q", "-z", f"follow,{protocol},raw,{stream}")
    body = output.split("Node 1: ", 1)[1].split("\n", 1)[1].split("=" * 67)[0]
    sent = {False: b"", True: b""}
    for line in body.splitlines():
        sent[line.startswith("\t")] += bytes.fromhex(line.strip())
    return sent[False], sent[True]


def exported(tmp_path: Path, cassette: Cassette) -> Path:
    save(cassette, tmp_path / "c.json")
    result = run("export", str(tmp_path / "c.json"), "--pcap", str(tmp_path / "c.pcap"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "c.pcap"


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Path]:
    """A cassette recorded through a real proxy: a greeting, two commands, the client's close."""
    with sd.TCPServer() as upstream:
        upstream.on_connect().reply(b"220 ready\r\n")
        upstream.on(b"HELO me\r\n").reply(b"250 hello\r\n")
        upstream.on(b"QUIT\r\n").reply(b"221 bye\r\n", close=True)
        with (
            sd.RecordingProxy(upstream.address) as proxy,
            socket.create_connection(proxy.address, timeout=TIMEOUT) as client,
        ):
            assert client.recv(100) == b"220 ready\r\n"
            for command, answer in ((b"HELO me\r\n", b"250 hello\r\n"), (b"QUIT\r\n", b"221 bye\r\n")):
                client.sendall(command)
                assert client.recv(100) == answer
            assert client.recv(100) == b""  # the server's close
        proxy.check()
        proxy.save(tmp_path / "smtp.json")
    yield tmp_path / "smtp.json"


def test_tshark_follows_a_recorded_conversation(recorded: Path, tmp_path: Path) -> None:
    pcap = tmp_path / "smtp.pcap"
    result = run("export", str(recorded), "--pcap", str(pcap))
    assert result.returncode == 0, result.stderr
    # 3 handshake, 5 turns, the server's FIN, the client's FIN, the last ACK.
    assert result.stdout == f"{pcap}: 11 packets from 1 connection(s) of {recorded}\n"
    text = tshark("-r", str(pcap), "-q", "-z", "follow,tcp,ascii,0")
    assert "220 ready" in text and "HELO me" in text and "250 hello" in text and "221 bye" in text
    assert follow(pcap) == (b"HELO me\r\nQUIT\r\n", b"220 ready\r\n250 hello\r\n221 bye\r\n")
    # tshark finds nothing wrong: no lost segment, no unseen ACK, no retransmission.
    assert tshark("-r", str(pcap), "-Y", "tcp.analysis.flags") == ""
    checked = ("-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")
    statuses = tshark(
        "-r", str(pcap), *checked, "-T", "fields", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"
    )
    assert set(statuses.split()) == {"1"}  # 1: good


def test_a_recorded_upstream_port_lets_tshark_pick_the_protocol(tmp_path: Path) -> None:
    cassette = Cassette(
        "tcp",
        [
            RecordedConnection(
                0.0,
                [DataEvent(0.0, "client", b"*1\r\n$4\r\nPING\r\n"), DataEvent(0.001, "server", b"+PONG\r\n")],
                ("127.0.0.1", 50000),
                ("127.0.0.1", 6379),
            )
        ],
    )
    pcap = exported(tmp_path, cassette)
    assert ":resp" in tshark("-r", str(pcap), "-T", "fields", "-e", "frame.protocols")  # redis' protocol


def test_big_turns_reach_follow_whole_in_order(tmp_path: Path) -> None:
    big = bytes(range(256)) * 1000  # 256,000 bytes: four segments
    events = [
        DataEvent(0.0, "client", b"GET\n"),
        DataEvent(0.1, "server", big),
        DataEvent(0.2, "client", b"\x00" * 70000),
    ]
    pcap = exported(
        tmp_path, Cassette("tcp", [RecordedConnection(0.0, [*events, CloseEvent(0.3, "client", "reset")])])
    )
    assert follow(pcap) == (b"GET\n" + b"\x00" * 70000, big)
    assert tshark("-r", str(pcap), "-Y", "tcp.analysis.flags") == ""
    assert "[RST, ACK]" in tshark("-r", str(pcap))


def test_two_connections_on_one_address_pair_are_two_streams(tmp_path: Path) -> None:
    pair = (("127.0.0.1", 50000), ("127.0.0.1", 7000))
    connections = [
        RecordedConnection(
            float(n),
            [DataEvent(0.0, "client", f"hello {n}\n".encode()), CloseEvent(0.1, "client", "fin")],
            *pair,
        )
        for n in range(2)
    ]
    pcap = exported(tmp_path, Cassette("tcp", connections))
    assert sorted(set(tshark("-r", str(pcap), "-T", "fields", "-e", "tcp.stream").split())) == ["0", "1"]
    assert [follow(pcap, n)[0] for n in range(2)] == [b"hello 0\n", b"hello 1\n"]


def test_ipv6_and_unix_cassettes_are_followed_too(tmp_path: Path) -> None:
    v6 = RecordedConnection(
        0.0,
        [DataEvent(0.0, "client", b"six\n"), DataEvent(0.1, "server", b"ok\n")],
        ("::1", 50000),
        ("::1", 7000),
    )
    pcap = exported(tmp_path, Cassette("tcp", [v6]))
    assert follow(pcap) == (b"six\n", b"ok\n")
    assert "::1" in tshark("-r", str(pcap), "-T", "fields", "-e", "ipv6.src")
    unix = RecordedConnection(0.0, [DataEvent(0.0, "server", b"hi\n"), DataEvent(0.1, "client", b"yo\n")])
    assert follow(exported(tmp_path, Cassette("unix", [unix]))) == (b"yo\n", b"hi\n")


def test_datagrams_are_udp_that_tshark_follows(tmp_path: Path) -> None:
    peer = RecordedConnection(
        0.0,
        [DataEvent(0.0, "client", b"<13>hello"), DataEvent(0.1, "server", b"ack")],
        ("127.0.0.1", 40001),
        ("127.0.0.1", 5514),
    )
    pcap = exported(tmp_path, Cassette("udp", [peer]))
    assert follow(pcap, protocol="udp") == (b"<13>hello", b"ack")
    checked = ("-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "udp.checksum.status")
    assert set(tshark("-r", str(pcap), *checked).split()) == {"1"}


def test_dpkt_reads_the_file_with_the_recorded_times(tmp_path: Path) -> None:
    connection = RecordedConnection(5.0, [DataEvent(0.25, "client", b"a"), DataEvent(0.5, "server", b"b")])
    pcap = exported(tmp_path, Cassette("udp", [connection]))
    with pcap.open("rb") as file:
        reader = dpkt.pcap.Reader(file)
        assert reader.datalink() == 101  # LINKTYPE_RAW
        assert [(t, dpkt.ip.IP(packet).data.data) for t, packet in reader] == [(5.25, b"a"), (5.5, b"b")]


def test_many_connections_are_all_written(tmp_path: Path) -> None:
    connection = RecordedConnection(0.0, [DataEvent(0.0, "client", b"q"), DataEvent(0.1, "server", b"a")])
    pcap = exported(tmp_path, Cassette("tcp", [connection] * 100))  # 500 packets: written in batches
    with pcap.open("rb") as file:
        packets = [dpkt.ip.IP(packet) for _, packet in dpkt.pcap.Reader(file)]
    assert len(packets) == 500
    assert [p.data.data for p in packets if p.data.data] == [b"q"] * 100 + [b"a"] * 100  # by time


def test_an_export_that_fails_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(Cassette("tcp", [RecordedConnection(0.0, [DataEvent(0.0, "client", b"x")])]), tmp_path / "c.json")
    (tmp_path / "c.pcap").write_bytes(b"old")

    def broken(cassette: Cassette) -> Iterator[tuple[float, bytes]]:
        yield 0.0, b"\x45"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "packets", broken)
    with pytest.raises(OSError, match="No space left"):
        export.run(argparse.Namespace(file=str(tmp_path / "c.json"), pcap=str(tmp_path / "c.pcap")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.pcap"]
    assert (tmp_path / "c.pcap").read_bytes() == b"old"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["{dir}/missing.json", "--pcap", "{dir}/o.pcap"],
            "cassette {dir}/missing.json: no such file; record one",
        ),
        (
            ["{dir}/broken.json", "--pcap", "{dir}/o.pcap"],
            "cassette {dir}/broken.json, line 1, column 2: not valid JSON",
        ),
        (
            ["{dir}/c.json", "--pcap", "{dir}"],
            "--pcap {dir} is a directory; give a file name ({dir}/out.pcap)",
        ),
        (
            ["{dir}/c.json", "--pcap", "{dir}/no/o.pcap"],
            "--pcap {dir}/no/o.pcap: cannot write in {dir}/no: No such file",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    save(Cassette("tcp", []), tmp_path / "c.json")
    (tmp_path / "broken.json").write_text("{,}")
    result = run("export", *(arg.format(dir=tmp_path) for arg in argv))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"socketdouble export: {message.format(dir=tmp_path)}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
