"""edge doctor: on a simulated building with a real central-server stand-in (HTTP on 127.0.0.1), and its parts."""

from __future__ import annotations

import gzip
import json
import os
import pwd
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_config
from edge.doctor import (
    Account,
    CheckResult,
    ClockState,
    DoctorContext,
    LiveHealth,
    Status,
    check_ble,
    check_database,
    check_disk,
    check_gateway,
    clock_result,
    exit_status,
    kernel_clock_state,
    render,
    run_checks,
    synchronised,
    upstream_result,
)
from edge.events import NewEvent
from tests.conftest import REPO, Gateway, base_config, run_as_another_account, to_toml

UPSTREAM_TOKEN = "central-issued-token-0123456789"


class Central(BaseHTTPRequestHandler):
    """The central server's batch endpoint: 202 for the right bearer token, 401 otherwise."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        ok = self.headers.get("Authorization") == f"Bearer {UPSTREAM_TOKEN}"
        self.send_response(202 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def central() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Central)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def building(tmp_path_factory: pytest.TempPathFactory, central: str) -> Iterator[Gateway]:
    """A simulated building, running, with an [upstream] pointing at the stand-in central server."""
    folder = tmp_path_factory.mktemp("building")
    doc = base_config(folder, simulate={"enabled": True, "speed": 20},
                      upstream={"url": central, "token": UPSTREAM_TOKEN})
    path = folder / "edge.toml"
    path.write_text(to_toml(doc))
    gw = Gateway(path, doc).start()
    yield gw
    gw.stop()


def doctor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    me = pwd.getpwuid(os.geteuid()).pw_name
    return subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(config), "--user", me, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def line(out: str, check: str) -> str:
    found = [ln for ln in out.splitlines() if ln.split()[1:2] == [check]]
    assert found, out
    return found[0]


def test_doctor_passes_on_the_simulated_building(building: Gateway) -> None:
    Central.seen.clear()
    proc = doctor(building.config_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("config", "disk", "database", "gateway", "upstream"):
        assert line(proc.stdout, check).split()[0] == "PASS", proc.stdout
    assert line(proc.stdout, "clock").split()[0] in ("PASS", "WARN")  # the CI machine may not run NTP
    assert "events" in line(proc.stdout, "database") and "writable" in line(proc.stdout, "database")
    ble = line(proc.stdout, "ble")  # simulated bands through bleak's backend seam
    assert ble.split()[0] in ("PASS", "WARN") and "adapter scanning" in ble, proc.stdout
    (probe,) = [p for p in Central.seen if p["headers"]["Idempotency-Key"] == "t-gw1:0-0"]  # not the gateway's push
    assert probe["path"] == "/api/v1/batches"
    assert probe["headers"]["Idempotency-Key"] == "t-gw1:0-0"
    assert probe["headers"]["Content-Encoding"] == "gzip" and gzip.decompress(probe["body"]) == b""


def test_doctor_fails_when_the_upstream_refuses_the_token(building: Gateway, tmp_path: Path) -> None:
    doc = dict(building.doc, upstream={**building.doc["upstream"], "token": "a-revoked-token-9876543210"})
    config = tmp_path / "edge.toml"
    config.write_text(to_toml(doc))
    proc = doctor(config)
    assert proc.returncode == 1
    refused = line(proc.stdout, "upstream")
    assert refused.split()[0] == "FAIL" and "refused the token (HTTP 401)" in refused
    assert "-> get a new enrolment token" in proc.stdout
    assert "a-revoked-token" not in proc.stdout


def test_doctor_fails_when_the_database_is_unwritable(building: Gateway) -> None:
    if os.geteuid() == 0:  # root writes anywhere: check as an account that cannot, as the service would run
        proc = subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(building.config_path),
                               "--user", "nobody"], cwd=REPO, capture_output=True, text=True, timeout=60)
        who = "nobody"
    else:
        folder = building.db.parent
        modes = {p: p.stat().st_mode for p in (folder, *folder.glob("edge.db*"))}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            proc = doctor(building.config_path)
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        who = pwd.getpwuid(os.geteuid()).pw_name
    assert proc.returncode == 1, proc.stdout
    failed = line(proc.stdout, "database")
    assert failed.startswith("  FAIL") and f"{who} cannot" in failed and str(building.db) in failed
    assert "-> let the gateway's account own it: sudo chown -R" in proc.stdout


def test_doctor_without_a_config_says_so(tmp_path: Path) -> None:
    proc = doctor(tmp_path / "missing.toml", "--json")
    assert proc.returncode == 1
    results = [json.loads(ln) for ln in proc.stdout.splitlines()]
    (config,) = [r for r in results if r["check"] == "config"]
    # an unprovisioned gateway is not a broken file to fix: say so, and how to provision it
    assert config["status"] == "fail" and config["detail"].startswith("not provisioned: there is no ")
    assert "sudo edge provision --device-id" in config["action"] and "edge config check" not in config["action"]
    assert {r["check"] for r in results} <= {"config", "clock"}  # the rest needs a configuration


def test_doctor_without_permission_to_read_the_config_says_sudo(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """edge.toml is 0640 root:edge: run by another account, the doctor cannot read it (root always could, so the
    refusal is made here)."""
    config = tmp_path / "edge.toml"
    config.write_text(to_toml(base_config(tmp_path)))
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kw: Any) -> Any:
        if self == config:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kw)

    monkeypatch.setattr(Path, "open", refusing_open)
    results = run_checks(DoctorContext.load(config, account=Account.default()))
    (result,) = [r for r in results if r.check == "config"]
    assert result.status is Status.FAIL and "not readable" in result.detail
    assert result.action == "run it with sudo: sudo edge doctor"


# ---- the parts ------------------------------------------------------------------------------------------------

def test_clock_results() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert clock_result(datetime(1970, 1, 1, tzinfo=UTC), ClockState(False)).status is Status.FAIL
    assert clock_result(now, ClockState(False)).status is Status.WARN
    assert clock_result(now, ClockState(None)).status is Status.WARN
    synced = clock_result(now, ClockState(True, 0.012))
    assert synced.status is Status.PASS and "max error 12 ms" in synced.detail


def test_kernel_clock_state_answers() -> None:
    assert isinstance(kernel_clock_state().synchronised, bool)


def test_the_clock_is_synchronised_by_systemds_rule_not_by_the_unsync_flag() -> None:
    """As timedatectl: the kernel's maxerror under 16 s (chrony without rtcsync keeps STA_UNSYNC set, and
    adjtimex answers TIME_ERROR although the clock is synchronised); 16 s is the kernel's value before any NTP."""
    assert synchronised(250_000) and synchronised(15_999_999)
    assert not synchronised(16_000_000)


