"""The ``socketdouble`` command (also ``python -m socketdouble``): parse, then hand over.

Each subcommand lives in its own module with a ``run(args) -> int``; this module only
declares the options. Exit codes: 0 all well, 1 a check or replay failed, 2 bad usage
or a bad file (argparse's own code for bad options).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _serve(args: argparse.Namespace) -> int:
    from . import serve

    return serve.run(args)


def _record(args: argparse.Namespace) -> int:
    from . import record

    return record.run(args)


def _replay(args: argparse.Namespace) -> int:
    from . import replay

    return replay.run(args)


def _show(args: argparse.Namespace) -> int:
    from . import show

    return show.run(args)


def _export(args: argparse.Namespace) -> int:
    from . import export

    return export.run(args)


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand, each with its own ``--help``."""
    parser = argparse.ArgumentParser(
        prog="socketdouble",
        description="Real socket servers for tests: serve doubles from a file, record, replay, "
        "show and export cassettes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="start the doubles a TOML or JSON file declares, until SIGTERM or SIGINT",
        description="Start the doubles FILE declares (TOML, or JSON when the name ends in .json), "
        "print one JSON ready line when all listen, and on SIGTERM/SIGINT stop them, save each "
        "recording and exit 0 when every check passes, 1 when not, 2 on a bad file.",
    )
    serve.add_argument("file", metavar="FILE", help="the doubles file (.toml or .json)")
    _add_ready_file(serve)
    serve.add_argument("--record-dir", metavar="DIR", help="write each server's recording as DIR/NAME.json")
    serve.add_argument("--admin", metavar="HOST:PORT", help="serve the JSON admin API on HOST:PORT")
    _add_allow_remote(serve)
    serve.set_defaults(run=_serve)

    record = commands.add_parser(
        "record",
        help="record traffic to a real upstream into a cassette, until SIGTERM or SIGINT",
        description="Listen, forward every connection to the upstream, and on SIGTERM/SIGINT "
        "save what passed as a cassette.",
    )
    record.add_argument(
        "--upstream", required=True, metavar="HOST:PORT|PATH", help="the real service (a path: Unix socket)"
    )
    record.add_argument("--out", required=True, metavar="FILE", help="the cassette to write")
    _add_listen(record)
    record.add_argument(
        "--kind",
        default="tcp",
        choices=["tcp", "udp", "unix", "unix_dgram"],
        help="the protocol (default: tcp)",
    )
    record.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="REGEX",
        help="hide what REGEX matches in the cassette (repeatable)",
    )
    _add_ready_file(record)
    _add_allow_remote(record)
    record.set_defaults(run=_record)

    replay = commands.add_parser(
        "replay",
        help="answer from a cassette, until SIGTERM or SIGINT; exit 1 on a mismatch",
        description="Serve the recorded conversations of FILE; on SIGTERM/SIGINT print the check "
        "report and exit 0 when clients said what was recorded, 1 when not.",
    )
    replay.add_argument("file", metavar="FILE", help="the cassette")
    _add_listen(replay)
    _add_ready_file(replay)
    _add_allow_remote(replay)
    replay.set_defaults(run=_replay)

    show = commands.add_parser(
        "show",
        help="print a cassette's transcript",
        description="Print the transcript of a cassette (colour only on a terminal, never with NO_COLOR).",
    )
    show.add_argument("file", metavar="FILE", help="the cassette")
    show.set_defaults(run=_show)

    export = commands.add_parser(
        "export",
        help="write a cassette as a pcap file for tshark and Wireshark",
        description="Write the cassette's traffic as packets with synthetic IP, TCP or UDP headers.",
    )
    export.add_argument("file", metavar="FILE", help="the cassette")
    export.add_argument("--pcap", required=True, metavar="OUT", help="the pcap file to write")
    export.set_defaults(run=_export)
    return parser


def _add_listen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", metavar="HOST:PORT|PATH", help="where clients connect (default: a free loopback port)"
    )


def _add_ready_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ready-file", metavar="PATH", help="also write the ready line to PATH (atomically) once listening"
    )


def _add_allow_remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow listening on addresses other than loopback"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":  # pragma: no cover - python -m socketdouble.service.cli
    sys.exit(main())
