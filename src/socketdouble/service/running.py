"""What ``record`` and ``replay`` share: start one server, say it is ready, serve until a stop signal."""

from __future__ import annotations

from ..errors import ConfigurationError
from ..net.server import BaseServer
from .arguments import BadInput
from .ready import announce, ready_line
from .signals import StopRequest

__all__ = ["serve_until_stopped"]


def serve_until_stopped(
    server: BaseServer, name: str, kind: str, ready_file: str | None, stop: StopRequest
) -> None:
    """Start ``server``, print the ready line (and write ``ready_file``), wait for ``stop``, stop it.

    ``stop`` must be entered already, so a SIGTERM sent as soon as the ready line is
    read is caught. A server that cannot start (its ``--listen`` address in use) or a
    ready file that cannot be written is a :class:`BadInput`; the server is stopped
    whatever happens.
    """
    try:
        server.start()
    except ConfigurationError as error:
        raise BadInput(f"--listen: {error}") from None
    try:
        address = server.address
        entry = {"kind": kind, "address": list(address) if isinstance(address, tuple) else address}
        try:
            announce(ready_line({name: entry}), ready_file)
        except OSError as error:
            raise BadInput(f"--ready-file {ready_file}: cannot write it: {error.strerror or error}") from None
        stop.wait()
    finally:
        server.stop()
