"""RecordingProxy: forward to a real upstream and record both directions.

Each client connection (datagram kinds: each client peer) gets its own connection to
the upstream. Bytes are forwarded as they come, both ways, raw (never framed); the
cassette log records them with their time, and how each side closed (FIN, half-close,
or reset), which is passed on to the other side as it happened. The pieces:
:mod:`.upstream` (where the upstream is, an interruptible connect),
:mod:`.stream_proxy` and :mod:`.pump` (streams), :mod:`.datagram_proxy` (datagrams).
"""

from __future__ import annotations

import os
import ssl
import time
from typing import Any

from ..core.cassette import Cassette as CassetteData
from ..core.cassette import CassetteRecorder, Redactor, save
from ..core.framing import raw
from ..errors import ConfigurationError
from .datagram import UDPServer, UnixDatagramServer
from .datagram_proxy import DatagramProxying
from .kinds import concrete, kinds, registers
from .server import BaseServer
from .stream import TCPServer, UnixStreamServer
from .stream_proxy import StreamProxying
from .upstream import Upstream, UpstreamAddress

__all__ = ["RecordingProxy", "TCPProxy", "UDPProxy", "UnixDatagramProxy", "UnixProxy"]


class RecordingProxy(BaseServer):
    """A server that forwards to ``upstream`` and records a cassette.

    ``RecordingProxy(upstream=("127.0.0.1", 6379))`` (or a socket path), ``kind`` one of
    ``"tcp"``, ``"udp"``, ``"unix"``, ``"unix_dgram"``.

    - ``redact`` takes byte regexes whose matches are replaced by as many ``*``: in the
      cassette, and in everything the proxy shows (``recording``, its transcript,
      ``check()`` reports). The cassette redacts whole turns; the recording redacts
      each read as it comes, so a secret split across two reads of the socket is
      caught in the cassette but may show in the recording.
    - ``upstream_ssl_context`` speaks TLS to the upstream (``upstream_hostname``: the
      name its certificate must carry); ``ssl_context`` speaks TLS to clients.
    - ``connect_timeout`` bounds each connect to the upstream (seconds; stop() ends
      one at once). An upstream that cannot be reached is an error of the connection,
      reported by ``check()``.

    - ``faults`` (see :mod:`socketdouble.faults`) act between the client and the
      upstream: "to_client" on what the upstream sends, "from_client" on what the
      client sends. A close or reset ends the client's side and the upstream connection
      with it; a blackhole holds the client until it closes or the proxy stops. The
      cassette keeps the upstream's traffic as it was read, before faults; the recording
      shows what the client sent and what it was sent (garbage included).

    The proxy forwards and records raw bytes: it takes no ``framing=``. Other keyword
    arguments are the server's (``host``, ``port``, ``path``, ``stop_timeout``, ``seed``...).
    """

    #: The cassette kind this class records ("tcp", "unix", "udp", "unix_dgram").
    proxy_kind: str
    not_scriptable = "a RecordingProxy forwards every byte to its upstream and answers nothing itself"

    def __new__(cls, upstream: UpstreamAddress | None = None, kind: str = "tcp", **kwargs: Any) -> Any:
        if cls is RecordingProxy:
            if kind not in kinds("proxy"):
                raise ConfigurationError(
                    f"RecordingProxy(kind={kind!r}): choose one of {', '.join(kinds('proxy'))}"
                )
            cls = concrete("proxy", kind)
        return super().__new__(cls)

    def __init__(
        self,
        upstream: UpstreamAddress | None = None,
        kind: str | None = None,
        *,
        redact: Any = (),
        upstream_ssl_context: ssl.SSLContext | None = None,
        upstream_hostname: str | None = None,
        connect_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        kind = self.proxy_kind  # __new__ chose the class from ``kind``
        if kwargs.get("framing") is not None:
            raise ConfigurationError(
                f"framing={kwargs['framing']!r} given to a RecordingProxy: a proxy forwards and records "
                "raw bytes as they come and never frames them (a cassette replays bytes, whatever the "
                "protocol); drop framing="
            )
        if upstream_ssl_context is not None and kind not in ("tcp", "unix"):
            raise ConfigurationError(f"upstream_ssl_context needs a stream upstream, not kind={kind!r}")
        self._upstream = Upstream.for_kind(kind, upstream, connect_timeout)
        self._upstream.ssl_context = upstream_ssl_context
        self._upstream.hostname = upstream_hostname
        #: The upstream's address: ``(host, port)`` or a socket path.
        self.upstream = self._upstream.address
        self.redactor = Redactor(redact or ())
        self.recorder = CassetteRecorder(kind, self.redactor, time.monotonic())
        if kind in ("tcp", "unix"):
            kwargs["framing"] = raw()
        else:
            kwargs.pop("framing", None)
        super().__init__(**kwargs)

    @property
    def connect_timeout(self) -> float:
        """Longest wait for the upstream to accept a connection (seconds)."""
        return self._upstream.connect_timeout

    def cassette(self) -> CassetteData:
        """What was recorded so far, redacted: a snapshot, whatever the proxy records next."""
        return self.recorder.cassette()  # events made for this call, of immutable bytes

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cassette to ``path`` (atomically)."""
        save(self.cassette(), path)


@registers("proxy", "tcp")
class TCPProxy(RecordingProxy, StreamProxying, TCPServer):
    """A recording proxy for a TCP upstream (see :class:`RecordingProxy`)."""

    proxy_kind = "tcp"
    kind = "TCP proxy"


@registers("proxy", "udp")
class UDPProxy(RecordingProxy, DatagramProxying, UDPServer):
    """A recording proxy for a UDP upstream."""

    proxy_kind = "udp"
    kind = "UDP proxy"


@registers("proxy", "unix")
class UnixProxy(RecordingProxy, StreamProxying, UnixStreamServer):
    """A recording proxy for a Unix stream upstream."""

    proxy_kind = "unix"
    kind = "Unix stream proxy"


@registers("proxy", "unix_dgram")
class UnixDatagramProxy(RecordingProxy, DatagramProxying, UnixDatagramServer):
    """A recording proxy for a Unix datagram upstream."""

    proxy_kind = "unix_dgram"
    kind = "Unix datagram proxy"
