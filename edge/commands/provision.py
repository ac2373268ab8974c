"""edge provision: give the gateway its identity and central server (over SSH, or from the boot partition)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from edge.clock import Clock
from edge.config import runtime_env
from edge.errors import ProvisionError
from edge.provision import BOOT_FILE, Outcome, Provisioning, parse_request, provision, provision_from_file

FLAGS = {"device_id": "--device-id", "building_id": "--building", "server": "--server", "token": "--token"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "provision", parents=[common], help="set the device id, building, central server and enrolment token",
        description="Write the gateway's identity and central server into its configuration (default "
        "/etc/edge-gateway/edge.toml; other settings in it are kept), as root. Either give the four values, or "
        f"--from-file the {BOOT_FILE} an installer put on the SD card's boot partition (which is then removed, "
        "with its token). A wrong value changes nothing and says why (exit 2).")
    p.add_argument("--device-id", help="unique per gateway, e.g. b07-gw1")
    p.add_argument("--building", help="the building id, e.g. b07")
    p.add_argument("--server", help="the central server's API URL, e.g. https://central.example/api")
    p.add_argument("--token", help="the enrolment token; '-' reads it from standard input (kept out of the shell "
                   "history); prompted for when left out on a terminal")
    p.add_argument("--from-file", type=Path, metavar="PATH",
                   help=f"take the values from this file (the boot partition's {BOOT_FILE}) and remove it")
    p.set_defaults(func=cmd_provision)


def cmd_provision(args: argparse.Namespace) -> int:
    config_path = runtime_env(getattr(args, "config", None)).config_path
    now = Clock().utcnow()
    values = (args.device_id, args.building, args.server, args.token)
    try:
        if args.from_file is not None:
            if any(v is not None for v in values):
                raise _usage_error("give either --from-file or the values, not both")
            outcome = provision_from_file(args.from_file, config_path, now=now)
        else:
            outcome = provision(_request(args), config_path, now=now)
    except ProvisionError as e:
        print("edge provision: refused; nothing was changed:", file=sys.stderr)
        for line in e.problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    _report(outcome)
    return 0


def _request(args: argparse.Namespace) -> Provisioning:
    missing = [f"--{n}" for n, v in (("device-id", args.device_id), ("building", args.building),
                                      ("server", args.server)) if v is None]
    if missing:
        raise _usage_error(f"missing {', '.join(missing)} (or use --from-file PATH)")
    token = args.token
    if token == "-":
        token = sys.stdin.readline().strip()
    elif token is None:
        if not sys.stdin.isatty():
            raise _usage_error("missing --token (use --token - to read it from standard input)")
        token = getpass.getpass("enrolment token: ").strip()
    raw = {"device_id": args.device_id, "building_id": args.building, "server": args.server, "token": token}
    return parse_request(raw, "", FLAGS)


def _usage_error(message: str) -> SystemExit:
    """Options that do not go together or are missing: said on stderr, exit 2 as argparse's own usage errors."""
    print(f"edge provision: {message}", file=sys.stderr)
    return SystemExit(2)


def _report(outcome: Outcome) -> None:
    print(f"provisioned {outcome.device_id} in building {outcome.building_id}: {outcome.config_path}")
    if outcome.replaced:
        print("the previous configuration is kept beside it (.previous); restart the gateway to use the new one:\n"
              "  sudo systemctl restart edge-gateway")
    else:
        print("the gateway was waiting for it and starts by itself in a few seconds")
    print("then check everything with: sudo edge doctor")
