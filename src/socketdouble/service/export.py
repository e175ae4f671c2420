"""``socketdouble export FILE --pcap OUT``: a cassette as a pcap file for tshark and Wireshark.

The packets are :func:`socketdouble.core.cassette_packets.packets`; this module only
writes them, atomically (a temporary file beside OUT, renamed over it), so OUT is the
old file or the whole new one, never half of one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
from typing import BinaryIO

from ..core.cassette import Cassette
from ..core.cassette_packets import packets
from ..core.pcap import file_header, record
from .arguments import BadInput, complain, load_cassette
from .cli import EXIT_OK

__all__ = ["run", "write_pcap"]

#: Records gathered before one write: fewer system calls, bounded memory.
_BATCH = 256


def write_pcap(cassette: Cassette, file: BinaryIO) -> int:
    """Write ``cassette`` to ``file`` as a pcap; returns the number of packets."""
    file.write(file_header())
    count = 0
    batch: list[bytes] = []
    for t, packet in packets(cassette):
        batch.append(record(t, packet))
        if len(batch) >= _BATCH:
            file.write(b"".join(batch))
            batch.clear()
        count += 1
    file.write(b"".join(batch))
    return count


def run(args: argparse.Namespace) -> int:
    """Export ``args.file`` to ``args.pcap``; 2 (one line on stderr) on a bad cassette or OUT."""
    try:
        cassette = load_cassette(args.file)
        target = os.fspath(args.pcap)
        if os.path.isdir(target):
            raise BadInput(
                f"--pcap {target} is a directory; give a file name ({os.path.join(target, 'out.pcap')})"
            )
        folder = os.path.dirname(target) or "."
        temporary = os.path.join(
            folder, f".{os.path.basename(target)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        )
        try:
            # O_EXCL: never another writer's file; 0o666 lets the umask decide, as for any new file.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as error:
            raise BadInput(f"--pcap {target}: cannot write in {folder}: {error.strerror or error}") from None
    except BadInput as error:
        return complain("export", error)
    try:
        with os.fdopen(descriptor, "wb") as file:
            count = write_pcap(cassette, file)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the first error is the one to report
            os.unlink(temporary)
        raise
    print(f"{target}: {count} packets from {len(cassette.connections)} {_what(cassette)} of {args.file}")
    return EXIT_OK


def _what(cassette: Cassette) -> str:
    return "peer(s)" if cassette.datagram else "connection(s)"
