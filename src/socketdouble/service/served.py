"""The doubles one ``socketdouble serve`` runs: started by name, changed live, stopped, reported.

:class:`ServedDoubles` is shared by the main thread (start, stop, the final report) and
the admin API's threads (add a server, read one, remove one), so its table of servers
is guarded by a lock; the servers themselves are safe to use from any thread.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from ..core.cassette import save
from ..net.proxy import RecordingProxy
from ..net.server import BaseServer
from .config_servers import ServerSpec
from .config_values import ConfigError, join
from .recorded_cassette import cassette_of

__all__ = ["Served", "ServedDoubles", "UnknownServer"]


class UnknownServer(LookupError):
    """No server of that name; the message lists the names there are."""


@dataclass
class Served:
    """One running double and the spec it was made from."""

    spec: ServerSpec
    server: BaseServer


class ServedDoubles:
    """Named, started doubles; see the module docstring.

    ``ca_file``: where the PEM of the CA behind every TLS double is written for clients
    (None: a private temporary folder, removed by :meth:`close`). ``record_dir``: where
    :meth:`finish` and :meth:`remove` write each double's cassette (None: nowhere).
    """

    def __init__(self, *, record_dir: Path | None = None, ca_file: Path | None = None) -> None:
        self.record_dir = record_dir
        self._ca_file = ca_file
        self._ca: trustme.CA | None = None
        self._ca_folder: str | None = None
        self._lock = threading.Lock()
        self._served: dict[str, Served] = {}
        self._written: list[Path] = []  # the TLS files written beside the ready file

    # -- TLS ---------------------------------------------------------------------

    def _tls_files(self, spec: ServerSpec) -> dict[str, str]:
        """The CA (made and written on first use) and, under mutual TLS, a client certificate."""
        if self._ca is None:
            self._ca = trustme.CA()
        ca_file = self._ca_file
        if ca_file is None:
            if self._ca_folder is None:
                self._ca_folder = tempfile.mkdtemp(prefix="socketdouble-ca-")
            ca_file = Path(self._ca_folder, "ca.pem")
        if not ca_file.exists():
            self._ca.cert_pem.write_to_path(str(ca_file))
            self._written.append(ca_file)
        files = {"ca_file": str(ca_file)}
        if spec.options.get("client_auth"):
            client = ca_file.with_name(ca_file.name.removesuffix(".pem").removesuffix("-ca") + "-client.pem")
            if not client.exists():
                leaf = self._ca.issue_cert("client.socketdouble.test")
                leaf.private_key_and_cert_chain_pem.write_to_path(str(client))
                self._written.append(client)
            files["client_cert_file"] = str(client)
        return files

    # -- the table ---------------------------------------------------------------

    def add(self, spec: ServerSpec) -> dict[str, Any]:
        """Build and start a double; its ready-line entry. A name in use or a bind error: ConfigError."""
        with self._lock:
            if spec.name in self._served:
                raise ConfigError(
                    join(spec.path, "name"), f"{spec.name!r} is the name of a running server already"
                )
            if spec.role == "proxy" and self.record_dir is None:
                raise ConfigError(
                    join(spec.path, "proxy"),
                    "a recording proxy writes its cassette to --record-dir DIR; pass it, or replay instead",
                )
            files = self._tls_files(spec) if spec.kind == "tls" else {}
            server = spec.build(self._ca)
            try:
                server.start()
            except OSError as error:  # bind errors the server did not name (EACCES on a low port...)
                raise ConfigError(spec.path, f"cannot listen: {error.strerror or error}") from None
            except Exception as error:  # ConfigurationError: the port in use, a path that exists
                raise ConfigError(spec.path, str(error)) from None
            self._served[spec.name] = Served(spec, server)
            return _entry(spec, server, files)

    def get(self, name: str) -> Served:
        """The double called ``name``, or :class:`UnknownServer`."""
        with self._lock:
            served = self._served.get(name)
            if served is None:
                raise self._unknown(name)
            return served

    def _unknown(self, name: str) -> UnknownServer:
        # The caller holds the lock.
        known = ", ".join(self._served) or "none"
        return UnknownServer(f"no server named {name!r}; the servers: {known}")

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every double's ready-line entry, in the order they were added."""
        with self._lock:
            served = list(self._served.values())
        return {s.spec.name: self.entry(s) for s in served}

    def entry(self, served: Served) -> dict[str, Any]:
        """What the ready line says of ``served``: kind, address, TLS files, upstream."""
        files = self._tls_files(served.spec) if served.spec.kind == "tls" else {}
        return _entry(served.spec, served.server, files)

    def remove(self, name: str) -> dict[str, Any]:
        """Stop the double ``name``, write its cassette, and say how its check went."""
        with self._lock:
            served = self._served.pop(name, None)
            if served is None:
                raise self._unknown(name)
        problems = _stopped(served.server)
        result: dict[str, Any] = {"ok": not problems, "problems": problems}
        note, written = self._save(served)
        result["cassette"] = written
        if note:
            result["ok"] = False
            result["problems"].append(note)
        return result

    # -- the end -------------------------------------------------------------------

    def stop(self) -> dict[str, list[str]]:
        """Stop every double (each even if another's stop fails); their problems, by name."""
        with self._lock:
            served = list(self._served.values())
        return {s.spec.name: _stopped(s.server) for s in served}

    def finish(self, problems: dict[str, list[str]]) -> tuple[bool, str]:
        """After :meth:`stop`: write every cassette and give (all passed, the check report)."""
        with self._lock:
            served = list(self._served.values())
        sections = []
        ok = True
        for each in served:
            found = list(problems.get(each.spec.name, []))
            note, written = self._save(each)
            if note:
                found.append(note)
            ok = ok and not found
            sections.append(_section(each, found, written))
        verdict = "all checks passed" if ok else "some checks failed"
        return ok, "\n\n".join([*sections, f"socketdouble serve: {verdict}"])

    def close(self) -> None:
        """Remove the TLS files written for clients: they name a CA that is gone."""
        if self._ca_folder is not None:
            shutil.rmtree(self._ca_folder, ignore_errors=True)  # our own folder: nothing else in it
            self._ca_folder = None
        written, self._written = self._written, []
        for path in written:
            with contextlib.suppress(FileNotFoundError):  # removed by someone else meanwhile: gone anyway
                path.unlink()

    def _save(self, served: Served) -> tuple[str, str | None]:
        """Write ``served``'s cassette to the record dir: (why not, or "", the path written)."""
        if self.record_dir is None:
            return "", None
        path = self.record_dir / f"{served.spec.name}.json"
        server = served.server
        if isinstance(server, RecordingProxy):
            if server.problems():
                return f"cassette {path} not written: the proxy had problems while recording", None
            if not server.cassette().connections:
                return f"cassette {path} not written: nothing connected to the proxy", None
        try:
            save(cassette_of(server, served.spec.cassette_kind), path)
        except OSError as error:
            return f"cassette {path} not written: {error.strerror or error}", None
        return "", str(path)


