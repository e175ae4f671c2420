"""pytest-socket: when it blocks what a double needs, say so and name the flags that work.

pytest-socket's ``--disable-socket`` replaces ``socket.socket`` for each test, and
``--allow-hosts`` replaces ``socket.socket.connect``. A double needs: a Unix socket
pair (every server's wake-up channel), a socket of its own family, and — for stream
servers — clients that can connect to it (and, for a recording proxy, a connection to
its upstream). The servers' own sockets cannot be made in a way pytest-socket allows:
even ``accept()`` builds its socket through the replaced ``socket.socket``. So instead
of pytest-socket's bare ``SocketBlockedError`` a test gets a
:class:`~socketdouble.errors.ConfigurationError` naming the flags that work.

Nothing here runs unless pytest-socket has replaced something: the check asks whether
``socket.socket`` or its ``connect`` now come from the ``pytest_socket`` module, and only
then tries the calls a double needs (creating a datagram socket, connecting a datagram
socket, neither of which sends a byte).
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["problem", "upstream_problem"]

_FLAGS = "--disable-socket --allow-unix-socket --allow-hosts=127.0.0.1,::1"
_PLUGIN = "pytest_socket"
_NOWHERE = "/nonexistent-socketdouble-probe/s"  # a Unix path no connect can reach


def _active() -> bool:
    """True when pytest-socket has replaced ``socket.socket`` or its ``connect`` for this test."""
    plain = socket.socket  # asked for every server a fixture makes: no generator, no tuple
    if getattr(plain, "__module__", None) == _PLUGIN:
        return True
    return getattr(plain.connect, "__module__", None) == _PLUGIN


def _refusal(call: Callable[[], None]) -> str | None:
    """pytest-socket's message if it refuses ``call``; None if the call reached the system."""
    # pytest-socket warns before it raises, and under -W error the warning would be
    # raised instead of its error: ignore warnings while asking. (catch_warnings is
    # process-wide; this only runs while pytest-socket blocks something.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except OSError:
            return None  # the system answered (no IPv6, no such file): pytest-socket let it through
        except RuntimeError as error:
            if type(error).__module__ == _PLUGIN:
                return str(error)
            raise
    return None


def _create(family: socket.AddressFamily) -> Callable[[], None]:
    def call() -> None:
        socket.socket(family, socket.SOCK_DGRAM).close()

    return call


def _connect(family: socket.AddressFamily, address: Any) -> Callable[[], None]:
    # The standard socket class under any replacement: only connect() is asked here.
    plain = next(kind for kind in socket.socket.__mro__ if kind.__module__ == "socket")

    def call() -> None:
        sock = plain(family, socket.SOCK_DGRAM)  # connecting a datagram socket sends nothing
        try:
            sock.connect(address)
        finally:
            sock.close()

    return call


def _connect_to(address: Any) -> tuple[str, Callable[[], None]]:
    if isinstance(address, tuple):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        return f"connecting to {address[0]}", _connect(family, (address[0], 9))
    return "connecting to Unix sockets", _connect(socket.AF_UNIX, _NOWHERE)


def _needs(server: Any) -> list[tuple[str, Callable[[], None]]]:
    family = server.endpoint.family
    needs = [("Unix sockets (every server's wake-up socket pair)", _create(socket.AF_UNIX))]
    if family != socket.AF_UNIX:
        needs.append((f"{family.name} sockets", _create(family)))
    if not server.datagram:  # a stream client must connect; datagram clients may just sendto
        needs.append(_connect_to(server.address))
        upstream = getattr(server, "upstream", None)  # a recording proxy connects to it
        if upstream is not None:
            needs.append(_connect_to(upstream))
    return needs


def problem(server: Any) -> str | None:
    """Why pytest-socket keeps ``server`` from working in this test, or None."""
    if not _active():
        return None
    refused = [(what, why) for what, call in _needs(server) if (why := _refusal(call)) is not None]
    if not refused:
        return None
    lines = "\n".join(f"  - {what}: {why}" for what, why in refused)
    return (
        f"pytest-socket blocks what this double ({server.name}) needs in this test:\n{lines}\n"
        "socketdouble's servers listen on loopback and Unix sockets and their clients connect "
        f"there: run pytest with {_FLAGS} (every other host stays blocked; add a recording "
        "proxy's upstream host to --allow-hosts), or mark the test @pytest.mark.enable_socket"
    )


def upstream_problem(upstream: object) -> str | None:
    """Why pytest-socket keeps a recording from reaching ``upstream``, or None."""
    if not _active():
        return None
    what, call = _connect_to(upstream)
    why = _refusal(call)
    if why is None:
        return None
    return (
        f"pytest-socket blocks {what}, so the upstream {upstream!r} cannot be recorded: {why}\n"
        f"run pytest with {_FLAGS} plus the upstream's host in --allow-hosts, "
        "or mark the test @pytest.mark.enable_socket"
    )
