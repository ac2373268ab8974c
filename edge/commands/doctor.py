"""edge doctor: the installer's checklist on site."""

from __future__ import annotations

import argparse
import json
import sys

from edge import __version__, device
from edge.config import runtime_env
from edge.doctor import Account, DoctorContext, exit_status, render, run_checks


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor", parents=[common], help="check the installation: config, clock, disk, database, gateway, server",
        description="Check everything an installer needs to know on site, one line each: pass, warn or fail, and "
        "what to do. Exit status 1 if anything failed. Run it with sudo, so the database is checked as the "
        "gateway's account.")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    p.add_argument("--user", metavar="NAME", help="the account the gateway runs as (default: edge when it exists, "
                   "else you)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each network answer")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        account = Account.named(args.user) if args.user else Account.default()
    except KeyError:
        print(f"edge doctor: no account named {args.user!r} (--user)", file=sys.stderr)
        return 2  # a usage error, as argparse's own
    ctx = DoctorContext.load(runtime_env(getattr(args, "config", None)).config_path, account=account,
                             timeout=args.timeout)
    results = run_checks(ctx)
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict(), ensure_ascii=False))
    else:
        who = f"{ctx.config.device_id} in building {ctx.config.building_id}" if ctx.config else "this gateway"
        print(render(results, f"edge doctor: {who} · serial {device.serial() or 'unknown'} · "
                              f"edge-gateway {__version__}"))
    sys.stdout.flush()
    return exit_status(results)
