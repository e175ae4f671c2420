"""The admin API of ``socketdouble serve --admin HOST:PORT``: what each route does.

Everything the doubles file can say can be said here too (CI service containers take no
command arguments): ``POST /servers`` takes a server table of the file's schema, and
rules and faults are added and cleared on running servers. Routes, all JSON unless said:

- ``GET /health``; ``POST /shutdown`` (the same as SIGTERM)
- ``GET /servers``; ``POST /servers`` (201); ``GET /servers/NAME``; ``DELETE /servers/NAME``
- ``GET /servers/NAME/requests``: a list of ``{"text": ...}`` or ``{"base64": ...}``
- ``GET /servers/NAME/transcript`` (text/plain)
- ``POST /servers/NAME/rules`` (one rule, 201), ``DELETE /servers/NAME/rules``
- ``POST /servers/NAME/faults`` (one fault, 201), ``DELETE /servers/NAME/faults``
- ``POST /servers/NAME/reset``: forget what was recorded
- ``GET /servers/NAME/check``: 200 ``{"ok": true}`` or 409 ``{"ok": false, "problems": [...]}``
- ``POST /servers/NAME/wait`` with ``{"count": n, "timeout": s}``: the first n requests
  once they have arrived (a long poll, woken by their arrival), 408 on timeout

Errors are 4xx (5xx for a bug) with ``{"error": "..."}``. :class:`AdminAPI` is the HTTP-free
core (``handle(method, path, body)``); :mod:`.admin_http` serves it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..core.payload import is_text
from ..errors import ConfigurationError, WaitTimeout
from ..net.server import BaseServer
from .config_faults import parse_fault
from .config_rules import parse_rule
from .config_servers import parse_server
from .config_values import ConfigError, check_keys, integer, number, table
from .served import ServedDoubles, UnknownServer

__all__ = ["AdminAPI", "Reply", "message_json"]

#: The longest a wait may be asked to last: past it, an HTTP client or proxy would give up first.
MAX_WAIT = 3600.0


@dataclass
class Reply:
    """An HTTP answer: status, body (JSON-able, or text for text/plain), extra headers."""

    status: int
    body: Any
    headers: dict[str, str] | None = None

    @property
    def is_text(self) -> bool:
        return isinstance(self.body, str)


class ApiError(Exception):
    """A request the API refuses: its status and the message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def message_json(message: bytes) -> dict[str, str]:
    """A request as JSON: ``{"text": ...}`` when it is printable UTF-8, else ``{"base64": ...}``."""
    if is_text(message):
        return {"text": message.decode("utf-8")}
    return {"base64": base64.b64encode(message).decode("ascii")}


