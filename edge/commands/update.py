"""edge update WHEEL: a new release, switched to, rolled back by itself if it does not come up healthy."""

from __future__ import annotations

import argparse
import functools
import math
import sys
from pathlib import Path

from edge.config import load_config, runtime_env
from edge.errors import ConfigError, UpdateError
from edge.update import ROOT, Layout, build_release, healthz_url, http_probe, systemctl_restart, update


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "update", parents=[common], help="install a new release and switch to it (rolled back if unhealthy)",
        description="Install WHEEL as /opt/edge-gateway/releases/<version> beside the current release, switch "
        "the `current` link to it and restart the gateway. If the new version does not answer /healthz healthy "
        "within --timeout seconds, switch back and restart the previous one (exit 1). Run it with sudo.")
    p.add_argument("wheel", type=Path, metavar="WHEEL", help="edge_gateway-<version>-py3-none-any.whl")
    p.add_argument("--timeout", type=_seconds, default=120.0, help="seconds the new release has to become healthy")
    p.add_argument("--find-links", metavar="DIR", help="also take dependencies from this folder of wheels")
    p.add_argument("--no-index", action="store_true", help="do not use a package index (offline, with --find-links)")
    p.add_argument("--force", action="store_true", help="install again even if it is the current version")
    p.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_update)


def cmd_update(args: argparse.Namespace) -> int:
    if not args.wheel.is_file():
        raise SystemExit(f"edge update: {args.wheel}: no such file")
    pip_args = (["--find-links", args.find_links] if args.find_links else []) + (["--no-index"] if args.no_index
                                                                                 else [])
    build = functools.partial(build_release, pip_args=pip_args)
    try:
        result = update(Layout(args.root), args.wheel.resolve(), restart=systemctl_restart(),
                        probe=http_probe(_healthz_url(args)), timeout=args.timeout, force=args.force, build=build)
    except UpdateError as e:
        raise SystemExit(f"edge update: {e}") from None
    print(f"edge update: {result.message}", file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds (finite), else a usage error (exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _healthz_url(args: argparse.Namespace) -> str:
    """Where the gateway answers: from its configuration, else the default (e.g. not yet provisioned)."""
    try:
        api = load_config(runtime_env(getattr(args, "config", None)).config_path).api
    except ConfigError:
        return healthz_url("127.0.0.1", 8080)
    return healthz_url(api.host, api.port)
