"""edge update: a real release built from a real wheel; the restart and /healthz probe are passed in, so a new
release that never becomes healthy can be watched being rolled back."""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import __version__
from edge.clock import FakeClock
from edge.errors import UpdateError
from edge.files import fsync_dir
from edge.update import (
    MARKER,
    Layout,
    Snapshot,
    build_release,
    healthz_url,
    http_probe,
    is_healthy,
    release_version,
    switch,
    update,
    wheel_version,
)
from tests.conftest import Gateway, base_config, to_toml

OFFLINE = functools.partial(build_release, pip_args=["--no-deps", "--no-index"])  # tests have no package index


def old_release(layout: Layout, version: str = "0.0.9") -> None:
    """The release running before the update (its content is not run here: the restart is a stand-in)."""
    (layout.releases / version / "bin").mkdir(parents=True)
    switch(layout, version)


class Service:
    """Stands in for systemd: records restarts; /healthz answers (with its version) for whichever release `current`
    points to, healthy only for the releases in `healthy` (after `delay` probes), else failing `failing`."""

    def __init__(self, layout: Layout, healthy: set[str], delay: int = 0,
                 failing: frozenset[str] = frozenset({"api"})) -> None:
        self.layout, self.healthy, self.delay, self.failing = layout, healthy, delay, failing
        self.restarts: list[str | None] = []
        self.probes = 0

    def restart(self) -> None:
        self.restarts.append(self.layout.current_version())
        self.probes = 0

    def probe(self) -> Snapshot | None:
        self.probes += 1
        running = self.restarts[-1] if self.restarts else self.layout.current_version()
        if running is None or self.probes <= self.delay:
            return None
        ok = running in self.healthy
        return Snapshot(release_version(running), "ok" if ok else "degraded", frozenset() if ok else self.failing)


def run_update(layout: Layout, wheel: Path, service: Service, **kw) -> object:
    clock = FakeClock()
    return update(layout, wheel, restart=service.restart, probe=service.probe, timeout=30, clock=clock,
                  sleep=clock.advance, **kw)