class AdminAPI:
    """Routes admin requests to the served doubles; see the module docstring."""

    def __init__(
        self,
        doubles: ServedDoubles,
        shutdown: Callable[[], None],
        *,
        base: Path,
        allow_remote: bool = False,
        seed: int | None = None,
    ) -> None:
        self.doubles = doubles
        self._shutdown = shutdown
        self._base = base
        self._allow_remote = allow_remote
        self._seed = seed
        self._lock = threading.Lock()
        self._closing = False
        self._waits: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    # -- routing -----------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        """Answer one request; never raises (an unexpected error is a 500 naming it)."""
        try:
            return self._route(method, path, body)
        except ApiError as error:
            return Reply(error.status, {"error": str(error)})
        except UnknownServer as error:
            return Reply(404, {"error": str(error.args[0])})
        except ConfigError as error:
            return Reply(400, {"error": str(error)})
        except Exception as error:  # a bug of ours: the client hears of it, the service goes on
            return Reply(500, {"error": f"{type(error).__name__}: {error}"})

    def _route(self, method: str, path: str, body: bytes) -> Reply:
        parts = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
        routes: dict[str, Callable[[], Reply]]
        if parts == ["health"]:
            routes = {"GET": lambda: Reply(200, {"ok": True, "servers": len(self.doubles.entries())})}
        elif parts == ["shutdown"]:
            routes = {"POST": self._shutdown_now}
        elif parts == ["servers"]:
            routes = {"GET": self._list, "POST": lambda: self._add(body)}
        elif len(parts) == 2 and parts[0] == "servers":
            name = parts[1]
            routes = {"GET": lambda: self._one(name), "DELETE": lambda: Reply(200, self.doubles.remove(name))}
        elif len(parts) == 3 and parts[0] == "servers":
            routes = self._server_routes(parts[1], parts[2], body)
        else:
            raise ApiError(404, f"no route {path!r}; see docs/service.md for the admin API")
        action = routes.get(method)
        if action is None:
            allowed = ", ".join(sorted(routes))
            return Reply(405, {"error": f"{method} {path}: use {allowed}"}, {"Allow": allowed})
        return action()

    def _server_routes(self, name: str, what: str, body: bytes) -> dict[str, Callable[[], Reply]]:
        def server() -> BaseServer:
            return self.doubles.get(name).server

        table_of_routes: dict[str, dict[str, Callable[[], Reply]]] = {
            "requests": {"GET": lambda: Reply(200, [message_json(m) for m in server().recording.requests])},
            "transcript": {"GET": lambda: Reply(200, server().recording.transcript() + "\n")},
            "rules": {
                "POST": lambda: self._add_rule(server(), body),
                "DELETE": lambda: self._clear_rules(server()),
            },
            "faults": {
                "POST": lambda: self._add_fault(server(), body),
                "DELETE": lambda: self._clear_faults(server()),
            },
            "reset": {"POST": lambda: self._reset(server())},
            "check": {"GET": lambda: self._check(server())},
            "wait": {"POST": lambda: self._wait(server(), body)},
        }
        routes = table_of_routes.get(what)
        if routes is None:
            raise ApiError(404, f"no route /servers/{name}/{what}; a server has {', '.join(table_of_routes)}")
        return routes

    # -- the service -----------------------------------------------------------------

    def _shutdown_now(self) -> Reply:
        self._shutdown()
        return Reply(202, {"ok": True, "stopping": True})

    def _list(self) -> Reply:
        return Reply(200, {"servers": {name: self._described(name) for name in self.doubles.entries()}})

    def _one(self, name: str) -> Reply:
        return Reply(200, self._described(name))

    def _described(self, name: str) -> dict[str, Any]:
        served = self.doubles.get(name)
        recording = served.server.recording
        entry = self.doubles.entry(served)
        entry.update(
            connections=len(recording.connections),
            requests=len(recording.requests),
            unmatched=len(recording.unmatched),
            errors=len(recording.errors),
            rules=len(served.server.rules.rules),
            faults=[repr(fault) for fault in served.server.faults],
            seed=served.server.seed,
        )
        return entry

    def _add(self, body: bytes) -> Reply:
        spec = parse_server(
            _json(body), "", base=self._base, allow_remote=self._allow_remote, seed=self._seed
        )
        entry = self.doubles.add(spec)
        return Reply(201, {"name": spec.name, **entry})

    # -- one server ------------------------------------------------------------------

    def _add_rule(self, server: BaseServer, body: bytes) -> Reply:
        rule = _configured(lambda: parse_rule(_json(body), "").add_to(server))
        return Reply(201, {"rule": rule.number, "description": rule.describe()})

    def _clear_rules(self, server: BaseServer) -> Reply:
        return Reply(200, {"cleared": server.rules.clear()})

    def _add_fault(self, server: BaseServer, body: bytes) -> Reply:
        fault = parse_fault(_json(body), "")
        _configured(lambda: server.faults.append(fault))
        return Reply(201, {"fault": repr(fault), "faults": len(server.faults)})

    def _clear_faults(self, server: BaseServer) -> Reply:
        cleared = len(server.faults)
        server.faults.clear()
        return Reply(200, {"cleared": cleared})

    def _reset(self, server: BaseServer) -> Reply:
        server.recording.clear()
        return Reply(200, {"ok": True})

    def _check(self, server: BaseServer) -> Reply:
        problems = server.problems()
        if problems:
            return Reply(409, {"ok": False, "problems": problems})
        return Reply(200, {"ok": True})

    def _wait(self, server: BaseServer, body: bytes) -> Reply:
        data = table(_json(body), "")
        check_keys(data, "", ("count", "timeout"), "a wait")
        if "count" not in data:
            raise ConfigError("", 'give {"count": n}: how many requests to wait for (and "timeout": seconds)')
        count = integer(data, "count", "", minimum=0)
        timeout = number(data, "timeout", "", 5.0)
        assert count is not None and timeout is not None
        if timeout > MAX_WAIT:
            raise ConfigError("timeout", f"{timeout} is over {MAX_WAIT:g} seconds; wait again instead")
        try:
            arrived = self._wait_for(server, count, timeout)
        except WaitTimeout as error:
            got = server.recording.requests
            first_line = str(error).split("\n", 1)[0]
            return Reply(408, {"error": first_line, "requests": [message_json(m) for m in got]})
        if arrived is None:
            raise ApiError(503, "the service is stopping")
        return Reply(200, [message_json(m) for m in arrived])

    def _wait_for(self, server: BaseServer, count: int, timeout: float) -> list[bytes] | None:
        """The first ``count`` requests once they arrived; None if the API closes first.

        The arrival wakes the wait (the recording resolves an asyncio future), and so does
        :meth:`close`: a thread blocked on the recording's condition could not be woken by
        a shutdown, and would hold the service up until its timeout.
        """

        async def waiting() -> list[bytes] | None:
            loop = asyncio.get_running_loop()
            closing = asyncio.Event()
            key = (loop, closing)
            with self._lock:
                if self._closing:
                    return None
                self._waits.add(key)
            try:
                arrival = asyncio.ensure_future(server.wait_for_requests_async(count, timeout))
                closed = asyncio.ensure_future(closing.wait())
                await asyncio.wait({arrival, closed}, return_when=asyncio.FIRST_COMPLETED)
                closed.cancel()
                if arrival.done():
                    return arrival.result()
                arrival.cancel()
                await asyncio.gather(arrival, closed, return_exceptions=True)
                return None
            finally:
                with self._lock:
                    self._waits.discard(key)

        return asyncio.run(waiting())

    def close(self) -> None:
        """End every wait in progress (answered 503) and refuse new ones."""
        with self._lock:
            self._closing = True
            waits = list(self._waits)
        for loop, closing in waits:
            try:
                loop.call_soon_threadsafe(closing.set)
            except RuntimeError:  # its loop has closed: that wait has already returned
                continue


def _json(body: bytes) -> Any:
    """The request body as JSON; a ConfigError (400) says what is wrong with it."""
    if not body.strip():
        raise ConfigError("", "the request has no body; send a JSON object")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ConfigError("", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            "", f"the body is not JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise ConfigError("", "the body is JSON nested too deeply to read") from None


def _configured(action: Callable[[], Any]) -> Any:
    """Run ``action``; a ConfigurationError of the server (a replay takes no rules) is a 400."""
    try:
        return action()
    except ConfigurationError as error:
        raise ApiError(400, str(error)) from None
