"""The units as systemd itself reads them: `systemd-analyze verify` and `security` on the installed tree, the
accounts from sysusers.d and the folders from tmpfiles.d, each tool working on a root folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, need_tool

UNITS = ("edge-gateway.service", "edge-provision.service", "edge-kiosk.service")
MAX_EXPOSURE = 2.5


@pytest.fixture(scope="module")
def root(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed tree plus Debian's own units (the targets ours hang on), standing in for a Pi's /."""
    systemd_dir = Path("/usr/lib/systemd/system")
    need_tool("systemd-analyze", "systemd")
    if not (systemd_dir / "multi-user.target").exists():
        pytest.skip(f"needs the systemd package's units in {systemd_dir}: apt-get install systemd")
    stub = tmp_path_factory.mktemp("root")
    shutil.copytree(installed, stub, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(systemd_dir, stub / "usr/lib/systemd/system", symlinks=True)
    return stub


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(root: Path, unit: str) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", unit],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if "edge-" in line]
    assert ours == [], "\n".join(ours)  # parse warnings ("ignoring") do not change the exit status


def test_verify_catches_a_broken_unit(root: Path) -> None:
    """The check above can fail: a typo in a copy of the main unit is reported."""
    text = (root / "usr/local/lib/systemd/system/edge-gateway.service").read_text()
    broken = root / "etc/systemd/system/edge-broken.service"
    broken.write_text(text.replace("WatchdogSec=60", "WatchdogSec=sixty"))
    try:
        proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", broken.name],
                              capture_output=True, text=True, timeout=60)
    finally:
        broken.unlink()
    assert "edge-broken.service" in proc.stderr and "sixty" in proc.stderr


def exposure(root: Path, unit: str) -> float:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={root}", unit],
                          capture_output=True, text=True, timeout=60)
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", proc.stdout)
    assert found, proc.stdout[-2000:] + proc.stderr
    return float(found.group(1))


def test_main_unit_exposure_at_most_2_5(root: Path) -> None:
    assert exposure(root, "edge-gateway.service") <= MAX_EXPOSURE


def test_provisioning_unit_is_hardened_too(root: Path) -> None:
    assert exposure(root, "edge-provision.service") <= MAX_EXPOSURE