def run_edge(release: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The release's own bin/edge, through its shebang as systemd starts it (built --no-deps: the dependencies
    come from the test environment, whose editable `edge` is not importable from a PYTHONPATH entry)."""
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return subprocess.run([str(release / "bin/edge"), *args], capture_output=True, text=True, env=env, timeout=60)


def test_release_that_never_becomes_healthy_is_rolled_back(tmp_path: Path, edge_wheel: Path) -> None:
    layout = Layout(tmp_path / "opt")
    old_release(layout)
    leftover = layout.releases / __version__ / "bin"  # an earlier build cut short: no marker
    leftover.mkdir(parents=True)
    (leftover / "stale").write_text("")
    service = Service(layout, healthy={"0.0.9"})
    result = run_update(layout, edge_wheel, service, build=OFFLINE)
    assert (result.ok, result.rolled_back, result.previous) == (False, True, "0.0.9")
    assert "did not become healthy in 30 s; rolled back to 0.0.9" in result.message
    assert service.restarts == [__version__, "0.0.9"]
    assert os.readlink(layout.current) == "releases/0.0.9"
    built = layout.releases / __version__ / "bin/python"  # the new release stays, for a look at what went wrong
    out = subprocess.run([str(built), "-c", "import edge; print(edge.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == __version__
    assert not (leftover / "stale").exists()  # removed, and the release built again in its place
    assert (layout.releases / __version__ / MARKER).read_text().startswith("sha256:")
    # its scripts start where the release is (pip wrote that path into them): the unit runs current/bin/edge
    switch(layout, __version__)
    out = run_edge(layout.current, "--version")
    assert (out.returncode, out.stdout.strip()) == (0, f"edge-gateway {__version__}"), out.stderr


def test_force_with_another_wheel_of_the_running_version_keeps_it_until_the_new_one_is_healthy(
        tmp_path: Path, edge_wheel: Path) -> None:
    layout = Layout(tmp_path / "opt")
    OFFLINE(layout, edge_wheel, __version__)
    switch(layout, __version__)
    other = tmp_path / "other" / edge_wheel.name
    other.parent.mkdir()
    other.write_bytes(edge_wheel.read_bytes() + b"\0")  # the same zip with a trailing byte: another build
    service = Service(layout, healthy={__version__})  # the running build is healthy, the new one is not
    result = run_update(layout, other, service, build=OFFLINE, force=True)
    beside = service.restarts[0]
    assert beside is not None and beside.startswith(f"{__version__}-")
    assert (result.ok, result.rolled_back, result.previous) == (False, True, __version__)
    assert service.restarts == [beside, __version__]
    assert os.readlink(layout.current) == f"releases/{__version__}"
    assert run_edge(layout.current, "--version").returncode == 0  # the running release was never removed
    assert run_edge(layout.releases / beside, "--version").returncode == 0


def test_a_rollback_is_judged_against_the_state_before_the_update(tmp_path: Path) -> None:
    """A camera unplugged before the update: the old release, back again, is as healthy as it was."""
    layout = Layout(tmp_path / "opt")
    old_release(layout)
    service = Service(layout, healthy=set(), failing=frozenset({"camera_gate"}))
    new = wheel_named(tmp_path, "0.2.0")
    clock = FakeClock()

    def probe() -> Snapshot | None:  # the new release fails more than the camera; the old one only the camera
        now = service.probe()
        if now is not None and now.version == "0.2.0":
            return Snapshot("0.2.0", "degraded", frozenset({"camera_gate", "ble"}))
        return now

    result = update(layout, new, restart=service.restart, probe=probe, timeout=10, clock=clock, sleep=clock.advance,
                    build=fake_build)
    assert result.rolled_back and service.restarts == ["0.2.0", "0.0.9"]
    assert result.message == "0.2.0 did not become healthy in 10 s; rolled back to 0.0.9"


def fake_build(layout: Layout, wheel: Path, version: str) -> Path:
    """For the switching logic only (the real build is exercised above)."""
    (layout.releases / version / "bin").mkdir(parents=True, exist_ok=True)
    return layout.releases / version


def wheel_named(tmp_path: Path, version: str) -> Path:
    wheel = tmp_path / f"edge_gateway-{version}-py3-none-any.whl"
    wheel.write_bytes(b"")
    return wheel


def test_healthy_release_stays_and_old_releases_are_pruned(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    for age, v in enumerate(("0.0.8", "0.0.7", "0.0.6")):  # 0.0.6 oldest
        old_release(layout, v)
        os.utime(layout.releases / v, (1e9 - age * 3600, 1e9 - age * 3600))
    switch(layout, "0.0.8")
    service = Service(layout, healthy={"0.0.8", "0.1.1"}, delay=3)  # comes up after a few probes
    result = run_update(layout, wheel_named(tmp_path, "0.1.1"), service, build=fake_build, keep=2)
    assert (result.ok, result.rolled_back) == (True, False)
    assert os.readlink(layout.current) == "releases/0.1.1" and service.restarts == ["0.1.1"]
    assert sorted(p.name for p in layout.releases.iterdir()) == ["0.0.8", "0.1.1"]  # the rollback target stays


def test_a_failing_restart_is_rolled_back(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    old_release(layout)
    service = Service(layout, healthy={"0.0.9"})

    def restart() -> None:  # systemctl fails when the new release cannot start
        service.restart()
        if layout.current_version() == "0.2.0":
            raise subprocess.CalledProcessError(1, ["systemctl", "restart", "edge-gateway.service"])

    clock = FakeClock()
    result = update(layout, wheel_named(tmp_path, "0.2.0"), restart=restart, probe=service.probe, timeout=10,
                    clock=clock, sleep=clock.advance, build=fake_build)
    assert result.rolled_back and os.readlink(layout.current) == "releases/0.0.9"
    assert service.restarts == ["0.2.0", "0.0.9"]


def test_same_version_needs_force(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "opt")
    old_release(layout, "0.2.0")
    service = Service(layout, healthy={"0.2.0"})
    with pytest.raises(UpdateError, match="already the current release"):
        run_update(layout, wheel_named(tmp_path, "0.2.0"), service, build=fake_build)
    assert run_update(layout, wheel_named(tmp_path, "0.2.0"), service, build=fake_build, force=True).ok


@pytest.mark.parametrize(("name", "version"), [("edge_gateway-0.2.0-py3-none-any.whl", "0.2.0"),
                                               ("edge_gateway-1.0.0rc1-1-py3-none-any.whl", "1.0.0rc1")])
def test_wheel_version(name: str, version: str) -> None:
    assert wheel_version(Path(name)) == version


@pytest.mark.parametrize("name", ["edge-gateway.whl", "other_pkg-0.2.0-py3-none-any.whl", "edge_gateway-0.2.0.tar.gz"])
def test_not_an_edge_gateway_wheel(name: str) -> None:
    with pytest.raises(UpdateError, match="not an edge-gateway wheel"):
        wheel_version(Path(name))


def snap(version: str, *failing: str) -> Snapshot:
    return Snapshot(version, "degraded" if failing else "ok", frozenset(failing))


def test_healthy_means_nothing_new_is_failing() -> None:
    assert is_healthy(snap("0.2.0"), "0.2.0", None)
    assert not is_healthy(snap("0.1.0"), "0.2.0", snap("0.1.0"))  # the old process still answering
    assert not is_healthy(None, "0.2.0", snap("0.1.0"))
    # a camera that was already unplugged must not make every update roll back
    assert is_healthy(snap("0.2.0", "camera_gate"), "0.2.0", snap("0.1.0", "camera_gate"))
    assert not is_healthy(snap("0.2.0", "camera_gate", "ble"), "0.2.0", snap("0.1.0", "camera_gate"))
    assert not is_healthy(snap("0.2.0", "ble"), "0.2.0", None)
    assert is_healthy(Snapshot("0.2.0", "unprovisioned", frozenset()), "0.2.0", None)


def test_http_probe_reads_a_running_gateway(gateway: Gateway) -> None:
    probe: Callable[[], Snapshot | None] = http_probe(gateway.url + "/healthz")
    assert probe() == Snapshot(__version__, "ok", frozenset())
    assert http_probe("http://127.0.0.1:1/healthz")() is None


def test_cli_names_a_missing_wheel(tmp_path: Path) -> None:
    from edge.cli import main

    with pytest.raises(SystemExit, match="no such file"):
        main(["update", str(tmp_path / "edge_gateway-9.9.9-py3-none-any.whl"), "--root", str(tmp_path)])


def test_a_switch_survives_a_power_cut_and_syncs_the_release_first(disk, monkeypatch) -> None:
    layout = Layout(disk.where / "data" / "opt")
    for version in ("0.0.9", "0.1.0"):
        (layout.releases / version / "bin").mkdir(parents=True)
    for folder in (layout.root.parent, layout.root, layout.releases, *layout.releases.iterdir()):
        fsync_dir(folder)  # as sync(2) would have (FUSE filesystems are not told of it)
    synced_before = []
    real_sync = os.sync
    monkeypatch.setattr(os, "sync", lambda: (synced_before.append(layout.current_version()), real_sync()))
    for version in ("0.0.9", "0.1.0"):
        switch(layout, version)
        disk.cut()
        assert os.readlink(layout.current) == f"releases/{version}"
    assert synced_before == [None, "0.0.9"]  # the release's files synced while `current` still pointed elsewhere


def test_each_restart_forgets_the_start_limit_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that crash-loops reaches StartLimitBurst in seconds, and systemd then refuses `restart` (the
    rollback's too) until `reset-failed`. A stand-in systemctl on the PATH behaves so and records its calls."""
    from edge.update import systemctl_restart

    log, failed = tmp_path / "calls", tmp_path / "start-limit-hit"
    failed.write_text("")  # the new release has just crash-looped
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case $1 in
  reset-failed) rm -f {failed} ;;
  restart) if [ -e {failed} ]; then echo "Start request repeated too quickly." >&2; exit 1; fi ;;
