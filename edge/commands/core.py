"""edge run, edge demo, edge config check."""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import sys
from pathlib import Path

from edge import logs
from edge.commands import load
from edge.config import Config, load_config, parse_toml, runtime_env
from edge.errors import ConfigError
from edge.memory import tune_malloc

DEMO_DIR = Path(".demo")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="run the gateway (every configured subsystem, the API)",
                       description="Run the gateway in the foreground until SIGTERM. systemd runs this.")
    p.add_argument("--wait-for-provisioning", action="store_true",
                   help="if the configuration file does not exist yet, serve the 'not provisioned' screen (with "
                   "the device serial) until it appears, then run with it")
    p.add_argument("--unprovisioned-listen", metavar="HOST:PORT", default="127.0.0.1:8080", type=_host_port,
                   help="where the 'not provisioned' screen is served (default: %(default)s, the kiosk's page)")
    p.set_defaults(func=cmd_run)

    # no --config: the demo writes and reads its own (under --dir)
    p = sub.add_parser("demo", help="run a simulated building on http://127.0.0.1:8080/",
                       description="Write a demo configuration under --dir (with this run's --port and --speed; its "
                       "token is made once and kept) and run a simulated building: every subsystem on simulated "
                       "hardware, the kiosk on http://127.0.0.1:PORT/.")
    p.add_argument("--dir", type=Path, default=DEMO_DIR, help="where the demo config and database live")
    p.add_argument("--port", type=_port, default=8080,
                   help="the kiosk's and the API's port on 127.0.0.1 (default: %(default)s)")
    p.add_argument("--speed", type=_speed, default=10.0,
                   help="simulated seconds per real second, above 0 and at most 1000 (default: %(default)g)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("config", help="check a configuration file")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", parents=[common], help="validate the file; one line per problem, exit 2 if wrong",
                        description="Validate the configuration file as `edge run` will load it (with "
                        "EDGE_API_TOKEN and EDGE_UPSTREAM_TOKEN, the files it names and the parking space maps). "
                        "Prints 'ok: ...' and exits 0, or one line per problem (file, key, what was found, what is "
                        "allowed) and exits 2.")
    c.set_defaults(func=cmd_config_check)


def cmd_run(args: argparse.Namespace) -> int:
    tune_malloc()  # before the service's threads start
    from edge import main  # the service's imports (FastAPI, uvicorn) only when it runs

    env = runtime_env(getattr(args, "config", None))
    if args.wait_for_provisioning and not env.config_path.exists():
        from edge import unprovisioned

        status = unprovisioned.wait(env, *args.unprovisioned_listen)
        if status is not None:  # stopped (or failed) before it was provisioned
            return status
    config = load(args)
    logs.setup(config.log.level)
    return asyncio.run(main.run(config, runtime_env(getattr(args, "config", None))))


def cmd_demo(args: argparse.Namespace) -> int:
    tune_malloc()
    from edge import main

    path = write_demo_config(args.dir, port=args.port, speed=args.speed)
    try:
        config = load_config(path)
    except ConfigError as e:  # the folder's files (a database path that is a folder ...): said, not a traceback
        for line in e.problems:
            print(line, file=sys.stderr)
        return 2
    logs.setup(config.log.level)
    print(f"simulated building {config.building_id}: kiosk http://127.0.0.1:{config.api.port}/", file=sys.stderr)
    print(f"API token: {config.api.token}   (config: {path})", file=sys.stderr)
    return asyncio.run(main.run(config, runtime_env(str(path))))


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load(args)
    problems = space_map_problems(config, runtime_env(getattr(args, "config", None)).config_path)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"ok: {config.device_id} in building {config.building_id}")
    return 0


def space_map_problems(config: Config, source: Path) -> list[str]:
    """The parking cameras' space maps, checked as the gateway will load them. A map not drawn yet is fine (the
    calibration page makes it); one that exists and is wrong is named here rather than found at run time."""
    from vision.spaces import SpaceMapError, load_space_map

    out = []
    for i, camera in enumerate(config.parking.cameras if config.parking else []):
        if not Path(camera.spaces).exists():
            continue
        try:
            load_space_map(camera.spaces)
        except SpaceMapError as e:
            out += [f"{source}: key parking.cameras.{i}.spaces: {p}" for p in e.problems]
    return out


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and 0 < speed <= 1000):  # [simulate] speed's bounds
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed (a number above 0 and at most 1000)")
    return speed


def write_demo_config(folder: Path, *, port: int, speed: float) -> Path:
    """The demo's configuration, written on every run with this run's port and speed. The token is made once and
    kept, so that it stays the same across runs (a damaged file gets a fresh one)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "edge.toml"
    path.write_text(DEMO_TEMPLATE.format(db=(folder / "edge.db").resolve(), port=port,
                                         token=_demo_token(path) or secrets.token_urlsafe(24), speed=speed))
    return path


def _demo_token(path: Path) -> str | None:
    """The token of an earlier demo's file, if it has a usable one."""
    try:
        token = parse_toml(path.read_text(encoding="utf-8"), str(path)).get("api", {}).get("token")
    except (OSError, UnicodeDecodeError, ConfigError, AttributeError):
        return None
    ok = isinstance(token, str) and len(token) >= 16 and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    return token if ok else None


DEMO_TEMPLATE = """# Demo configuration written by `edge demo`: a simulated building, nothing real attached.
device_id = "demo-gw1"
building_id = "b07"

[storage]
path = "{db}"
max_mb = 256

[api]
host = "127.0.0.1"
port = {port}
token = "{token}"

[simulate]
enabled = true
speed = {speed}

[ble]
# simulated wristbands (registered to demo flats); a band that walks off is reported missing
# after 36 s here instead of the 12 hours of a real building, so the demo shows it in its first minute
missing_after_hours = 0.01
heart_rate_sustained_s = 20

[kiosk]
title = "幸福里社区 7 号楼"
title_en = "Xingfuli Community, Building 7"
[kiosk.places]
"bin-1" = {{ zh = "东侧 厨余垃圾", en = "East, food waste" }}
"bin-2" = {{ zh = "西侧 其他垃圾", en = "West, other waste" }}
A = {{ zh = "地面 A 区", en = "Surface A", arrow = "left" }}
B = {{ zh = "地面 B 区", en = "Surface B", arrow = "ahead-left" }}
west = {{ zh = "西门", en = "West gate" }}
east = {{ zh = "东门", en = "East gate" }}
[[kiosk.notices]]
zh = "这是演示楼栋：数据都是模拟的。"
en = "A demo building: all data is simulated."
"""