def unit_settings(path: Path) -> dict[str, list[str]]:
    """key -> every value it is given (keys like DeviceAllow= repeat)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_main_unit_settings() -> None:
    s = unit_settings(REPO / "systemd/edge-gateway.service")
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert int(s["WatchdogSec"][0]) > 0 and int(s["StartLimitBurst"][0]) > 0
    assert s["User"] == ["edge"] and s["StateDirectory"] == ["edge-gateway"]
    assert s["ConfigurationDirectory"] == ["edge-gateway"]
    assert s["CapabilityBoundingSet"] == [""] and s["NoNewPrivileges"] == ["yes"]
    assert s["ProtectSystem"] == ["strict"] and s["PrivateTmp"] == ["yes"] and s["ProtectHome"] == ["yes"]
    assert "@system-service" in s["SystemCallFilter"]
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK",
                                                             "AF_BLUETOOTH"}
    assert s["DevicePolicy"] == ["closed"]
    assert {v.split()[0] for v in s["DeviceAllow"]} >= {"char-gpiochip", "char-video4linux"}
    assert "--wait-for-provisioning" in s["ExecStart"][0]


def test_sysusers_makes_the_accounts(tmp_path: Path) -> None:
    need_tool("systemd-sysusers", "systemd")
    (tmp_path / "etc").mkdir()
    conf = REPO / "systemd/sysusers.d/edge-gateway.conf"
    proc = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    assert passwd["edge"][5:] == ["/var/lib/edge-gateway", "/usr/sbin/nologin"]
    members = {g[0]: set(g[3].split(",")) for g in
               (line.split(":") for line in (tmp_path / "etc/group").read_text().splitlines())}
    for group in ("gpio", "bluetooth", "video"):
        assert "edge" in members[group], group
    for group in ("video", "render", "input"):
        assert "edge-kiosk" in members[group], group
    assert "edge-kiosk" not in members["gpio"] | members["bluetooth"]


@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles must be root to give the folders their owners")
def test_tmpfiles_makes_the_folders(tmp_path: Path) -> None:
    need_tool("systemd-tmpfiles", "systemd")
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(REPO / "systemd/sysusers.d/edge-gateway.conf")],
                   check=True, capture_output=True)
    conf = REPO / "systemd/tmpfiles.d/edge-gateway.conf"
    proc = subprocess.run(["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(conf)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    uid = next(int(line.split(":")[2]) for line in (tmp_path / "etc/passwd").read_text().splitlines()
               if line.startswith("edge:"))
    state = (tmp_path / "var/lib/edge-gateway").stat()
    assert (state.st_uid, state.st_mode & 0o777) == (uid, 0o750)
    assert (tmp_path / "etc/edge-gateway").stat().st_mode & 0o777 == 0o755


def test_cloud_init_accepts_the_sample_user_data() -> None:
    need_tool("cloud-init", "cloud-init")
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(REPO / "systemd/cloud-init/user-data")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Valid cloud-config" in proc.stdout


def test_cloud_init_schema_refuses_a_wrong_user_data(tmp_path: Path) -> None:
    need_tool("cloud-init", "cloud-init")
    bad = tmp_path / "user-data"
    bad.write_text("#cloud-config\nwrite_files: 3\n")
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("unit", ["edge-gateway.service", "edge-provision.service"])
def test_the_command_line_in_each_unit_is_one_edge_accepts(unit: str) -> None:
    import shlex

    from edge.cli import build_parser

    (exec_start,) = unit_settings(REPO / "systemd" / unit)["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/edge-gateway/current/bin/edge"
    args = build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown option
    assert args.config == "/etc/edge-gateway/edge.toml"


def test_kiosk_launcher_is_valid_sh_and_says_what_is_missing(tmp_path: Path) -> None:
    script = REPO / "systemd/kiosk.sh"
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    # with a PATH holding no browser it refuses, naming the package to install
    proc = subprocess.run(["/bin/sh", str(script)], env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "apt-get install chromium" in proc.stderr


def syscall_set(names: str) -> set[str]:
    """System calls and @groups, expanded as systemd does (nested groups included)."""
    out: set[str] = set()
    for name in names.split():
        if not name.startswith("@"):
            out.add(name)
            continue
        proc = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                              timeout=60, check=True)
        members = [line.strip() for line in proc.stdout.splitlines()[1:]
                   if line.strip() and not line.strip().startswith("#")]
        out |= syscall_set(" ".join(members))
    return out


def allowed_syscalls(settings: dict[str, list[str]]) -> set[str]:
    """The system calls SystemCallFilter= lets through, read as systemd.exec(5) says: the first line (an allow
    list here) sets the kind of filter, and each later line removes (~) or adds its calls."""
    lines = settings["SystemCallFilter"]
    assert not lines[0].startswith("~"), "the main unit's filter is an allow list"
    allowed = syscall_set(lines[0])
    for line in lines[1:]:
        if line.startswith("~"):
            allowed -= syscall_set(line[1:])
        else:
            allowed |= syscall_set(line)
    return allowed


def test_the_gateway_may_read_the_kernel_clock_state() -> None:
    """sync/timesync.py and edge doctor ask adjtimex(2), read-only, whether NTP synchronised the clock; a unit that
    refuses it (ProtectClock=, @clock denied) has every event flagged unsynced on a Pi."""
    need_tool("systemd-analyze", "systemd")
    s = unit_settings(REPO / "systemd/edge-gateway.service")
    assert s.get("ProtectClock", ["no"])[-1] not in ("yes", "true", "on", "1")  # a filter of its own, on top
    allowed = allowed_syscalls(s)
    assert {"adjtimex", "clock_adjtime"} <= allowed  # glibc's adjtimex() is clock_adjtime(CLOCK_REALTIME) on arm64
    assert not {"clock_settime", "settimeofday", "reboot", "init_module"} & allowed  # the rest stays denied
