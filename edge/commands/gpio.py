"""edge gpio pins: every configured pin and its reading, so an installer can check the wiring on site."""

from __future__ import annotations

import argparse
import json

from edge.commands import load
from edge.errors import ConfigError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("gpio", help="GPIO bins, lights, buttons and outputs")
    gsub = p.add_subparsers(dest="gpio_command", metavar="ACTION", required=True)
    s = gsub.add_parser("pins", parents=[common], help="every configured pin and what it reads now",
                        description="List every pin in [gpio] with its current reading. Asks the running gateway "
                        "(which holds the pins); when none answers, opens the pins itself for a moment.")
    s.add_argument("--json", action="store_true", help="one JSON object")
    s.add_argument("--direct", action="store_true", help="open the pins here even if a gateway runs")
    s.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the gateway and first echoes")
    s.set_defaults(func=cmd_pins)


def cmd_pins(args: argparse.Namespace) -> int:
    from edge.gpio import read_pins  # gpiozero only for this command

    config = load(args)
    try:
        report = read_pins(config, timeout=args.timeout, direct=args.direct)
    except ConfigError as e:
        raise SystemExit("edge gpio pins: " + "; ".join(e.problems)) from None
    if report is None:
        raise SystemExit("edge gpio pins: no GPIO devices are configured (add a [gpio] section)")
    if args.json:
        print(json.dumps({"source": report.source, "factory": report.factory, "pins": report.pins}))
        return 0
    where = "from the running gateway" if report.source == "gateway" else "opened here (no gateway answered)"
    print(f"{len(report.pins)} pins, read {where}; pin factory {report.factory}")
    print(f"{'pin':>4}  {'device':<16} {'kind':<7} {'role':<10} reading")
    for row in report.pins:
        print(f"{row['pin']:>4}  {row['device']:<16} {row['kind']:<7} {row['role']:<10} {row['reading']}")
    return 0
