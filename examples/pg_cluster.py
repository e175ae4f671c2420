"""A throwaway PostgreSQL cluster for tests: made in a temp folder, on a free loopback port.

It uses the server binaries of the machine (Debian's ``postgresql`` package puts them in
``/usr/lib/postgresql/<version>/bin``; elsewhere ``pg_ctl`` on ``PATH``). PostgreSQL
refuses to run as root, so under root every server command runs as the ``postgres``
system user (the Debian package creates it) and the folder is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from examples.needs import unavailable

#: Bounds, in seconds, for the server commands (pg_ctl's own -t and the subprocess timeout).
INITDB_TIMEOUT = 60
START_TIMEOUT = 30
STOP_TIMEOUT = 15
SERVER_USER = "postgres"


class ClusterError(RuntimeError):
    """A server command failed; the message holds its command line and output."""


def find_bindir() -> Path | None:
    """The folder of the newest installed PostgreSQL server binaries, or None."""
    versions: list[tuple[int, Path]] = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (candidate / "initdb").is_file() and re.fullmatch(r"\d+", candidate.parent.name):
            versions.append((int(candidate.parent.name), candidate))
    if versions:
        return max(versions)[1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None and (Path(pg_ctl).resolve().parent / "initdb").is_file():
        return Path(pg_ctl).resolve().parent
    return None


def free_port() -> int:
    """A loopback port nobody listens on now (PostgreSQL needs a number, not port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """One initialised data folder; :meth:`start` and :meth:`stop` may be called repeatedly."""

    def __init__(self, bindir: Path, folder: Path, as_user: list[str]) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.as_user = as_user
        self.port = 0
        self.running = False

    def run(self, program: str, *args: str, timeout: float) -> str:
        """Run a server program (as the server user); its output, or ClusterError."""
        command = [*self.as_user, str(self.bindir / program), *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as expired:
            raise ClusterError(f"{' '.join(command)} did not finish within {timeout} s") from expired
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}{self._log()}"
            )
        return done.stdout

    def _log(self) -> str:
        try:
            return f"\nserver log:\n{self.log.read_text(errors='replace')}"
        except OSError:
            return ""  # no log yet: the command failed before the server wrote one

    def start(self) -> None:
        """Start on a fresh free port and return once it accepts connections."""
        for attempt in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            try:
                self.run(
                    "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT), "-D", str(self.data),
                    "-l", str(self.log), "-o", f"-p {self.port}",
                    timeout=START_TIMEOUT + 5,
                )  # fmt: skip
            except ClusterError:
                if attempt == 2 or "Address already in use" not in self._log():
                    raise
                continue
            self.running = True
            return

    def sql(self, statement: str) -> str:
        """Run SQL as the superuser over the Unix socket (always trusted); psql's output."""
        return self.run(
            "psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", str(self.folder), "-p", str(self.port),
            "-U", "postgres", "-d", "postgres", "-Atc", statement, timeout=START_TIMEOUT,
        )  # fmt: skip

    def set_password(self, password: str, encryption: str) -> None:
        """Give the superuser a password stored as ``encryption`` (``md5`` or ``scram-sha-256``)."""
        self.sql(f"SET password_encryption = '{encryption}'; ALTER ROLE postgres PASSWORD '{password}'")

    def stop(self) -> None:
        """Stop the server (fast; immediate if that does not finish in time)."""
        if not self.running:
            return
        try:
            self.run("pg_ctl", "stop", "-w", "-t", str(STOP_TIMEOUT), "-m", "fast", "-D", str(self.data),
                     timeout=STOP_TIMEOUT + 5)  # fmt: skip
        except ClusterError:
            self.run("pg_ctl", "stop", "-w", "-t", str(STOP_TIMEOUT), "-m", "immediate",
                     "-D", str(self.data), timeout=STOP_TIMEOUT + 5)  # fmt: skip
        self.running = False


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        unavailable(f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as")
    if shutil.which("runuser") is None:
        unavailable("running as root and runuser (util-linux) is missing")
    return ["runuser", "-u", SERVER_USER, "--"]


@contextmanager
def throwaway_cluster(host_auth: str = "trust", settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """An initialised, stopped cluster in a temp folder, removed afterwards.

    Superuser ``postgres``; local (Unix socket) connections trusted, loopback TCP ones
    authenticated by ``host_auth`` (``trust``, ``md5``, ``scram-sha-256``...). It listens
    on 127.0.0.1 only, its socket lives in the temp folder and fsync is off.
    ``settings`` are added to postgresql.conf.
    """
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_user = _as_server_user()
    # Under /tmp itself, not pytest's tmp_path: that is 0700 root's, out of the server user's reach.
    folder = Path(tempfile.mkdtemp(prefix="sd-pg-"))
    cluster = Cluster(bindir, folder, as_user)
    try:
        if as_user:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster.run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth-local=trust",
            f"--auth-host={host_auth}", "--no-sync", "-E", "UTF8", "--locale=C",
            timeout=INITDB_TIMEOUT,
        )  # fmt: skip
        lines = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{folder}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in lines.items()))
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # a leftover temp folder is harmless
