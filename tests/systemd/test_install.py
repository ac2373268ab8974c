"""systemd/install.sh: the layout it makes, and a second run that changes nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edge import __version__
from tests.systemd.conftest import run_install

UNITS = ("edge-gateway.service", "edge-provision.service", "edge-kiosk.service")


def manifest(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, mode, size, modification time and link target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                              os.readlink(p) if p.is_symlink() else None)
    return out


def test_install_twice_into_destdir_changes_nothing(installed: Path, edge_wheel: Path) -> None:
    before = manifest(installed)
    proc = run_install(installed, edge_wheel)
    assert proc.returncode == 0, proc.stderr
    assert "nothing changed" in proc.stdout
    after = manifest(installed)
    assert after == before


def test_release_with_current_link_and_edge_on_the_path(installed: Path) -> None:
    opt = installed / "opt/edge-gateway"
    assert os.readlink(opt / "current") == f"releases/{__version__}"  # relative: valid inside DESTDIR and on /
    python = opt / "current/bin/python"
    out = subprocess.run([str(python), "-c", "import edge; print(edge.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == __version__, out.stderr
    assert os.access(opt / "current/bin/edge", os.X_OK)
    assert os.readlink(installed / "usr/local/bin/edge") == "/opt/edge-gateway/current/bin/edge"


def test_units_installed_and_enabled(installed: Path) -> None:
    for unit in UNITS:
        src = Path(__file__).resolve().parents[2] / "systemd" / unit
        dst = installed / "usr/local/lib/systemd/system" / unit
        assert dst.read_text() == src.read_text()
        wants = installed / "etc/systemd/system/multi-user.target.wants" / unit
        assert os.readlink(wants) == f"/usr/local/lib/systemd/system/{unit}"
    for path in ("usr/local/lib/sysusers.d/edge-gateway.conf", "usr/local/lib/tmpfiles.d/edge-gateway.conf",
                 "etc/pam.d/edge-kiosk", "usr/local/share/edge-gateway/edge-gateway.toml.sample"):
        assert (installed / path).is_file(), path
    assert os.access(installed / "usr/local/lib/edge-gateway/kiosk", os.X_OK)


def test_debian_packages_asked_for_are_the_missing_ones(tmp_path: Path, installed: Path, edge_wheel: Path) -> None:
    """APT_GET is injectable: a recorder stands in for apt-get; every package is installed or asked for."""
    log = tmp_path / "apt.log"
    recorder = tmp_path / "apt-get"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    recorder.chmod(0o755)
    proc = run_install(installed, edge_wheel, APT_GET=str(recorder), SYSTEMCTL=":")
    assert proc.returncode == 0, proc.stderr
    asked = log.read_text().split() if log.exists() else []
    if asked:
        assert asked[:3] == ["install", "-y", "--no-install-recommends"]
    for package in ("python3-venv", "bluez", "fonts-noto-cjk", "cage"):
        assert package in asked or _installed(package), package
    assert {"chromium", "chromium-browser"} & set(asked) or _installed("chromium") or _installed("chromium-browser")


def _installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "ok installed" in out.stdout


def test_install_refuses_a_wheel_it_cannot_name(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.whl"
    bad.write_bytes(b"")
    proc = run_install(tmp_path / "root", bad)
    assert proc.returncode == 2
    assert "cannot tell the version" in proc.stderr
