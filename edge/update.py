"""edge update WHEEL: install a release beside the current one, switch to it, and switch back by itself if it
does not come up healthy in time.

Releases live in /opt/edge-gateway/releases/<version>, each its own virtual environment, built where it stays (pip
writes that path into every script it installs, so a renamed venv cannot start) and complete once its marker file
is written, last; /opt/edge-gateway/current is a symlink to one of them, replaced atomically, and the systemd unit
runs current/bin/edge. Another build of the running version goes beside it, in releases/<version>-<hash>.
"Healthy" means the new version answers /healthz and no subsystem is failing that was not already failing before
the update (a sensor that was broken before must not make every update roll back). Restarting and probing are
passed in, so tests can exercise the rollback."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from edge.clock import Clock
from edge.errors import UpdateError
from edge.files import fsync_dir

log = logging.getLogger(__name__)

ROOT = Path("/opt/edge-gateway")
MARKER = ".edge-release"  # in each release, written last: what it was built from (also written by systemd/install.sh)
WHEEL_NAME = re.compile(r"edge_gateway-(?P<version>[0-9][^-]*)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl")


@dataclass(frozen=True)
class Layout:
    root: Path = ROOT

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def current(self) -> Path:
        return self.root / "current"

    def current_version(self) -> str | None:
        """The release `current` points to; None before the first install."""
        try:
            target = Path(self.current.readlink())
        except OSError:
            return None
        return target.name


def release_version(name: str) -> str:
    """The version of releases/<name>: <version> or <version>-<hash> (a wheel's version never holds a '-')."""
    return name.split("-", 1)[0]


@dataclass(frozen=True)
class Snapshot:
    """What /healthz said: the version answering and the subsystems that are failing."""

    version: str
    status: str
    failing: frozenset[str]


Probe = Callable[[], Snapshot | None]  # None: nothing answers


@dataclass(frozen=True)
class UpdateResult:
    version: str
    previous: str | None
    ok: bool
    rolled_back: bool
    message: str


def wheel_version(wheel: Path) -> str:
    found = WHEEL_NAME.fullmatch(wheel.name)
    if not found:
        raise UpdateError(f"{wheel}: not an edge-gateway wheel (edge_gateway-<version>-py3-none-any.whl)")
    return found.group("version")


def is_healthy(now: Snapshot | None, version: str, before: Snapshot | None) -> bool:
    """The new version answers, and nothing fails that did not fail before the update."""
    if now is None or now.version != version:
        return False
    if now.status in ("ok", "unprovisioned"):
        return True
    return before is not None and bool(now.failing) and now.failing <= before.failing


def update(layout: Layout, wheel: Path, *, restart: Callable[[], None], probe: Probe, timeout: float = 120.0,
           clock: Clock | None = None, sleep: Callable[[float], Any] = time.sleep, force: bool = False,
           build: Callable[[Layout, Path, str], Path] | None = None, keep: int = 3) -> UpdateResult:
    """Install `wheel`, switch to it and restart; switch back and restart if it is not healthy within `timeout`."""
    clock = clock or Clock()
    version = wheel_version(wheel)
    previous = layout.current_version()
    if previous is not None and release_version(previous) == version and not force:
        raise UpdateError(f"{version} is already the current release (--force to install it again)")
    with _locked(layout):
        before = probe()
        # first, so the build has the room they took on a small SD card
        for leftover in remove_unfinished(layout, protect={previous}):
            log.info("removed the unfinished build releases/%s", leftover)
        # never into the running release's folder: it stays whole until the new one is healthy
        name = (build or build_release)(layout, wheel, version).name
        switch(layout, name)
        log.info("switched to %s (was %s); restarting", name, previous)
        if _restart_and_wait(restart, probe, version, before, timeout, clock, sleep):
            prune(layout, keep=keep, protect={name, previous})
            return UpdateResult(version, previous, True, False, f"{version} is running and healthy")
        if previous is None:
            return UpdateResult(version, None, False, False,
                                f"{version} did not become healthy in {timeout:g} s, and there is no earlier "
                                "release to go back to")
        log.error("%s did not become healthy in %g s; switching back to %s", version, timeout, previous)
        switch(layout, previous)
        # judged against the same baseline: a camera unplugged before the update is not the old release's fault
        back = _restart_and_wait(restart, probe, release_version(previous), before, timeout, clock, sleep)
        return UpdateResult(version, previous, False, True,
                            f"{version} did not become healthy in {timeout:g} s; rolled back to {previous}"
                            + ("" if back else " (which is not answering healthy either: see journalctl -u "
                               "edge-gateway)"))


def _restart_and_wait(restart: Callable[[], None], probe: Probe, version: str, before: Snapshot | None,
                      timeout: float, clock: Clock, sleep: Callable[[float], Any]) -> bool:
    try:
        restart()
    except (OSError, subprocess.CalledProcessError) as e:
        log.error("restart failed: %s", e)  # the probe below decides; a failed start is not healthy
    deadline = clock.monotonic() + timeout
    while True:
        if is_healthy(probe(), version, before):
            return True
        if clock.monotonic() >= deadline:
            return False
        sleep(1.0)


def build_release(layout: Layout, wheel: Path, version: str, *, python: str = sys.executable,
                  pip_args: Sequence[str] = ()) -> Path:
    """releases/<version> (or <version>-<hash>, see release_slot): a virtual environment with the wheel installed,
    built in place and marked complete last. An existing release built from the same wheel is kept as it is."""
    source = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    release, complete = release_slot(layout, version, source, layout.current_version())
    if complete:
        return release
    shutil.rmtree(release, ignore_errors=True)  # an interrupted build (no marker), or an older build not running
    try:
        # system site packages: Debian's python3-lgpio (GPIO on the Pi) is visible to gpiozero
        _run([python, "-m", "venv", "--system-site-packages", str(release)])
        _run([str(release / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *pip_args,
              str(wheel)])
    except UpdateError:
        shutil.rmtree(release, ignore_errors=True)
        raise
    # the files reach the disk before the marker says they are whole (pip syncs nothing); a power cut before this
    # leaves a release without a marker, which the next build removes
    os.sync()
    _write_synced(release / MARKER, source + "\n")
    return release


def release_slot(layout: Layout, version: str, source: str, running: str | None) -> tuple[Path, bool]:
    """Where to build `version` from `source`, and whether a complete release of it is already there.

    releases/<version>, or releases/<version>-<hash> when <version> holds the running release built from something
    else (`--force` with another wheel): the running release is never built over."""
    slots = [version, f"{version}-{source.removeprefix('sha256:')[:12]}"]
    for name in sorted(slots, key=lambda n: n != running):  # the running one first, if it is already this build
        if _built_from(layout.releases / name) == source:
            return layout.releases / name, True
    name = next(n for n in slots if n != running)
    return layout.releases / name, False


def _built_from(release: Path) -> str | None:
    """The marker of a complete release ("sha256:<hex>"; older install.sh wrote the bare hex), else None."""
    try:
        marker = (release / MARKER).read_text().strip()
    except OSError:
        return None
    return marker if ":" in marker or " " in marker else "sha256:" + marker


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)


def switch(layout: Layout, version: str) -> None:
    """Point `current` at releases/<version> in one rename, so it is never missing."""
    if not (layout.releases / version / "bin").is_dir():
        raise UpdateError(f"{layout.releases / version}: no such release")
    # pip does not fsync what it installs: the release reaches the disk before anything points at it, or a power cut
    # soon after an update could leave `current` pointing at empty files. One sync(2) rather than an fsync a file.
    os.sync()
    tmp = layout.root / ".current.new"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("releases") / version)
    tmp.replace(layout.current)
    fsync_dir(layout.root)  # and the switch itself survives one


