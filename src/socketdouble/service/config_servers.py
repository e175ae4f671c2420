"""One ``[[servers]]`` table of the doubles file: checked into a :class:`ServerSpec`, then built.

Three roles, told apart by their keys: a scripted server (rules, greeting, script), a
replay (``replay = PATH``, a cassette) and a recording proxy (``proxy = "HOST:PORT"`` or
a socket path). Every check that needs no socket happens here, so a bad file is refused
before anything listens; :meth:`ServerSpec.build` then makes the (unstarted) server.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trustme

from ..core.cassette import Cassette, load
from ..core.fault_spec import Fault
from ..core.script import Script
from ..errors import CassetteError, ConfigurationError
from ..net.datagram import UDPServer, UnixDatagramServer
from ..net.proxy import RecordingProxy
from ..net.replay import ReplayServer
from ..net.server import BaseServer
from ..net.stream import TCPServer, UnixStreamServer
from ..net.tls import TLSServer
from ..net.upstream import UpstreamAddress
from .config_faults import parse_fault
from .config_framing import parse_framing
from .config_rules import RuleSpec, parse_rule, parse_script
from .config_values import (
    ConfigError,
    boolean,
    bytes_value,
    check_keys,
    integer,
    join,
    number,
    string,
    string_list,
    table,
    table_list,
)

__all__ = ["KINDS", "ServerSpec", "parse_server"]

Role = Literal["rules", "replay", "proxy"]
KINDS = ("tcp", "udp", "unix", "unix_dgram", "tls")
_CASSETTE_KINDS = ("tcp", "udp", "unix", "unix_dgram")
_UNIX_KINDS = ("unix", "unix_dgram")
_STREAM_KINDS = ("tcp", "unix", "tls")
_CLASSES: dict[str, type[BaseServer]] = {
    "tcp": TCPServer,
    "udp": UDPServer,
    "unix": UnixStreamServer,
    "unix_dgram": UnixDatagramServer,
    "tls": TLSServer,
}
_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")

_COMMON = ("name", "kind", "host", "port", "path", "faults", "seed")
_KEYS: dict[Role, tuple[str, ...]] = {
    "rules": (
        *_COMMON,
        "framing",
        "greeting",
        "greeting_hex",
        "rules",
        "script",
        "concurrency",
        "report_unused_rules",
        "client_auth",
    ),
    "replay": (*_COMMON, "replay", "match", "ignore", "timing", "report_unused"),
    "proxy": (*_COMMON, "proxy", "redact", "connect_timeout"),
}
_WHY_NOT = {
    "replay": "a replay answers from its cassette",
    "proxy": "a recording proxy forwards every byte to its upstream and answers nothing itself",
}


@dataclass
class ServerSpec:
    """A checked server table: what :meth:`build` makes, and what the ready line says of it."""

    name: str
    path: str  # its key path, "servers[2]", for errors found later (an address in use)
    role: Role
    kind: str  # tcp, udp, unix, unix_dgram, tls; a replay's is its cassette's
    options: dict[str, Any] = field(default_factory=dict)  # the constructor's keywords
    greeting: bytes | None = None
    rules: list[RuleSpec] = field(default_factory=list)
    script: Script | None = None
    faults: list[Fault] = field(default_factory=list)
    cassette: Cassette | None = None
    upstream: UpstreamAddress | None = None

    @property
    def cassette_kind(self) -> str:
        """The kind of the cassette its recording makes (TLS records its plaintext as tcp)."""
        return "tcp" if self.kind == "tls" else self.kind

    def build(self, ca: trustme.CA | None = None) -> BaseServer:
        """The server, not started; a constructor's ConfigurationError becomes a ConfigError here."""
        try:
            return self._build(ca)
        except ConfigurationError as error:
            raise ConfigError(self.path, str(error)) from None

    def _build(self, ca: trustme.CA | None) -> BaseServer:
        options = dict(self.options, name=self.name)
        if self.faults:
            options["faults"] = list(self.faults)
        if self.role == "replay":
            return ReplayServer(self.cassette, **options)
        if self.role == "proxy":
            return RecordingProxy(self.upstream, kind=self.kind, **options)
        if self.kind == "tls":
            options["ca"] = ca if ca is not None else trustme.CA()
        server = _CLASSES[self.kind](**options)
        if self.greeting is not None:
            try:
                server.on_connect().reply(self.greeting)
            except ConfigurationError as error:
                raise ConfigError(join(self.path, "greeting"), str(error)) from None
        for rule in self.rules:
            rule.add_to(server)
        if self.script is not None:
            server.script(self.script)
        return server


