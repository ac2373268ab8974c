"""edge doctor: what an installer checks on site. One line per finding: pass, warn or fail, and what to do.

A check is a function `check(ctx) -> list[CheckResult]`; CHECKS lists them in the order they print. The core's
checks are here: configuration, clock, disk, database, the running gateway, the central server. Hardware the
gateway holds (the Bluetooth adapter, GPIO lines, cameras) is reported through the running gateway's /healthz
rather than opened a second time; `ctx.health()` fetches it once.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import gzip
import os
import pwd
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import requests

from edge.clock import Clock, rfc3339
from edge.config import Config, load_config
from edge.errors import ConfigError, StoreError
from edge.reader import EventReader
from edge.update import healthz_url

MIN_PLAUSIBLE_TIME = datetime(2025, 1, 1, tzinfo=UTC)  # earlier means the Pi booted without a time source
DISK_FAIL_MB = 100
SERVICE = "edge-gateway"


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    check: str  # the short name in the first column, e.g. "database"
    status: Status
    detail: str
    action: str = ""  # what to do about it (for warn and fail)

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status.value, "detail": self.detail, "action": self.action}


@dataclass(frozen=True)
class ClockState:
    synchronised: bool | None  # None: the kernel would not say
    max_error_s: float | None = None


@dataclass(frozen=True)
class Account:
    """The account the gateway runs as: the database checks are done as this account."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def named(cls, name: str) -> Account:
        pw = pwd.getpwnam(name)
        return cls(pw.pw_name, pw.pw_uid, pw.pw_gid, tuple(os.getgrouplist(pw.pw_name, pw.pw_gid)))

    @classmethod
    def default(cls) -> Account:
        """`edge` (the service's account) when it exists, else whoever runs the doctor."""
        with contextlib.suppress(KeyError):
            return cls.named("edge")
        return cls.named(pwd.getpwuid(os.geteuid()).pw_name)


@dataclass(frozen=True)
class LiveHealth:
    url: str
    status_code: int | None = None
    report: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class DoctorContext:
    config_path: Path
    config: Config | None
    config_problems: list[str]
    account: Account
    http: requests.Session = field(default_factory=requests.Session)
    timeout: float = 5.0
    clock: Clock = field(default_factory=Clock)
    clock_state: Callable[[], ClockState] = field(default_factory=lambda: kernel_clock_state)
    unreadable: str | None = None  # a path the configuration names that this account may not look at

    @classmethod
    def load(cls, config_path: Path, **kw: Any) -> DoctorContext:
        try:
            config = load_config(config_path)
            config.storage.path.exists()  # raises PermissionError where this account may not look
            return cls(config_path, config, [], **kw)
        except ConfigError as e:
            return cls(config_path, None, e.problems, **kw)
        except PermissionError as e:  # e.g. storage.path in /var/lib/edge-gateway (0750 edge), checked as another
            return cls(config_path, None, [], unreadable=str(e.filename), **kw)

    @cached_property
    def live(self) -> LiveHealth:
        """The running gateway's /healthz (fetched once)."""
        assert self.config is not None
        url = healthz_url(self.config.api.host, self.config.api.port)
        try:
            r = self.http.get(url, timeout=self.timeout)
        except requests.RequestException as e:
            return LiveHealth(url, error=_reason(e))
        try:
            report = r.json()
        except ValueError:
            report = None
        if not isinstance(report, dict) or "status" not in report:  # another program on the gateway's port
            return LiveHealth(url, r.status_code, error=f"HTTP {r.status_code}, not the gateway's report")
        return LiveHealth(url, r.status_code, report)

    def subsystem(self, name: str) -> dict[str, Any] | None:
        """One subsystem's section of the live /healthz, for the hardware checks."""
        report = self.live.report or {}
        section = report.get("subsystems", {}).get(name)
        return section if isinstance(section, dict) else None


Check = Callable[[DoctorContext], list[CheckResult]]


# ---- the core's checks ----------------------------------------------------------------------------------------

PROVISION_HINT = ("provision it (README, Installing on a Raspberry Pi): sudo edge provision --device-id ID "
                  "--building ID --server URL --token -")


