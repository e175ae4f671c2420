"""``socketdouble serve FILE``: run the doubles a file declares until SIGTERM or SIGINT.

Order of events: check the whole file (nothing listens if any of it is bad: exit 2);
start every double, then the admin API; print the ready line and write the ready file;
wait for SIGTERM, SIGINT or ``POST /shutdown``; close the admin API, stop every double,
write the cassettes, print the check report, remove the ready file, and exit 0 when
every check passed, 1 when not. Errors are one line on stderr, never a traceback:
``socketdouble serve: doubles.toml: servers[0].rules[1].reply: expected a string, not 5``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .admin import AdminAPI
from .admin_http import AdminServer, AdminUnavailable, parse_admin_address
from .cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from .config import Config, ConfigError, load
from .ready import announce, ready_line, withdraw
from .served import ServedDoubles
from .signals import StopRequest

__all__ = ["PROGRAM", "run"]

PROGRAM = "socketdouble serve"


class _BadInput(Exception):
    """Exit 2: ``where`` (the file, or an option) and what is wrong there."""

    def __init__(self, where: str, problem: object) -> None:
        super().__init__(f"{PROGRAM}: {where}: {problem}")


def run(args: argparse.Namespace) -> int:
    """Serve until told to stop; the exit code (see the module docstring)."""
    try:
        config, admin_address, record_dir, ready_file = _checked(args)
        return _serve(args, config, admin_address, record_dir, ready_file)
    except _BadInput as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT


def _checked(args: argparse.Namespace) -> tuple[Config, tuple[str, int] | None, Path | None, Path | None]:
    """Everything the command line and the file say, checked before anything listens."""
    try:
        config = load(args.file, allow_remote=args.allow_remote)
    except ConfigError as error:
        raise _BadInput(args.file, error) from None
    admin_address = None
    if args.admin is not None:
        try:
            admin_address = parse_admin_address(args.admin, args.allow_remote)
        except AdminUnavailable as error:
            raise _BadInput(f"--admin {args.admin}", error) from None
    if not config.servers and admin_address is None:
        raise _BadInput(
            args.file, "servers: no servers; declare [[servers]], or pass --admin HOST:PORT to add them later"
        )
    record_dir = None if args.record_dir is None else Path(args.record_dir)
    if record_dir is not None:
        try:
            record_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _BadInput(
                f"--record-dir {record_dir}", f"cannot make it: {error.strerror or error}"
            ) from None
    ready_file = None if args.ready_file is None else Path(args.ready_file)
    if ready_file is not None:
        if not ready_file.parent.is_dir():
            raise _BadInput(f"--ready-file {ready_file}", f"its folder {ready_file.parent} does not exist")
        try:
            withdraw(ready_file)  # a poller must never take a stale one from an earlier run for this one
        except OSError as error:
            raise _BadInput(
                f"--ready-file {ready_file}", f"cannot replace it: {error.strerror or error}"
            ) from None
    return config, admin_address, record_dir, ready_file


def _ca_file(ready_file: Path | None, record_dir: Path | None) -> Path | None:
    """Where clients find the TLS doubles' CA: beside the ready file, else in the record dir."""
    if ready_file is not None:
        return ready_file.resolve().with_name(f"{ready_file.stem}-ca.pem")
    if record_dir is not None:
        return record_dir.resolve() / "ca.pem"
    return None  # a private temporary folder; the ready line names it


def _serve(
    args: argparse.Namespace,
    config: Config,
    admin_address: tuple[str, int] | None,
    record_dir: Path | None,
    ready_file: Path | None,
) -> int:
    doubles = ServedDoubles(record_dir=record_dir, ca_file=_ca_file(ready_file, record_dir))
    admin: AdminServer | None = None
    started = False
    try:
        with StopRequest() as stop:
            try:
                for spec in config.servers:
                    doubles.add(spec)
                if admin_address is not None:
                    api = AdminAPI(
                        doubles, stop.set, base=config.base, allow_remote=args.allow_remote, seed=config.seed
                    )
                    admin = AdminServer(api, *admin_address)
                line = ready_line(doubles.entries(), None if admin is None else admin.url)
                try:
                    announce(line, ready_file)
                except OSError as error:
                    raise _BadInput(f"--ready-file {ready_file}", error.strerror or error) from None
                started = True
                stop.wait()
            except ConfigError as error:
                raise _BadInput(args.file, error) from None
            except AdminUnavailable as error:
                raise _BadInput(f"--admin {args.admin}", error) from None
            finally:
                if admin is not None:
                    admin.close()
                problems = doubles.stop()
            ok, report = doubles.finish(problems)
            print(f"{PROGRAM}: stopped ({stop.signal_name})\n\n{report}", flush=True)
            return EXIT_OK if ok else EXIT_FAILED
    finally:
        doubles.close()
        if started and ready_file is not None:
            with contextlib.suppress(OSError):  # removed already, or its folder is gone: nothing to withdraw
                withdraw(ready_file)