def parse_server(
    value: Any, path: str, *, base: Path, allow_remote: bool, seed: int | None = None
) -> ServerSpec:
    """Check one server table; relative paths in it are taken from ``base`` (the file's folder)."""
    data = table(value, path)
    role: Role = "rules"
    if "replay" in data and "proxy" in data:
        raise ConfigError(join(path, "proxy"), "a server replays a cassette or proxies an upstream, not both")
    if "replay" in data or "proxy" in data:
        role = "replay" if "replay" in data else "proxy"
        for key in data:
            if key in _KEYS["rules"] and key not in _KEYS[role]:
                raise ConfigError(join(path, key), f"{_WHY_NOT[role]}, so it takes no {key}")
    check_keys(data, path, _KEYS[role], f"a {role} server" if role != "rules" else "a server")
    name = _name(data, path)
    spec = ServerSpec(name=name, path=path, role=role, kind="tcp")
    if role == "replay":
        _replay(spec, data, path, base)
    elif role == "proxy":
        _proxy(spec, data, path, base)
    else:
        spec.kind = _choice(data, "kind", path, KINDS, "tcp")
        _scripted(spec, data, path)
    spec.options.update(_address(spec.kind, data, path, base, allow_remote))
    server_seed = integer(data, "seed", path, seed)
    if server_seed is not None:
        spec.options["seed"] = server_seed
    spec.faults = _faults(spec, data, path)
    return spec


def _faults(spec: ServerSpec, data: dict[str, Any], path: str) -> list[Fault]:
    medium: Literal["stream", "datagram"] = "stream" if spec.kind in _STREAM_KINDS else "datagram"
    faults = []
    for index, item in enumerate(table_list(data, "faults", path)):
        where = join(join(path, "faults"), index)
        fault = parse_fault(item, where)
        try:
            fault.check_medium(medium, f"a {spec.kind} server")
        except ConfigurationError as error:
            raise ConfigError(where, str(error)) from None
        faults.append(fault)
    return faults


