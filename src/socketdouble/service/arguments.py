"""What the cassette subcommands read from their command line, checked before anything starts.

Addresses (``--listen``, ``--upstream``), cassettes, redaction patterns and the files
they will write. Every problem is a :class:`BadInput` naming the value and the fix;
:func:`complain` prints it as one line on stderr and gives exit code 2.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.cassette import Cassette, Redactor, load
from ..errors import CassetteError, ConfigurationError
from .cli import EXIT_BAD_INPUT

__all__ = [
    "UNIX_KINDS",
    "BadInput",
    "complain",
    "listen_keywords",
    "load_cassette",
    "made",
    "redactor",
    "upstream_address",
    "writable_file",
]

UNIX_KINDS = ("unix", "unix_dgram")
T = TypeVar("T")
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>[^:]*)$")


class BadInput(Exception):
    """A command-line value that cannot work; the message names it and the fix."""


def complain(command: str, error: BadInput) -> int:
    """Print ``error`` as one line on stderr; returns exit code 2."""
    print(f"socketdouble {command}: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


def load_cassette(path: str) -> Cassette:
    """The cassette at ``path``; a missing or broken one is a :class:`BadInput` saying so."""
    try:
        return load(path)
    except CassetteError as error:
        fix = ""
        if not os.path.lexists(path):
            fix = f"; record one with: socketdouble record --upstream HOST:PORT --out {path}"
        raise BadInput(f"{error}{fix}") from None


def _host_port(option: str, text: str, kind: str) -> tuple[str, int]:
    example = "127.0.0.1:6379 or [::1]:6379"
    match = _HOST_PORT.match(text)
    if match is None:
        hint = " (a socket path needs --kind unix or unix_dgram)" if "/" in text else ""
        raise BadInput(f"{option} {text!r}: a {kind} address is HOST:PORT, as {example}{hint}")
    host = match.group("v6") if match.group("v6") is not None else match.group("host")
    port_text = match.group("port")
    if not host:
        raise BadInput(f"{option} {text!r}: the host is missing; give HOST:PORT, as {example}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise BadInput(f"{option} {text!r}: the port {port_text!r} is not a number from 0 to 65535")
    return host, int(port_text)


def _unix_path(option: str, text: str, kind: str) -> str:
    if not text:
        raise BadInput(f"{option} is empty: give the socket's path")
    if _HOST_PORT.match(text) and "/" not in text:
        raise BadInput(
            f"{option} {text!r}: a {kind} address is a socket PATH; for HOST:PORT pass --kind tcp or udp"
        )
    return text


def upstream_address(text: str, kind: str) -> tuple[str, int] | str:
    """``--upstream``: HOST:PORT for tcp and udp (a name is looked up), a socket path for Unix kinds."""
    if kind in UNIX_KINDS:
        return _unix_path("--upstream", text, kind)
    host, port = _host_port("--upstream", text, kind)
    if port == 0:
        raise BadInput(
            f"--upstream {text!r}: port 0 is no service's port; give the port the upstream listens on"
        )
    return host, port


def listen_keywords(text: str | None, kind: str, allow_remote: bool) -> dict[str, Any]:
    """The server keywords for ``--listen``: ``host``/``port``, or ``path``; none for the default.

    An inet host must be an IP address, and loopback unless ``--allow-remote``.
    """
    if text is None:
        return {}
    if kind in UNIX_KINDS:
        return {"path": _unix_path("--listen", text, kind)}
    host, port = _host_port("--listen", text, kind)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise BadInput(
            f"--listen {text!r}: {host!r} is not an IP address; listen on 127.0.0.1 or [::1] "
            "(a name such as localhost may resolve to the other family)"
        ) from None
    if not address.is_loopback and not allow_remote:
        raise BadInput(
            f"--listen {text!r} is not a loopback address, so anyone on the network could connect; "
            "pass --allow-remote if that is what you want"
        )
    return {"host": host, "port": port, "allow_remote": allow_remote}


def made(make: Callable[[], T]) -> T:
    """``make()``; its ConfigurationError (a listen path too long...) becomes a :class:`BadInput`."""
    try:
        return make()
    except ConfigurationError as error:
        raise BadInput(f"--listen: {error}") from None


def redactor(patterns: list[str]) -> Redactor:
    """The ``--redact`` patterns, each a valid bytes regex."""
    try:
        return Redactor(patterns)
    except ConfigurationError as error:
        raise BadInput(f"--redact: {error}") from None


def writable_file(option: str, path: str | None, make_folder: bool = False) -> None:
    """Check early that ``path`` can be written: not a directory, in a writable folder.

    ``make_folder``: create the folder if it is missing (as saving a cassette would),
    so a bad path fails now rather than after a whole recording session.
    """
    if path is None:
        return
    if os.path.isdir(path):
        raise BadInput(f"{option} {path} is a directory; give a file name inside it")
    folder = os.path.dirname(path) or "."
    if make_folder:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise BadInput(
                f"{option} {path}: cannot create the folder {folder}: {error.strerror or error}"
            ) from None
    if not os.path.isdir(folder):
        raise BadInput(f"{option} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"{option} {path}: the folder {folder} is not writable; choose another")
