"""systemd/install.sh: the layout it makes, and a second run that changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
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


def run_edge(release: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The release's own `bin/edge`, started as systemd starts it (through its shebang). The wheel was installed
    with --no-deps, so its dependencies come from the test environment (whose own `edge` is an editable install,
    not importable from a PYTHONPATH entry: the release's `edge` is the one run)."""
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return subprocess.run([str(release / "bin/edge"), *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_installed_edge_command_starts(installed: Path) -> None:
    """pip writes the venv's path into bin/edge: it must be the release's final path, not where it was built."""
    current = installed / "opt/edge-gateway/current"
    out = run_edge(current, "--version")
    assert (out.returncode, out.stdout.strip()) == (0, f"edge-gateway {__version__}"), out.stderr
    link = installed / "usr/local/bin/edge"  # as the unit and the PATH reach it: /opt/... inside DESTDIR
    assert os.readlink(link) == "/opt/edge-gateway/current/bin/edge"


def test_another_wheel_of_the_running_version_is_built_beside_it(tmp_path: Path, installed: Path,
                                                                 edge_wheel: Path) -> None:
    """The running release is not built over (nor removed) while the new one is built; both start."""
    destdir = tmp_path / "root"
    shutil.copytree(installed, destdir, symlinks=True)
    other = tmp_path / "other" / edge_wheel.name
    other.parent.mkdir()
    other.write_bytes(edge_wheel.read_bytes() + b"\0")  # a zip with a trailing byte: the same content, another hash
    proc = run_install(destdir, other, SYSTEMCTL=":")
    assert proc.returncode == 0, proc.stderr
    releases = destdir / "opt/edge-gateway/releases"
    beside = os.readlink(destdir / "opt/edge-gateway/current").removeprefix("releases/")
    assert beside.startswith(f"{__version__}-") and beside != __version__
    assert sorted(p.name for p in releases.iterdir()) == sorted([__version__, beside])
    for release in (releases / __version__, releases / beside):
        assert run_edge(release, "--version").returncode == 0, release
    assert (releases / beside / ".edge-release").read_text().startswith("sha256:")
    assert (releases / __version__ / ".edge-release").read_text().startswith("sha256:")  # as edge update writes


def test_a_release_without_its_marker_is_built_again(tmp_path: Path, edge_wheel: Path) -> None:
    """A build cut short (power cut, full disk) has no .edge-release: it is removed and built again, whole."""
    destdir = tmp_path / "root"
    leftover = destdir / f"opt/edge-gateway/releases/{__version__}"
    (leftover / "bin").mkdir(parents=True)
    (leftover / "bin/stale").write_text("from the build that was cut short")
    proc = run_install(destdir, edge_wheel, SYSTEMCTL=":")
    assert proc.returncode == 0, proc.stderr
    assert not (leftover / "bin/stale").exists()
    assert run_edge(destdir / "opt/edge-gateway/current", "--version").returncode == 0


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


def start_limited_systemctl(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in systemctl that records its calls and, like systemd after StartLimitBurst, refuses start and
    restart until `reset-failed`. Returns it and its log."""
    log, failed = tmp_path / "calls", tmp_path / "start-limit-hit"
    failed.write_text("")  # the gateway has just crash-looped
    fake = tmp_path / "systemctl"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case $1 in
  reset-failed) rm -f {failed} ;;
  start|restart) if [ -e {failed} ]; then echo "Start request repeated too quickly." >&2; exit 1; fi ;;
esac
""")
    fake.chmod(0o755)
    return fake, log


def test_a_unit_at_its_start_limit_is_started_after_reset_failed(tmp_path: Path, installed: Path,
                                                                 edge_wheel: Path) -> None:
    """Nothing changed: `start`, after `reset-failed` (a SYSTEMCTL without --root is used as on a live system)."""
    systemctl, log = start_limited_systemctl(tmp_path)
    proc = run_install(installed, edge_wheel, SYSTEMCTL=str(systemctl))
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["daemon-reload", "enable --quiet " + " ".join(UNITS),
                                            "reset-failed edge-gateway.service", "start edge-gateway.service"]


def test_a_changed_install_restarts_after_reset_failed(tmp_path: Path, installed: Path, edge_wheel: Path) -> None:
    destdir = tmp_path / "root"
    shutil.copytree(installed, destdir, symlinks=True)
    (destdir / "usr/local/share/doc/edge-gateway/README.md").unlink()  # something to install again
    systemctl, log = start_limited_systemctl(tmp_path)
    proc = run_install(destdir, edge_wheel, SYSTEMCTL=str(systemctl))
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines()[-2:] == ["reset-failed edge-gateway.service", "restart edge-gateway.service"]


def test_unfinished_builds_are_removed_but_never_the_running_release(tmp_path: Path, installed: Path,
                                                                     edge_wheel: Path) -> None:
    """<v>.partial folders of older versions and releases without their marker go; the running release stays
    even without its marker (it is then built again beside it)."""
    destdir = tmp_path / "root"
    shutil.copytree(installed, destdir, symlinks=True)
    releases = destdir / "opt/edge-gateway/releases"
    for name in ("0.0.8.partial", "0.0.7", "0.0.6"):
        (releases / name / "bin").mkdir(parents=True)
    (releases / "0.0.8.partial/.edge-release").write_text("sha256:ab\n")  # cut short between marker and rename
    (releases / "0.0.6/.edge-release").write_text("sha256:cd\n")  # complete: kept
    (releases / __version__ / ".edge-release").unlink()
    proc = run_install(destdir, edge_wheel, SYSTEMCTL=":")
    assert proc.returncode == 0, proc.stderr
    assert "removing the unfinished build /opt/edge-gateway/releases/0.0.7" in proc.stdout
    beside = os.readlink(destdir / "opt/edge-gateway/current").removeprefix("releases/")
    assert beside.startswith(f"{__version__}-")
    assert sorted(p.name for p in releases.iterdir()) == sorted(["0.0.6", __version__, beside])
    assert run_edge(releases / __version__, "--version").returncode == 0


def test_install_refuses_while_edge_update_runs(tmp_path: Path, edge_wheel: Path) -> None:
    """edge update holds /opt/edge-gateway/.update.lock: install.sh refuses rather than build beside it."""
    import fcntl

    opt = tmp_path / "root/opt/edge-gateway"
    opt.mkdir(parents=True)
    with open(opt / ".update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = run_install(tmp_path / "root", edge_wheel, SYSTEMCTL=":")
    assert proc.returncode == 1
    assert "edge update or another install.sh is running" in proc.stderr
    assert not (opt / "releases" / __version__).exists()
