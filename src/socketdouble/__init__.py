"""socketdouble: real socket servers for tests, scripted, recorded, torn down cleanly.

Everything public is re-exported here; see the README for a first test.
"""

from . import faults
from .core.cassette import Cassette
from .core.fault_spec import Fault
from .core.framing import Decoder, Framing, LengthPrefixed, Lines, Raw, length_prefixed, lines, raw
from .core.http_framing import http
from .core.http_response import http_response
from .core.matchers import ANY, Matcher, MatcherLike, prefix, regex
from .core.recording import ConnectionRecord, Recording
from .core.rules import Greeting, Response, Rule
from .core.script import Script
from .doubles import Doubles
from .errors import (
    CassetteError,
    CassetteMissing,
    CheckFailed,
    ConfigurationError,
    FramingError,
    HandlerError,
    ServerStateError,
    SocketDoubleError,
    StopFailed,
    WaitTimeout,
)
from .net.datagram import UDPServer, UnixDatagramServer
from .net.proxy import RecordingProxy
from .net.replay import ReplayServer
from .net.server import BaseServer, Concurrency
from .net.stream import TCPServer, UnixStreamServer
from .net.tls import TLSServer
from .net.upstream import UpstreamAddress

__all__ = [
    "ANY",
    "BaseServer",
    "Cassette",
    "CassetteError",
    "CassetteMissing",
    "CheckFailed",
    "Concurrency",
    "ConfigurationError",
    "ConnectionRecord",
    "Decoder",
    "Doubles",
    "Fault",
    "Framing",
    "FramingError",
    "Greeting",
    "HandlerError",
    "LengthPrefixed",
    "Lines",
    "Matcher",
    "MatcherLike",
    "Raw",
    "Recording",
    "RecordingProxy",
    "ReplayServer",
    "Response",
    "Rule",
    "Script",
    "ServerStateError",
    "SocketDoubleError",
    "StopFailed",
    "TCPServer",
    "TLSServer",
    "UDPServer",
    "UnixDatagramServer",
    "UnixStreamServer",
    "UpstreamAddress",
    "WaitTimeout",
    "faults",
    "http",
    "http_response",
    "length_prefixed",
    "lines",
    "prefix",
    "raw",
    "regex",
]
