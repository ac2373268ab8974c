"""Subcommands of `edge`: each module has register(subparsers, common) and sets `func` on its parsers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from edge.config import Config, load_config, runtime_env
from edge.errors import ConfigError


def load(args: argparse.Namespace) -> Config:
    """The configuration named by --config / $EDGE_CONFIG; a wrong file prints its problems and exits 2."""
    path = runtime_env(getattr(args, "config", None)).config_path
    try:
        return load_config(path)
    except ConfigError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in low..high, else a usage error (exit 2) saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number in {low}..{high}")
        return value

    return parse