def _entry(spec: ServerSpec, server: BaseServer, files: dict[str, str]) -> dict[str, Any]:
    address = server.address
    entry: dict[str, Any] = {
        "kind": spec.kind,
        "address": list(address) if isinstance(address, tuple) else address,
    }
    entry.update(files)
    if spec.upstream is not None:
        upstream = spec.upstream
        entry["upstream"] = list(upstream) if isinstance(upstream, tuple) else upstream
    return entry


def _stopped(server: BaseServer) -> list[str]:
    """Stop ``server``; every problem its check finds (a failed stop is one)."""
    try:
        server.stop()
    except Exception as error:  # reported as a problem of this double; the others still stop
        return [f"stopping failed: {type(error).__name__}: {error}", *server.problems()]
    return server.problems()


def _section(served: Served, problems: list[str], written: str | None) -> str:
    """One double's part of the report: ok with counts, or its problems and transcript."""
    recording = served.server.recording
    name = served.spec.name
    counts = f"{len(recording.requests)} request(s) on {len(recording.connections)} connection(s)"
    if recording.faulted or len(served.server.faults):
        counts += f", faults seeded with {served.server.seed}"  # seed = that in the file repeats them
    if problems:
        numbered = "\n".join(f"{i}. {problem}" for i, problem in enumerate(problems, 1))
        text = f"{name}: FAILED, {len(problems)} problem(s)\n{numbered}\n\n{recording.transcript()}"
    else:
        text = f"{name}: ok, {counts}"
    if written is not None:
        text += f"\n{name}: cassette written to {written}"
    return text
