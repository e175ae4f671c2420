"""Cassettes: a recorded session, as a versioned, diff-friendly JSON file.

See ``docs/cassette-format.md`` for the specification. In short::

    {
      "socketdouble_cassette": 3,
      "kind": "tcp",
      "redact": [],
      "connections": [
        {"opened": 0.0, "client": ["127.0.0.1", 50412], "server": ["127.0.0.1", 6379], "events": [
          {"t": 0.000412, "from": "client", "data": "PING\\r\\n"},
          {"t": 0.000801, "from": "server", "escaped": "+PONG\\\\x00\\\\r\\\\n"},
          {"t": 0.002104, "from": "client", "close": "fin"}
        ]}
      ]
    }

A connection's ``"client"`` and ``"server"`` IP endpoints are optional (version 3).
A payload is ``"data"`` (text) when it is UTF-8 made of printable characters, tabs, CR
and LF; ``"escaped"`` when at least 75% of its bytes are printable ASCII, TAB, CR or LF
(see :mod:`.payload`); else ``"base64"``. Nothing is ever loaded with pickle or another
decoder that can run code: the file is JSON, checked field by field.

This module is the public face; the parts live in :mod:`.cassette_model` (the data),
:mod:`.cassette_codec` (files) and :mod:`.cassette_recorder` (live recording).
"""

from __future__ import annotations

from ..errors import CassetteError
from .cassette_codec import MAX_SECONDS, VERSION, dumps, load, loads, payload_field, save
from .cassette_model import (
    KINDS,
    Cassette,
    CassetteEvent,
    CloseEvent,
    CloseHow,
    DataEvent,
    InetAddress,
    RecordedConnection,
    Redactor,
    Side,
)
from .cassette_recorder import CassetteRecorder, ConnectionLog

__all__ = [
    "KINDS",
    "MAX_SECONDS",
    "VERSION",
    "Cassette",
    "CassetteError",
    "CassetteEvent",
    "CassetteRecorder",
    "CloseEvent",
    "CloseHow",
    "ConnectionLog",
    "DataEvent",
    "InetAddress",
    "RecordedConnection",
    "Redactor",
    "Side",
    "dumps",
    "load",
    "loads",
    "payload_field",
    "save",
]
