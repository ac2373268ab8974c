"""Before provisioning: the "not provisioned" screen, and `edge run --wait-for-provisioning` going on by itself
once the configuration appears."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from edge.provision import LAST_ERROR
from edge.unprovisioned import create_app
from tests.conftest import REPO, base_config, free_port, to_toml


@pytest.fixture
def serve() -> Iterator:
    """Serve an app over real HTTP on 127.0.0.1 in a thread; yields a function app -> base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        while not server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def test_screen_shows_the_serial_and_how_to_provision(tmp_path: Path, serve) -> None:
    url = serve(create_app(tmp_path / "edge.toml", serial="10000000abcdef01", model="Raspberry Pi 5"))
    page = requests.get(url + "/", timeout=5)
    assert page.status_code == 200
    assert "Not provisioned" in page.text and "10000000abcdef01" in page.text and "Raspberry Pi 5" in page.text
    assert "edge provision --device-id" in page.text
    health = requests.get(url + "/healthz", timeout=5)
    assert health.status_code == 503
    assert health.json()["status"] == "unprovisioned" and health.json()["serial"] == "10000000abcdef01"
    assert requests.head(url + "/healthz", timeout=5).status_code == 503  # monitoring tools probe with HEAD


def test_screen_shows_why_a_provisioning_file_was_refused(tmp_path: Path, serve) -> None:
    (tmp_path / LAST_ERROR).write_text("edge-gateway.toml: key device_id: found 'B<7>'; allowed: ...\n")
    page = requests.get(serve(create_app(tmp_path / "edge.toml", serial=None, model=None)) + "/", timeout=5).text
    assert "Last provisioning was refused" in page and "found &#x27;B&lt;7&gt;&#x27;" in page
    assert "unknown" in page  # no serial off a Pi


def _wait_for(url: str, status: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"edge run exited {proc.returncode}"
        try:
            r = requests.get(url, timeout=1)
            if r.status_code == status:
                return r
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def _statuses_until(notify: socket.socket, prefix: str, timeout: float = 20) -> list[str]:
    """The STATUS= lines sent to the notify socket, in order, until one starts with `prefix` (or the time is up)."""
    deadline = time.monotonic() + timeout
    out: list[str] = []
    while time.monotonic() < deadline and not (out and out[-1].startswith(prefix)):
        with contextlib.suppress(TimeoutError):
            message = notify.recv(4096).decode()
            if message.startswith("STATUS="):
                out.append(message)
    return out


def test_run_waits_then_starts_when_the_config_appears(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "edge.toml"
    port = free_port()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config), "--wait-for-provisioning",
                             "--unprovisioned-listen", f"127.0.0.1:{port}"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        waiting = _wait_for(f"http://127.0.0.1:{port}/healthz", 503, proc)
        assert waiting.json()["status"] == "unprovisioned"
        messages = {notify.recv(4096).decode() for _ in range(3)}
        assert "READY=1" in messages and "WATCHDOG=1" in messages  # systemd sees it up while it waits
        (waiting_status,) = [m for m in messages if m.startswith("STATUS=")]
        assert waiting_status.startswith("STATUS=not provisioned (serial unknown)")  # not "serial None" off a Pi

        doc = base_config(tmp_path)
        config.parent.mkdir()
        config.write_text(to_toml(doc))
        running = _wait_for(f"http://127.0.0.1:{doc['api']['port']}/healthz", 200, proc)
        assert running.json()["device_id"] == "t-gw1"
        # systemctl status shows the last STATUS=: no longer "not provisioned"
        statuses = _statuses_until(notify, "STATUS=running")
        assert statuses[-1:] == [f"STATUS=running: t-gw1, API on 127.0.0.1:{doc['api']['port']}"], statuses
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()
        notify.close()


def test_run_stopped_while_waiting_exits_0(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "none.toml"),
                             "--wait-for-provisioning", "--unprovisioned-listen", f"127.0.0.1:{port}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", 200, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()


def test_run_without_the_flag_still_refuses_a_missing_config(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "none.toml")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "file not found" in proc.stderr
