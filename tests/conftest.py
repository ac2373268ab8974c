"""Shared fixtures: stores on real SQLite files, configs on disk, and `edge run` as a real subprocess."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from gpiozero.pins.mock import MockFactory

from edge.clock import FakeClock
from edge.store import EventStore

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # inline table, e.g. an item of [gpio] bins
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for test configs (tables and scalars/arrays are all the configs use)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            name = f"{prefix}{k}"
            if any(not isinstance(x, dict) for x in v.values()) or not v:
                lines.append(f"\n[{name}]")
            lines.append(to_toml(v, name + "."))
    return "\n".join(lines)


def base_config(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "device_id": "t-gw1",
        "building_id": "b01",
        "storage": {"path": str(tmp_path / "edge.db"), "max_mb": 64},
        "api": {"host": "127.0.0.1", "port": free_port(), "token": TOKEN},
    }
    for name, value in sections.items():
        doc[name] = {**doc.get(name, {}), **value} if isinstance(value, dict) else value
    return doc


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    """gpiozero's MockFactory, fresh for each test and reset after it (passed as pin_factory=, never set globally)."""
    factory = MockFactory()
    yield factory
    factory.close()
    factory.reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[EventStore]:
    s = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01", clock=clock)
    yield s
    s.close()


class Gateway:
    """`edge run` in a subprocess with its own config, database and port."""

    def __init__(self, config_path: Path, doc: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.config_path, self.doc = config_path, doc
        self.url = f"http://127.0.0.1:{doc['api']['port']}"
        self.token = doc["api"]["token"]
        self.db = Path(doc["storage"]["path"])
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config_path.parent / "gateway.log"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, timeout: float = 30.0) -> Gateway:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(self.config_path)],
                stdout=log, stderr=log, env=self.env, cwd=REPO,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"edge run exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return self
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting up under load
                time.sleep(0.05)
        raise TimeoutError(f"edge run did not answer in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def post(self, events: Any, **kw: Any) -> requests.Response:
        return requests.post(self.url + "/api/v1/events", json=events, headers=self.auth, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, headers=self.auth, timeout=10, **kw)


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(env: dict[str, str] | None = None, **sections: Any) -> Gateway:
        doc = base_config(tmp_path, **sections)
        path = tmp_path / "edge.toml"
        path.write_text(to_toml(doc))
        gw = Gateway(path, doc, env)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    """A running gateway without simulation: only what the tests post."""
    return make_gateway().start()


def run_as_another_account(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m edge *args` with --config naming an edge.toml readable by all (0644, as made by hand) whose storage
    folder belongs to another account (0700, as /var/lib/edge-gateway is the gateway's). As root the command runs
    without the capabilities that let root into any folder (setpriv): a real other account could not even read a
    checkout in a 0700 folder, as a clean clone in `mktemp -d` is. Otherwise the folder is closed to us."""
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # outside pytest's 0700 folders
        root = Path(folder)
        root.chmod(0o755)
        data = root / "data"
        data.mkdir(mode=0o700)
        config = root / "edge.toml"
        config.write_text(to_toml(base_config(data)))
        config.chmod(0o644)
        if os.geteuid() == 0:
            os.chown(data, 65534, 65534)  # nobody's
            cmd = [need_tool("setpriv", "util-linux"), "--bounding-set=-dac_override,-dac_read_search"]
        else:
            data.chmod(0)
            cmd = []
        try:
            return subprocess.run([*cmd, sys.executable, "-m", "edge", *args, "--config", str(config)],
                                  cwd=REPO, capture_output=True, text=True, timeout=60)
        finally:
            data.chmod(0o700)


def need_tool(command: str, package: str) -> str:
    """The path of a Debian tool a test needs. CI installs it (tests/system-deps.sh), so there its absence is a
    failure; elsewhere the test is skipped saying what to install."""
    import shutil

    path = shutil.which(command)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{command} is missing although tests/system-deps.sh installs it in CI (package {package})")
    pytest.skip(f"needs {command}: apt-get install {package} (or run `make test` as root)")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a disk that fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Any]:
    """A filesystem that can lose power (tests/powercut.py), with a folder `data` made durable on it."""
    need_tool("fusermount3", "fuse3")
    if not os.path.exists("/dev/fuse"):
        pytest.fail("no /dev/fuse: this machine cannot run FUSE filesystems, so the power-cut tests cannot run")
    from edge.files import fsync_dir
    from tests.powercut import PowerCutMount

    mount = PowerCutMount(tmp_path / "disk")
    (mount.where / "data").mkdir()
    fsync_dir(mount.where)
    yield mount
    mount.unmount()


@pytest.fixture(scope="session")
def edge_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel of this source tree, built once (offline, with the test environment's setuptools)."""
    import shutil

    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("edge", "sensors", "vision", "sync"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(work / "dist"), str(src)], check=True)
    (wheel,) = (work / "dist").glob("edge_gateway-*.whl")
    return wheel


def run_command(commands: ModuleType, argv: list[str]) -> tuple[int, list[str]]:
    """Run an `edge` subcommand of edge/commands/<module> in-process: its exit status and the lines it printed."""
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser(prog="edge")
    commands.register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(argv)
    out = io.StringIO()
    status = args.func(args, out)
    return status, out.getvalue().splitlines()


class _V6Healthz(BaseHTTPRequestHandler):
    """/healthz of a gateway at 0.2.0, all well."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"status": "ok", "version": "0.2.0", "subsystems": {}}).encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway_on_ipv6_loopback() -> Iterator[int]:
    """The port of a stand-in gateway answering /healthz on [::1]."""
    import socket
    import threading
    from http.server import ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = Server(("::1", 0), _V6Healthz)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