def remove_unfinished(layout: Layout, *, protect: set[str | None]) -> list[str]:
    """Remove the builds nothing will finish: releases/<version>.partial of older versions (built beside, then
    renamed) and releases without their marker (cut short by a power cut or a full disk), never a protected one."""
    removed = []
    for path in sorted(layout.releases.iterdir()):
        if path.name in protect or path.is_symlink() or not path.is_dir():
            continue
        if path.name.endswith(".partial") or _built_from(path) is None:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def prune(layout: Layout, *, keep: int, protect: set[str | None]) -> list[str]:
    """Remove the oldest releases beyond `keep` (never the current one or the one to roll back to)."""
    releases = sorted((p for p in layout.releases.iterdir() if p.is_dir() and not p.name.endswith(".partial")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for old in releases[keep:]:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return removed


def healthz_url(host: str, port: int) -> str:
    """Where this machine's gateway answers, given api.host: a wildcard address is reached on loopback, and an
    IPv6 literal goes in brackets (http://[::1]:8080/, not http://::1:8080/)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = "[" + host.replace("%", "%25") + "]"  # a zone (fe80::1%eth0) is %25-escaped in a URL
    return f"http://{host}:{port}/healthz"


def http_probe(url: str, session: requests.Session | None = None, timeout: float = 3.0) -> Probe:
    """A probe of the gateway's /healthz (200 healthy, 503 degraded or unprovisioned)."""
    http = session or requests.Session()

    def probe() -> Snapshot | None:
        try:
            body = http.get(url, timeout=timeout).json()
        except (requests.RequestException, ValueError):
            return None
        subsystems = body.get("subsystems") or {}
        failing = frozenset(n for n, s in subsystems.items() if isinstance(s, dict) and not s.get("ok", True))
        return Snapshot(str(body.get("version")), str(body.get("status")), failing)

    return probe


def systemctl_restart(unit: str = "edge-gateway.service") -> Callable[[], None]:
    def restart() -> None:
        # A release that crash-loops uses up StartLimitBurst within seconds, after which systemd refuses to start
        # the unit at all, the rollback's restart included: forget the failures first.
        subprocess.run(["systemctl", "reset-failed", unit], check=False, timeout=60)
        subprocess.run(["systemctl", "restart", unit], check=True, timeout=300)

    return restart


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """One update at a time (systemd/install.sh takes the same lock)."""
    try:
        layout.releases.mkdir(parents=True, exist_ok=True)
        fd = open(layout.root / ".update.lock", "w")  # noqa: SIM115 - held for the whole update
    except OSError as e:
        raise UpdateError(f"cannot write {layout.root}: {e.strerror} (run it with sudo)") from None
    with fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("another `edge update` (or systemd/install.sh) is running") from None
        yield


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise UpdateError(f"{' '.join(cmd[:3])} ... failed:\n" + "\n".join(tail))