def check_config(ctx: DoctorContext) -> list[CheckResult]:
    if ctx.config is None:
        try:
            ctx.config_path.open("rb").close()
        except FileNotFoundError:
            return [CheckResult("config", Status.FAIL, f"not provisioned: there is no {ctx.config_path}",
                                PROVISION_HINT)]
        except PermissionError:
            return [CheckResult("config", Status.FAIL, f"{ctx.config_path}: not readable by this account (it is "
                                "root's and the edge group's)", "run it with sudo: sudo edge doctor")]
        except OSError:
            pass  # said by the problems below
        if ctx.unreadable:
            return [CheckResult("config", Status.FAIL, f"{ctx.unreadable} (named in {ctx.config_path}): not "
                                "readable by this account, so the configuration cannot be checked",
                                "run it with sudo: sudo edge doctor")]
        return [CheckResult("config", Status.FAIL, p, "fix it, then: edge config check") for p in ctx.config_problems]
    c = ctx.config
    return [CheckResult("config", Status.PASS, f"{ctx.config_path} is valid: device {c.device_id}, building "
                        f"{c.building_id}" + ("" if c.upstream else ", no [upstream] (the central server pulls)"))]


def check_clock(ctx: DoctorContext) -> list[CheckResult]:
    return [clock_result(ctx.clock.utcnow(), ctx.clock_state())]


def clock_result(now: datetime, state: ClockState) -> CheckResult:
    if now < MIN_PLAUSIBLE_TIME:
        return CheckResult("clock", Status.FAIL, f"the clock says {now:%Y-%m-%d %H:%M} UTC: no time source yet",
                           "connect the network so NTP can set it; see: timedatectl timesync-status")
    if state.synchronised:
        err = f" (max error {state.max_error_s * 1000:.0f} ms)" if state.max_error_s is not None else ""
        return CheckResult("clock", Status.PASS, f"synchronised{err}: {now:%Y-%m-%d %H:%M:%S} UTC")
    if state.synchronised is None:
        return CheckResult("clock", Status.WARN, "cannot tell whether the clock is synchronised",
                           "see: timedatectl")
    return CheckResult("clock", Status.WARN, f"not synchronised with NTP (it says {now:%Y-%m-%d %H:%M} UTC); "
                       "event times may be off", "let it reach an NTP server (UDP 123), e.g. ntp.aliyun.com in "
                       "/etc/systemd/timesyncd.conf; see: timedatectl timesync-status")


def check_disk(ctx: DoctorContext) -> list[CheckResult]:
    if ctx.config is None:
        return []
    st = ctx.config.storage
    where = _existing_ancestor(st.path.parent)
    usage = shutil.disk_usage(where)
    free_mb = usage.free / 2**20
    used_mb = st.path.stat().st_size / 2**20 if st.path.exists() else 0.0
    if free_mb < DISK_FAIL_MB:
        return [CheckResult("disk", Status.FAIL, f"only {free_mb:.0f} MB free on {where}",
                            "free space (old logs: journalctl --vacuum-size=100M) or use a larger SD card")]
    if free_mb < st.max_mb - used_mb:
        return [CheckResult("disk", Status.WARN, f"{free_mb:.0f} MB free on {where}, but the database may grow "
                            f"to storage.max_mb = {st.max_mb:g} MB", "lower storage.max_mb or free space")]
    return [CheckResult("disk", Status.PASS, f"{free_mb:.0f} MB free on {where} "
                        f"(database bound {st.max_mb:g} MB)")]


def check_database(ctx: DoctorContext) -> list[CheckResult]:
    """Readable, intact and writable by the gateway's account (checked as that account when run as root)."""
    if ctx.config is None:
        return []
    path, who = ctx.config.storage.path, ctx.account
    note = "" if _can_act_as(who) else f" (checked as {_me()}, not {who.name}: run it with sudo)"
    fix = f"let the gateway's account own it: sudo chown -R {who.name}:{_group(who.gid)} {path.parent}"
    try:
        with acting_as(who):
            return [_examine_database(ctx.config, who, note, fix)]
    except PermissionError as e:
        return [CheckResult("database", Status.FAIL, f"{who.name} cannot use {path}: {e.strerror}: "
                            f"{e.filename}{note}", fix)]


