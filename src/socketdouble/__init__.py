"""socketdouble: real socket servers for tests, scripted, recorded, torn down cleanly.

Everything public is re-exported here; see the README for a first test.
"""

from .core.cassette import Cassette, CassetteError
from .core.framing import Framing, length_prefixed, lines, raw
from .core.http_framing import http
from .core.http_response import http_response
from .core.matchers import ANY, Matcher, prefix, regex
from .core.recording import ConnectionRecord, Recording
from .core.rules import Rule
from .core.script import Script
from .errors import (
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
from .net.base import BaseServer
from .net.proxy import RecordingProxy
from .net.replay import ReplayServer
from .net.servers import TCPServer, UDPServer, UnixDatagramServer, UnixStreamServer
from .net.tls import TLSServer

__all__ = [
    "ANY",
    "BaseServer",
    "Cassette",
    "CassetteError",
    "CassetteMissing",
    "CheckFailed",
    "ConfigurationError",
    "ConnectionRecord",
    "Framing",
    "FramingError",
    "HandlerError",
    "Matcher",
    "Recording",
    "RecordingProxy",
    "ReplayServer",
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
    "WaitTimeout",
    "http",
    "http_response",
    "length_prefixed",
    "lines",
    "prefix",
    "raw",
    "regex",
]
