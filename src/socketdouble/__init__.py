"""socketdouble: real socket servers for tests, scripted, recorded, torn down cleanly.

Everything public is re-exported here; see the README for a first test.
"""

from .core.cassette import Cassette, CassetteError
from .core.framing import Framing, length_prefixed, lines, raw
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
from .net.datagram import UDPServer, UnixDatagramServer
from .net.proxy import RecordingProxy
from .net.replay import ReplayServer
from .net.server import BaseServer
from .net.stream import TCPServer, UnixStreamServer
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
    "length_prefixed",
    "lines",
    "prefix",
    "raw",
    "regex",
]