def _examine_database(config: Config, who: Account, note: str, fix: str) -> CheckResult:
    path = config.storage.path
    if not path.exists():
        folder = _existing_ancestor(path.parent)
        if not os.access(folder, os.W_OK | os.X_OK, effective_ids=True):
            return CheckResult("database", Status.FAIL, f"{who.name} cannot create {path}: {folder} is not "
                               f"writable for it{note}", fix)
        return CheckResult("database", Status.WARN, f"no database yet at {path}{note}",
                           "it is created when the gateway first runs: sudo systemctl start edge-gateway")
    problem, damaged = _probe_sqlite(path)
    if damaged:  # no owner to change: the gateway's own recovery is the fix
        return CheckResult("database", Status.FAIL, f"{path} is damaged: {problem}",
                           "restart the gateway: it moves a damaged database aside (kept as "
                           f"{path.name}.corrupt-<time>) and starts a new one: sudo systemctl restart {SERVICE}")
    problem = problem or _unwritable_beside(path)
    if problem:
        return CheckResult("database", Status.FAIL, f"{who.name} cannot use {path}: {problem}{note}", fix)
    try:
        reader = EventReader.open(path, device_id=config.device_id, building_id=config.building_id)
        try:
            s = reader.stats()
        finally:
            reader.close()
    except (StoreError, sqlite3.Error) as e:
        return CheckResult("database", Status.FAIL, f"{path}: {e}", "see: journalctl -u edge-gateway")
    used, bound = s.used_bytes / 2**20, config.storage.max_mb
    detail = (f"{path}: intact and writable{note}; {s.events} events, {used:.1f} of {bound:g} MB, "
              f"{s.unsynced} not yet synced, {s.open_alerts} open alerts")
    if used >= bound * 0.98:
        return CheckResult("database", Status.WARN, detail + "; at its size bound",
                           "let sync catch up (see the upstream line) or raise storage.max_mb")
    return CheckResult("database", Status.PASS, detail)