@pytest.mark.parametrize(("code", "status"), [(202, Status.PASS), (409, Status.PASS), (401, Status.FAIL),
                                              (403, Status.FAIL), (429, Status.WARN), (503, Status.WARN),
                                              (404, Status.WARN)])
def test_upstream_answers(code: int, status: Status) -> None:
    assert upstream_result("https://c.example/api", code, 12.0).status is status


def ctx_for(tmp_path: Path, **sections: Any) -> DoctorContext:
    config = parse_config(base_config(tmp_path, **sections), "test", environ={})
    return DoctorContext(tmp_path / "edge.toml", config, [], Account.default())


def test_disk_warns_when_the_bound_does_not_fit(tmp_path: Path) -> None:
    (result,) = check_disk(ctx_for(tmp_path, storage={"max_mb": 1_000_000}))
    assert result.status is Status.WARN and "lower storage.max_mb" in result.action
    (result,) = check_disk(ctx_for(tmp_path, storage={"max_mb": 1}))
    assert result.status is Status.PASS


def test_gateway_line_names_a_failing_subsystem(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    ctx.live = LiveHealth("http://127.0.0.1:1/healthz", 503, {
        "status": "degraded", "device_id": "t-gw1", "version": "0.1.0", "uptime_s": 30,
        "subsystems": {"store": {"ok": True}, "sync": {"ok": False, "last_error": "disk I/O error"}}})
    (result,) = check_gateway(ctx)
    assert result.status is Status.FAIL and result.check == "sync" and "disk I/O error" in result.detail
    ctx.live = LiveHealth("http://127.0.0.1:1/healthz", error="[Errno 111] Connection refused")
    (result,) = check_gateway(ctx)
    assert result.status is Status.FAIL and "systemctl start edge-gateway" in result.action


def test_ble_line_when_the_adapter_is_not_scanning(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, ble={"enabled": True})
    ctx.live = LiveHealth("u", 503, {"status": "degraded", "device_id": "t-gw1", "subsystems": {
        "ble": {"ok": False, "scanner": "unavailable", "error": "No Bluetooth adapters found."}}})
    (result,) = check_ble(ctx)
    assert result.status is Status.FAIL and "No Bluetooth adapters found" in result.detail
    assert "rfkill" in result.action
    assert [r.check for r in check_gateway(ctx)] == ["gateway"]  # not repeated by the gateway line


def test_ble_line_names_the_registered_bands_not_heard(tmp_path: Path, store, clock) -> None:
    bands = [{"band": "0a0b0c01", "flat": "1-101"}, {"band": "0a0b0c02", "flat": "1-102"}]
    ctx = ctx_for(tmp_path, ble={"enabled": True, "wristbands": bands})
    ctx.clock = clock
    ctx.live = LiveHealth("u", 200, {"status": "ok", "device_id": "t-gw1", "subsystems": {
        "ble": {"ok": True, "mode": "passive", "advertisements": 40, "readings": 40, "bands": 2}}})
    store.append([NewEvent("wristband.seen", "band-0a0b0c01", {"rssi": -60, "battery_pct": 80})])
    (result,) = check_ble(ctx)
    assert result.status is Status.WARN and "1 of 2 registered wristbands heard" in result.detail
    assert "not heard: 1-102 (0a0b0c02)" in result.detail
    store.append([NewEvent("wristband.seen", "band-0a0b0c02", {"rssi": -70, "battery_pct": 60})])
    (result,) = check_ble(ctx)
    assert result.status is Status.PASS


def test_a_crashing_check_is_a_failed_line_and_the_rest_still_run(tmp_path: Path) -> None:
    def check_broken(ctx: DoctorContext) -> list[CheckResult]:
        raise RuntimeError("boom")

    def check_fine(ctx: DoctorContext) -> list[CheckResult]:
        return [CheckResult("fine", Status.WARN, "all right", "nothing")]

    results = run_checks(ctx_for(tmp_path), (check_broken, check_fine))
    assert [(r.check, r.status) for r in results] == [("broken", Status.FAIL), ("fine", Status.WARN)]
    assert exit_status(results) == 1 and exit_status(results[1:]) == 0
    table = render(results, "edge doctor")
    assert "FAIL  broken" in table and "-> nothing" in table and table.endswith("0 pass, 1 warn, 1 fail")


@pytest.mark.parametrize("host", ["::1", "::"])
def test_the_gateway_is_asked_on_an_ipv6_api_host(tmp_path: Path, host: str, gateway_on_ipv6_loopback: int) -> None:
    """api.host = "::1" or "::": /healthz at http://[::1]:PORT/ (http://::1:PORT/ is no URL)."""
    port = gateway_on_ipv6_loopback
    config = tmp_path / "edge.toml"
    config.write_text(to_toml(base_config(tmp_path, api={"host": host, "port": port})))
    live = DoctorContext.load(config, account=Account.default(), timeout=5).live
    assert (live.url, live.status_code) == (f"http://[::1]:{port}/healthz", 200), live.error


def test_a_damaged_database_is_not_a_matter_of_owners(tmp_path: Path) -> None:
    """Not a database at all (or damaged): the gateway moves it aside when it starts; chown would not help."""
    ctx = ctx_for(tmp_path)
    ctx.config.storage.path.write_bytes(b"not a database, but the size of a page header" * 100)  # type: ignore[union-attr]
    (result,) = check_database(ctx)
    assert result.status is Status.FAIL and "edge.db is damaged: file is not a database" in result.detail
    assert result.action.startswith("restart the gateway: it moves a damaged database aside (kept as edge.db.corrupt-")
    assert "chown" not in result.action


def test_another_program_on_the_gateways_port_is_named(tmp_path: Path) -> None:
    """Something else answers on api.port (a web server on 8080): `systemctl start` would not help."""
    from http.server import SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx = ctx_for(tmp_path, api={"port": server.server_port})
        (result,) = check_gateway(ctx)
    finally:
        server.shutdown()
        server.server_close()
    assert result.status is Status.FAIL and result.detail.startswith("another program answers at http://127.0.0.1:")
    assert "(HTTP 404, not the gateway's report)" in result.detail
    assert result.action.startswith(f"find it: sudo ss -ltnp 'sport = :{server.server_port}'")


def test_a_database_folder_closed_to_this_account_asks_for_sudo() -> None:
    """edge.toml readable (made by hand, 0644) but /var/lib/edge-gateway 0750 edge: run as another account, the
    doctor says to use sudo, not a traceback."""
    proc = run_as_another_account("doctor", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    (result,) = [json.loads(ln) for ln in proc.stdout.splitlines() if json.loads(ln)["check"] == "config"]
    assert result["status"] == "fail" and "not readable by this account" in result["detail"]
    assert result["action"] == "run it with sudo: sudo edge doctor"
