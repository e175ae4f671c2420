"""Many servers in one test: made started, stopped and checked together.

:class:`Doubles` is what the ``socketdouble`` pytest fixture hands a test, and is
usable without pytest (``with Doubles() as doubles: ...``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import trustme

from .errors import CheckFailed
from .net.base import BaseServer
from .net.servers import TCPServer, UDPServer, UnixDatagramServer, UnixStreamServer
from .net.tls import TLSServer

S = TypeVar("S", bound=BaseServer)


class Doubles:
    """Makes started servers and, on :meth:`close`, stops and checks all of them."""

    def __init__(
        self, ca: trustme.CA | None = None, *, check: bool = True, report_unused_rules: bool = True
    ) -> None:
        self._ca = ca
        self.check_on_close = check
        self.report_unused_rules = report_unused_rules
        self.servers: list[BaseServer] = []

    @property
    def ca(self) -> trustme.CA:
        """The CA behind ``tls()`` servers (made on first use if none was given)."""
        if self._ca is None:
            self._ca = trustme.CA()
        return self._ca

    def add(self, server: S) -> S:
        """Start ``server`` and make it this collection's to stop and check."""
        self.servers.append(server)
        server.start()
        return server

    def _make(self, kind: type[S], kwargs: dict[str, Any]) -> S:
        kwargs.setdefault("report_unused_rules", self.report_unused_rules)
        return self.add(kind(**kwargs))

    def tcp(self, **kwargs: Any) -> TCPServer:
        """A started :class:`~socketdouble.TCPServer`."""
        return self._make(TCPServer, kwargs)

    def udp(self, **kwargs: Any) -> UDPServer:
        """A started :class:`~socketdouble.UDPServer`."""
        return self._make(UDPServer, kwargs)

    def unix(self, **kwargs: Any) -> UnixStreamServer:
        """A started :class:`~socketdouble.UnixStreamServer`."""
        return self._make(UnixStreamServer, kwargs)

    def unix_dgram(self, **kwargs: Any) -> UnixDatagramServer:
        """A started :class:`~socketdouble.UnixDatagramServer`."""
        return self._make(UnixDatagramServer, kwargs)

    def tls(self, **kwargs: Any) -> TLSServer:
        """A started :class:`~socketdouble.TLSServer` with a certificate from :attr:`ca`."""
        kwargs.setdefault("ca", self.ca)
        return self._make(TLSServer, kwargs)

    def stop(self) -> None:
        """Stop every server (each stop is bounded; none raises)."""
        for server in self.servers:
            server.stop()

    def check(self) -> None:
        """Check every server; one :class:`CheckFailed` lists the problems of all."""
        failures = []
        for server in self.servers:
            try:
                server.check()
            except CheckFailed as failure:
                failures.append(str(failure))
        if failures:
            raise CheckFailed("\n\n".join(failures))

    def close(self) -> None:
        """Stop every server, then check them unless checking is off."""
        self.stop()
        if self.check_on_close:
            self.check()

    def __enter__(self) -> Doubles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