def _probe_sqlite(path: Path) -> tuple[str | None, bool]:
    """Open read-write, check integrity, take the write lock and let it go: nothing is changed. What is wrong, if
    anything, and whether that is damage (or not a database at all) rather than a lock or a permission."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=5, isolation_level=None)
    except sqlite3.Error as e:
        return str(e), False
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            return "; ".join(str(r[0]) for r in rows[:3]), True
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as e:
        code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
        return str(e), code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    finally:
        conn.close()
    return None, False


def _unwritable_beside(path: Path) -> str | None:
    """The seq lease and WAL files beside the database must be writable too."""
    for p in (path.parent, *(path.with_name(path.name + s) for s in (".seq", "-wal", "-shm"))):
        if p.exists() and not os.access(p, os.W_OK, effective_ids=True):
            st = p.stat()
            return f"{p} is not writable (owner {_owner(st.st_uid)}, mode {st.st_mode & 0o777:o})"
    return None


OWN_LINES = {"ble"}  # subsystems whose check below reports them (not repeated by the gateway line)


def check_gateway(ctx: DoctorContext) -> list[CheckResult]:
    """The service answers /healthz; each subsystem it runs is healthy."""
    if ctx.config is None:
        return []
    live = ctx.live
    if live.report is None and live.status_code is not None:
        port = ctx.config.api.port
        return [CheckResult("gateway", Status.FAIL, f"another program answers at {live.url} ({live.error})",
                            f"find it: sudo ss -ltnp 'sport = :{port}'; stop it, or give the gateway another "
                            "api.port")]
    if live.report is None:
        return [CheckResult("gateway", Status.FAIL, f"not answering at {live.url} ({live.error})",
                            f"start it: sudo systemctl start {SERVICE}; why it stopped: "
                            f"journalctl -u {SERVICE} -n 50")]
    report = live.report
    if report.get("status") == "unprovisioned":
        return [CheckResult("gateway", Status.FAIL, "running, but still waiting to be provisioned",
                            f"restart it to read the configuration: sudo systemctl restart {SERVICE}")]
    out: list[CheckResult] = []
    if report.get("device_id") != ctx.config.device_id:
        out.append(CheckResult("gateway", Status.WARN, f"answering as {report.get('device_id')}, but the "
                               f"configuration says {ctx.config.device_id}",
                               f"restart it to use the configuration: sudo systemctl restart {SERVICE}"))
    subsystems = report.get("subsystems", {})
    failing = {n: s for n, s in subsystems.items()
               if isinstance(s, dict) and not s.get("ok", True) and n not in OWN_LINES}
    for name, section in failing.items():
        why = section.get("last_error") or section.get("error") or section.get("state") or "not ok"
        out.append(CheckResult(name, Status.FAIL, f"subsystem {name} is failing: {why}",
                               f"see: journalctl -u {SERVICE} -n 100"))
    if (live.status_code == 200 or report.get("status") == "degraded") and not failing:
        ok = sum(1 for s in subsystems.values() if isinstance(s, dict) and s.get("ok", True))
        out.append(CheckResult("gateway", Status.PASS, f"running {report.get('version', '?')} for "
                               f"{_duration(report.get('uptime_s', 0))}; {ok} of {len(subsystems)} subsystems ok"
                               + ("" if ok == len(subsystems) else " (the others below)")))
    elif not failing:
        out.append(CheckResult("gateway", Status.FAIL, f"{live.url} answered {live.status_code}",
                               f"see: journalctl -u {SERVICE} -n 100"))
    return out


def check_upstream(ctx: DoctorContext) -> list[CheckResult]:
    """Reachable over verified TLS and accepting the token: an empty batch, acknowledged like any other
    (Idempotency-Key <device_id>:0-0 never names real events, so repeating it is harmless)."""
    if ctx.config is None or ctx.config.upstream is None:
        return []
    up = ctx.config.upstream
    url = up.url.rstrip("/") + "/v1/batches"
    headers = {"Authorization": f"Bearer {up.token}", "Content-Type": "application/x-ndjson",
               "Content-Encoding": "gzip", "Idempotency-Key": f"{ctx.config.device_id}:0-0"}
    verify: bool | str = str(up.ca_bundle) if up.ca_bundle else True
    started = time.monotonic()
    try:
        r = ctx.http.post(url, data=gzip.compress(b""), headers=headers, timeout=ctx.timeout, verify=verify)
    except requests.exceptions.SSLError as e:
        return [CheckResult("upstream", Status.FAIL, f"{up.url}: TLS certificate not trusted ({_reason(e)})",
                            "check the clock (above); for a private server set upstream.ca_bundle")]
    except requests.RequestException as e:
        return [CheckResult("upstream", Status.FAIL, f"cannot reach {up.url}: {_reason(e)}",
                            "check the network, DNS and firewall (HTTPS out), and upstream.url")]
    ms = (time.monotonic() - started) * 1000
    return [upstream_result(up.url, r.status_code, ms)]


def upstream_result(url: str, code: int, ms: float) -> CheckResult:
    if 200 <= code < 300 or code == 409:
        return CheckResult("upstream", Status.PASS, f"{url}: reachable and the token is accepted ({ms:.0f} ms)")
    if code in (401, 403):
        return CheckResult("upstream", Status.FAIL, f"{url} refused the token (HTTP {code})",
                           "get a new enrolment token for this gateway from the central server, then: "
                           "sudo edge provision --device-id ... --building ... --server ... --token -")
    if code == 429 or code >= 500:
        return CheckResult("upstream", Status.WARN, f"{url} is reachable but busy or failing (HTTP {code})",
                           "nothing to do here: sync retries by itself; tell the central server's operators "
                           "if it lasts")
    return CheckResult("upstream", Status.WARN, f"{url} answered HTTP {code} to an empty batch, so the token "
                       "could not be confirmed", "check upstream.url (it ends before /v1/batches)")


BANDS_SEEN_WINDOW_S = 3600  # a heard band records wristband.seen at least every ble.seen_every_s (<= 1 h)


def check_ble(ctx: DoctorContext) -> list[CheckResult]:
    """The Bluetooth adapter is scanning, and the registered wristbands are heard (from the live /healthz, and
    the wristband.seen events of the last hour in the database)."""
    c = ctx.config
    ble = ctx.subsystem("ble") if c is not None and (c.ble.enabled or c.simulate.enabled) else None
    if c is None or ble is None:
        return []  # BLE is off, or the gateway is not answering (its own line says so)
    if not ble.get("ok"):
        why = " ".join(str(x) for x in (ble.get("scanner"), ble.get("error")) if x)
        return [CheckResult("ble", Status.FAIL, f"Bluetooth adapter {c.ble.adapter or '(the first)'} is not "
                            f"scanning: {why or 'not ok'}", "check it: bluetoothctl show; rfkill list (unblock: "
                            "sudo rfkill unblock bluetooth); sudo systemctl restart bluetooth")]
    heard = (f"adapter scanning ({ble.get('mode')}): {ble.get('advertisements', 0)} advertisements, "
             f"{ble.get('readings', 0)} wristband readings")
    registered = int(ble.get("bands", 0))
    if registered == 0:
        return [CheckResult("ble", Status.WARN, f"{heard}; no wristbands registered",
                            "list the residents' bands under [[ble.wristbands]] in the configuration")]
    seen = _bands_seen(ctx)
    detail = f"{heard}; {len(seen)} of {registered} registered wristbands heard in the last hour"
    if len(seen) >= registered:
        return [CheckResult("ble", Status.PASS, detail)]
    missing = [f"{w.flat} ({w.band})" for w in c.ble.wristbands if f"band-{w.band.lower()}" not in seen]
    more = f"; not heard: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else ""
    return [CheckResult("ble", Status.WARN, detail + more,
                        "are those bands charged, worn and within range? `edge ble scan` shows what is heard")]


def _bands_seen(ctx: DoctorContext) -> set[str]:
    assert ctx.config is not None
    since = rfc3339(ctx.clock.utcnow() - timedelta(seconds=BANDS_SEEN_WINDOW_S))
    path = ctx.config.storage.path
    try:
        with acting_as(ctx.account):
            reader = EventReader.open(path, device_id=ctx.config.device_id, building_id=ctx.config.building_id)
            try:
                rows = reader.query("SELECT DISTINCT source FROM events WHERE kind = 'wristband.seen' AND ts >= ?",
                                    [since])
            finally:
                reader.close()
    except (StoreError, sqlite3.Error, PermissionError):
        return set()  # the database line says what is wrong with it
    return {r[0] for r in rows}


def check_gpio(ctx: DoctorContext) -> list[CheckResult]:
    """One line per configured GPIO pin with its reading: live from the gateway, which holds the pins, or, while
    no gateway answers, with the pins opened here for a moment (outputs kept off)."""
    from edge import gpio

    if ctx.config is None or gpio.gpio_config(ctx.config) is None:
        return []
    section = ctx.subsystem("gpio")
    if section is not None and "pins" in section:
        faults = {n for group in ("bins", "lights") for n, st in section.get(group, {}).items() if st.get("fault")}
        return [gpio_pin_result(row, row["device"] in faults) for row in section["pins"]]
    if ctx.live.report is not None:
        return []  # the gateway runs but its GPIO does not: its own line says why
    try:
        report = gpio.read_pins(ctx.config, timeout=min(ctx.timeout, 2.0), direct=True)
    except ConfigError as e:
        return [CheckResult("gpio", Status.FAIL, "; ".join(e.problems),
                            "check [gpio] against the wiring; is another program using these pins?")]
    return [gpio_pin_result(row, False) for row in (report.pins if report else [])]


def gpio_pin_result(row: dict[str, Any], faulty: bool) -> CheckResult:
    detail = f"GPIO{row['pin']:<2} {row['device']} ({row['kind']} {row['role']}): {row['reading']}"
    if row["role"] == "echo" and ("no echo" in row["reading"] or "out_of_range" in row["reading"] or faulty):
        return CheckResult("gpio", Status.WARN, detail, "check the ultrasonic sensor: TRIG and ECHO (through the "
                           "divider), 5 V and GND, and that nothing but the rubbish is below it")
    if faulty:
        return CheckResult("gpio", Status.WARN, detail + " (light.fault open)",
                           "the lamp is dark in its lit hours: check the lamp, then the sensor")
    return CheckResult("gpio", Status.PASS, detail)


# subsystem in /healthz -> config section with `cameras` (name, source)
CAMERA_SUBSYSTEMS = {"gate": "gate", "parking": "parking"}


def check_cameras(ctx: DoctorContext) -> list[CheckResult]:
    """One line per camera: opened, frame size and frame rate. Live from the gateway, which holds the cameras (a
    subsystem's /healthz section with "cameras": {name: stats}); while no gateway answers, each is opened here for
    a moment."""
    if ctx.config is None:
        return []
    out: list[CheckResult] = []
    for subsystem, section_name in CAMERA_SUBSYSTEMS.items():
        configured = _configured_cameras(ctx.config, section_name)
        live = ctx.subsystem(subsystem)
        if live is not None and isinstance(live.get("cameras"), dict):
            out += [camera_result(subsystem, name, stats) for name, stats in live["cameras"].items()]
        elif ctx.live.report is None:
            from vision.camera import probe

            out += [camera_result(subsystem, name, probe(source, timeout=min(ctx.timeout, 5.0)), direct=True)
                    for name, source in configured]
    return out


def _configured_cameras(config: Config, section: str) -> list[tuple[str, str]]:
    if section == "gate":
        from edge.cameras import gate_config

        cfg = gate_config(config)
        return [(c.name, c.source) for c in cfg.cameras] if cfg else []
    if section == "parking" and config.parking is not None:  # the simulated car park is only opened by the gateway
        return [(c.name, c.source) for c in config.parking.cameras]
    return []


def camera_result(subsystem: str, name: str, stats: dict[str, Any], direct: bool = False) -> CheckResult:
    where = f"{subsystem} camera {name} ({stats.get('source')})"
    if not stats.get("opened") or stats.get("width") is None:
        return CheckResult("camera", Status.FAIL, f"{where}: not delivering frames: {stats.get('error') or 'no frame'}",
                           "check its power and cable or network, and its address in the configuration (for a "
                           "stream: ffprobe URL; for a USB camera: v4l2-ctl --list-devices)")
    fps = stats.get("fps") or stats.get("nominal_fps")
    detail = (f"{where}: open, {stats['width']}x{stats['height']}" + (f" at {fps:g} fps" if fps else "")
              + (" (opened here: no gateway answers)" if direct else ""))
    corrupt, frames = int(stats.get("corrupt") or 0), int(stats.get("frames") or 0)
    if frames and corrupt > frames * 0.01:
        return CheckResult("camera", Status.WARN, f"{detail}; {corrupt} corrupt frames of {frames + corrupt}",
                           "a weak network link or a failing camera: check the cable and the stream's bit rate")
    return CheckResult("camera", Status.PASS, detail)


CHECKS: tuple[Check, ...] = (check_config, check_clock, check_disk, check_database, check_gateway, check_ble,
                             check_gpio, check_cameras, check_upstream)


def run_checks(ctx: DoctorContext, checks: tuple[Check, ...] = CHECKS) -> list[CheckResult]:
    """Every check, in order; a check that crashes is itself a failed line (the others still run)."""
    results: list[CheckResult] = []
    for check in checks:
        name = check.__name__.removeprefix("check_")
        try:
            results.extend(check(ctx))
        except Exception as e:  # a doctor must finish its round
            results.append(CheckResult(name, Status.FAIL, f"the check itself failed: {e!r}",
                                       "report this; run with --json for the details"))
    return results


def exit_status(results: list[CheckResult]) -> int:
    return 1 if any(r.status is Status.FAIL for r in results) else 0


def render(results: list[CheckResult], header: str) -> str:
    """The table an installer reads: status, check, what was found; what to do on the line below."""
    width = max((len(r.check) for r in results), default=6) + 2
    lines = [header, ""]
    for r in results:
        lines.append(f"  {r.status.value.upper():<5} {r.check:<{width}}{r.detail}")
        if r.action and r.status is not Status.PASS:
            lines.append(f"  {'':<5} {'':<{width}}-> {r.action}")
    counts = {s: sum(r.status is s for r in results) for s in Status}
    lines += ["", ", ".join(f"{n} {s.value}" for s, n in counts.items())]
    return "\n".join(lines)


# ---- helpers --------------------------------------------------------------------------------------------------

class _Timex(ctypes.Structure):
    """The head of struct timex (64-bit Linux), and room for the rest."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("_rest", ctypes.c_char * 256)]


MAX_ERROR_US = 16_000_000  # the kernel's maxerror at and above which systemd calls the clock unsynchronised


def kernel_clock_state() -> ClockState:
    """What the kernel says, read as timedatectl's NTPSynchronized reads it: adjtimex with no changes is
    read-only."""
    try:
        tx = _Timex()
        state = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return ClockState(None)
    if state < 0:
        return ClockState(None)
    return ClockState(synchronised(tx.maxerror), tx.maxerror / 1e6)


def synchronised(maxerror_us: int) -> bool:
    """systemd's rule (ntp_synced): the kernel's maximum error under 16 s. Not adjtimex's TIME_ERROR, which follows
    STA_UNSYNC: chrony without `rtcsync` keeps that flag set so the kernel leaves the RTC alone, and the clock
    would be called unsynchronised for ever (every event flagged) while timedatectl says it is synchronised."""
    return maxerror_us < MAX_ERROR_US


@contextlib.contextmanager
def acting_as(who: Account) -> Iterator[None]:
    """Run the block with `who`'s effective ids (when we are root), so files are tried as the gateway would and
    any file SQLite creates belongs to it."""
    if not _can_act_as(who) or os.geteuid() == who.uid:
        yield
        return
    groups = os.getgroups()
    os.setgroups(list(who.groups))
    os.setegid(who.gid)
    os.seteuid(who.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


def _can_act_as(who: Account) -> bool:
    return os.geteuid() in (0, who.uid)


def _me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _reason(e: BaseException) -> str:
    """The operating system's reason when there is one, not requests' nesting of urllib3 errors."""
    if isinstance(e, requests.Timeout):
        return "no answer in time"
    found = _ERRNO.search(str(e))
    return found.group(0) if found else str(e)[:200]