def _name(data: dict[str, Any], path: str) -> str:
    name = string(data, "name", path)
    if name is None:
        raise ConfigError(
            path,
            'no name: every server needs name = "..." (it keys the ready line, the admin API '
            "and its cassette DIR/NAME.json)",
        )
    if not _NAME.match(name):
        raise ConfigError(
            join(path, "name"),
            f"{name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return name


def _choice(data: dict[str, Any], key: str, path: str, allowed: tuple[str, ...], default: str) -> str:
    value = string(data, key, path, default)
    assert value is not None
    if value not in allowed:
        raise ConfigError(join(path, key), f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _scripted(spec: ServerSpec, data: dict[str, Any], path: str) -> None:
    if "framing" in data:
        if spec.kind not in _STREAM_KINDS:
            raise ConfigError(
                join(path, "framing"), f"a {spec.kind} server gets whole datagrams; drop framing"
            )
        spec.options["framing"] = parse_framing(data["framing"], join(path, "framing"))
    spec.greeting = bytes_value(data, "greeting", path)
    if spec.greeting is not None and spec.kind not in _STREAM_KINDS:
        key = "greeting" if "greeting" in data else "greeting_hex"
        raise ConfigError(join(path, key), f"a {spec.kind} server has no connections to greet; drop it")
    spec.rules = [
        parse_rule(rule, join(join(path, "rules"), i))
        for i, rule in enumerate(table_list(data, "rules", path))
    ]
    if "script" in data:
        spec.script = parse_script(data["script"], join(path, "script"))
    if "concurrency" in data:
        spec.options["concurrency"] = _choice(
            data, "concurrency", path, ("thread", "serial", "fork"), "thread"
        )
    if "report_unused_rules" in data:
        spec.options["report_unused_rules"] = boolean(data, "report_unused_rules", path)
    if "client_auth" in data:
        if spec.kind != "tls":
            raise ConfigError(
                join(path, "client_auth"), f'client certificates need kind = "tls", not {spec.kind!r}'
            )
        spec.options["client_auth"] = boolean(data, "client_auth", path)


def _replay(spec: ServerSpec, data: dict[str, Any], path: str, base: Path) -> None:
    source = string(data, "replay", path)
    assert source is not None  # the role is "replay" because the key is there
    try:
        spec.cassette = load(base / source)
    except CassetteError as error:
        raise ConfigError(join(path, "replay"), str(error)) from None
    spec.kind = spec.cassette.kind
    if "kind" in data:
        given = _choice(data, "kind", path, _CASSETTE_KINDS, spec.kind)
        if given != spec.kind:
            raise ConfigError(
                join(path, "kind"), f"{given!r}, but cassette {base / source} holds a {spec.kind!r} recording"
            )
    spec.options["match"] = _choice(data, "match", path, ("order", "first_request"), "order")
    spec.options["ignore"] = string_list(data, "ignore", path)
    spec.options["timing"] = boolean(data, "timing", path)
    spec.options["report_unused"] = boolean(data, "report_unused", path, True)


def _proxy(spec: ServerSpec, data: dict[str, Any], path: str, base: Path) -> None:
    upstream = string(data, "proxy", path)
    where = join(path, "proxy")
    if not upstream:
        raise ConfigError(where, 'expected "HOST:PORT" or a socket path, not an empty string')
    as_path = "/" in upstream
    spec.kind = _choice(data, "kind", path, _CASSETTE_KINDS, "unix" if as_path else "tcp")
    if spec.kind in _UNIX_KINDS:
        spec.upstream = str(base / upstream)
    else:
        spec.upstream = _host_port(upstream, where)
    spec.options["redact"] = string_list(data, "redact", path)
    timeout = number(data, "connect_timeout", path)
    if timeout is not None:
        spec.options["connect_timeout"] = timeout


def _host_port(text: str, path: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[IPv6]:PORT"``."""
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if match is None:
        raise ConfigError(path, f'{text!r}: expected "HOST:PORT" (e.g. "127.0.0.1:6379", "[::1]:6379")')
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port <= 65535:
        raise ConfigError(path, f"{text!r}: port {port} is not in 1..65535")
    return host, port


def _address(kind: str, data: dict[str, Any], path: str, base: Path, allow_remote: bool) -> dict[str, Any]:
    """The listening keywords: ``host``/``port`` for inet kinds, ``path`` for Unix kinds."""
    if kind in _UNIX_KINDS:
        for key in ("host", "port"):
            if key in data:
                raise ConfigError(
                    join(path, key), f"a {kind} server listens on a socket path; give path, not {key}"
                )
        socket_path = string(data, "path", path)
        return {} if socket_path is None else {"path": str(base / socket_path)}
    if "path" in data:
        raise ConfigError(
            join(path, "path"), f"a {kind} server listens on host and port; path is for unix kinds"
        )
    host = string(data, "host", path, "127.0.0.1")
    assert host is not None
    port = integer(data, "port", path, 0, minimum=0)
    assert port is not None
    if port > 65535:
        raise ConfigError(join(path, "port"), f"{port} is not a port (0..65535; 0 picks a free one)")
    return {"host": host, "port": port, **_host_check(host, join(path, "host"), allow_remote)}


def _host_check(host: str, path: str, allow_remote: bool) -> dict[str, Any]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            path, f"{host!r} is not an IP address; use 127.0.0.1 or ::1 (a name may resolve to either)"
        ) from None
    if address.is_loopback:
        return {}
    if not allow_remote:
        raise ConfigError(
            path,
            f"{host!r} is not a loopback address: the double would be reachable from the network; "
            "pass --allow-remote if that is what you want",
        )
    return {"allow_remote": True}