esac
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    systemctl_restart()()
    assert log.read_text().splitlines() == ["reset-failed edge-gateway.service", "restart edge-gateway.service"]


@pytest.mark.parametrize("host", ["::1", "::"])
def test_the_gateway_is_found_on_an_ipv6_api_host(tmp_path: Path, host: str, gateway_on_ipv6_loopback: int) -> None:
    """api.host = "::1" or "::" (every address, IPv6 too): /healthz is asked at http://[::1]:PORT/."""
    from edge.commands.update import _healthz_url

    config = tmp_path / "edge.toml"
    config.write_text(to_toml(base_config(tmp_path, api={"host": host, "port": gateway_on_ipv6_loopback})))
    url = _healthz_url(argparse.Namespace(config=str(config)))
    assert url == f"http://[::1]:{gateway_on_ipv6_loopback}/healthz"
    assert http_probe(url)() == Snapshot("0.2.0", "ok", frozenset())


def test_healthz_url() -> None:
    assert healthz_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/healthz"
    assert healthz_url("192.168.1.5", 80) == "http://192.168.1.5:80/healthz"
    assert healthz_url("fe80::1%eth0", 8080) == "http://[fe80::1%25eth0]:8080/healthz"


def test_unfinished_builds_are_removed_before_the_build_but_never_the_running_release(tmp_path: Path) -> None:
    """<v>.partial folders of older versions and releases without their marker (a build cut short) take room on
    a small SD card: they go before the new release is built. The running release goes nowhere, marker or not."""
    layout = Layout(tmp_path / "opt")
    old_release(layout, "0.0.9")  # running, and made without a marker (by hand, say)
    for name in ("0.0.7.partial", "0.0.8.partial", "0.0.6", "0.0.5"):
        (layout.releases / name / "bin").mkdir(parents=True)
    (layout.releases / "0.0.8.partial" / MARKER).write_text("sha256:ab\n")  # cut short between marker and rename
    (layout.releases / "0.0.5" / MARKER).write_text("sha256:cd\n")  # complete: a release to keep
    seen: list[list[str]] = []

    def build(layout: Layout, wheel: Path, version: str) -> Path:
        seen.append(sorted(p.name for p in layout.releases.iterdir()))
        return fake_build(layout, wheel, version)

    service = Service(layout, healthy={"0.0.9"})  # the new one fails: rolled back, and still cleaned
    result = run_update(layout, wheel_named(tmp_path, "0.1.0"), service, build=build)
    assert result.rolled_back
    assert seen == [["0.0.5", "0.0.9"]]
    assert sorted(p.name for p in layout.releases.iterdir()) == ["0.0.5", "0.0.9", "0.1.0"]
