"""A socketserver handler moved onto a fixture by changing one line.

Before: ``server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), KeyValueHandler)``
After:  ``server = socketdouble.tcp(handler=KeyValueHandler)``
"""

from __future__ import annotations

import socket
import socketserver
from typing import ClassVar

from socketdouble.doubles import Doubles


class KeyValueHandler(socketserver.StreamRequestHandler):
    """SET k v / GET k, one command a line: written for socketserver, unchanged."""

    store: ClassVar[dict[bytes, bytes]] = {}

    def handle(self) -> None:
        for line in self.rfile:
            command, *args = line.split()
            if command == b"SET":
                self.store[args[0]] = args[1]
                self.wfile.write(b"OK\n")
            elif command == b"GET":
                self.wfile.write(self.store.get(args[0], b"(nil)") + b"\n")
            else:
                self.wfile.write(b"ERR unknown command\n")


def test_the_handler_runs_unchanged(socketdouble: Doubles) -> None:
    server = socketdouble.tcp(handler=KeyValueHandler)  # the one line that changed
    with socket.create_connection(server.address, timeout=5) as client, client.makefile("rwb") as file:
        for command, answer in [(b"SET a 1\n", b"OK\n"), (b"GET a\n", b"1\n"), (b"GET b\n", b"(nil)\n")]:
            file.write(command)
            file.flush()
            assert file.readline() == answer
    assert server.recording.requests == [b"SET a 1\n", b"GET a\n", b"GET b\n"]
