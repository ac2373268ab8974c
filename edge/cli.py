"""The `edge` command line. Commands are thin: each calls the library and turns its errors into messages."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edge import __version__

# every module in edge/commands registers its subcommands here (imported in build_parser: see main)
COMMANDS = ("core", "events", "db", "ble", "sync", "provision", "doctor", "update", "gpio", "plates", "parking")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $EDGE_CONFIG, else /etc/edge-gateway/edge.toml)")
    parser = argparse.ArgumentParser(
        prog="edge", parents=[common],
        description="edge-gateway: the building gateway (wristbands, sensors, plates, parking, sync).",
    )
    parser.add_argument("--version", action="version", version=f"edge-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"edge.commands.{name}").register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The command modules' imports take a second or more on a Pi: they are made here, where Ctrl-C in them is
    # a quiet exit like Ctrl-C later on, not a KeyboardInterrupt traceback.
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edge events tail | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
