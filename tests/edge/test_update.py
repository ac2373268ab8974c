"""edge update: a real release built from a real wheel; the restart and /healthz probe are passed in, so a new
release that never becomes healthy can be watched being rolled back."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import __version__
from edge.clock import FakeClock
from edge.errors import UpdateError
from edge.files import fsync_dir
from edge.update import Layout, Snapshot, build_release, http_probe, is_healthy, switch, update, wheel_version
from tests.conftest import Gateway

OFFLINE = functools.partial(build_release, pip_args=["--no-deps", "--no-index"])  # tests have no package index


def old_release(layout: Layout, version: str = "0.0.9") -> None:
    """The release running before the update (its content is not run here: the restart is a stand-in)."""
    (layout.releases / version / "bin").mkdir(parents=True)
    switch(layout, version)


class Service:
    """Stands in for systemd: records restarts; /healthz answers for whichever release `current` points to,
    healthy only for the versions in `healthy` (after `delay` probes)."""

    def __init__(self, layout: Layout, healthy: set[str], delay: int = 0) -> None:
        self.layout, self.healthy, self.delay = layout, healthy, delay
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
        return Snapshot(running, "ok" if ok else "degraded", frozenset() if ok else frozenset({"api"}))


def run_update(layout: Layout, wheel: Path, service: Service, **kw) -> object:
    clock = FakeClock()
    return update(layout, wheel, restart=service.restart, probe=service.probe, timeout=30, clock=clock,
                  sleep=clock.advance, **kw)


def test_release_that_never_becomes_healthy_is_rolled_back(tmp_path: Path, edge_wheel: Path) -> None:
    layout = Layout(tmp_path / "opt")
    old_release(layout)
    service = Service(layout, healthy={"0.0.9"})
    result = run_update(layout, edge_wheel, service, build=OFFLINE)
    assert (result.ok, result.rolled_back, result.previous) == (False, True, "0.0.9")
    assert "did not become healthy in 30 s; rolled back to 0.0.9" in result.message
    assert service.restarts == [__version__, "0.0.9"]
    assert os.readlink(layout.current) == "releases/0.0.9"
    built = layout.releases / __version__ / "bin/python"  # the new release stays, for a look at what went wrong
    out = subprocess.run([str(built), "-c", "import edge; print(edge.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == __version__


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
