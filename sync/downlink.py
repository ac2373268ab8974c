"""Downlink: settings the central server keeps for this gateway, applied without a restart.

`GET {upstream.url}/v1/gateways/{device_id}/config` (with If-None-Match) returns a JSON object of sections, e.g.
`{"wristbands": [...], "plate_whitelist": [...], "thresholds": {...}}`. Subsystems hook the sections they own by
registering an `Applier` in `Services.config_appliers` (section name -> Applier). A new document is applied only
when every section that has an applier validates; then each applier gets its section, the document is kept on
disk as the last good copy (applied again at the next start, before the network is up), and a
`gateway.config_applied` event says what was applied. A bad document changes nothing and raises one
`gateway.config_rejected` event per version (ETag).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from edge.clock import Clock, parse_rfc3339, rfc3339
from edge.events import EventSink, NewEvent, Priority
from edge.files import write_atomic
from sync.client import UpstreamClient, in_daemon_thread
from sync.errors import DownlinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applier:
    """How a subsystem takes its section: `validate(raw)` returns the checked value or raises ValueError (with a
    message naming what is wrong); `apply(value, pushed_at)` puts it into effect at once and returns a short summary
    for the event (e.g. {"bands": 42}). `pushed_at` is when the value was pushed or received (a copy applied again
    at start keeps its time), None when a saved copy does not say. `apply` runs on the event loop: keep it quick."""

    validate: Callable[[Any], Any]
    apply: Callable[[Any, datetime | None], Mapping[str, Any] | None]


def pushed_at(saved: object) -> datetime | None:
    """The push time kept with a saved copy, or None when it has none (copies saved before it was kept) or it is
    not a time."""
    try:
        return parse_rfc3339(saved) if isinstance(saved, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Checked:
    values: dict[str, Any]
    ignored: list[str]  # sections no subsystem has hooked (kept in the copy for when one does)


def check(document: Any, appliers: Mapping[str, Applier]) -> Checked:
    """Validate every hooked section (pure); DownlinkError lists every problem."""
    if not isinstance(document, dict):
        raise DownlinkError("the config document must be a JSON object of sections")
    values, problems = {}, []
    for name, raw in document.items():
        applier = appliers.get(name)
        if applier is None:
            continue
        try:
            values[name] = applier.validate(raw)
        except (ValueError, TypeError) as e:
            problems.append(f"section {name}: {e}")
    if problems:
        raise DownlinkError("; ".join(problems))
    return Checked(values, sorted(set(document) - set(appliers)))


@dataclass
class DownlinkStatus:
    etag: str | None = None
    applied_ts: str | None = None
    last_error: str | None = None
    rejected_etags: set[str] = field(default_factory=set)


class Downlink:
    def __init__(self, client: UpstreamClient, appliers: Mapping[str, Applier], copy_path: Path, *,
                 emit: EventSink, clock: Clock, every: float) -> None:
        self.client, self.appliers, self.copy_path = client, appliers, copy_path
        self.emit, self.clock, self.every = emit, clock, every
        self.status = DownlinkStatus()

    async def run(self) -> None:
        await self.load_copy()
        while True:
            await self.fetch()
            await asyncio.sleep(self.every)

    async def load_copy(self) -> None:
        """Apply the last good copy from disk (the network may be down for hours after a power cut)."""
        try:
            saved = json.loads(self.copy_path.read_text(encoding="utf-8"))
            document, etag = saved["config"], saved.get("etag")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("last good downlink copy %s is unreadable (%s); waiting for upstream", self.copy_path, e)
            return
        await self._apply(document, etag, source="disk", at=pushed_at(saved.get("saved_ts")), save=False)

    async def fetch(self) -> None:
        try:
            reply = await in_daemon_thread(self.client.get_config, self.status.etag)  # shutdown does not wait for it
        except (requests.RequestException, ValueError) as e:
            self.status.last_error = f"{type(e).__name__}: {e}"[:300]
            log.info("downlink fetch failed: %s", self.status.last_error)
            return
        if reply.status == 304:
            return
        await self._apply(reply.document, reply.etag, source="upstream", at=self.clock.utcnow(), save=True)

    async def _apply(self, document: Any, etag: str | None, *, source: str, at: datetime | None,
                     save: bool) -> None:
        try:
            checked = check(document, self.appliers)
        except DownlinkError as e:
            self.status.last_error = str(e)[:500]
            if (etag or "") not in self.status.rejected_etags:
                self.status.rejected_etags.add(etag or "")
                log.error("downlink config %s rejected: %s", etag, e)
                await self.emit(NewEvent("gateway.config_rejected", "sync",
                                         {"etag": etag, "source": source, "reason": str(e)[:1000]}, Priority.HIGH))
            return
        if save:
            saved = {"etag": etag, "saved_ts": rfc3339(at) if at else None, "config": document}
            await asyncio.to_thread(_save, self.copy_path, saved)
        applied, failed = {}, {}
        for name, value in checked.values.items():
            try:
                applied[name] = dict(self.appliers[name].apply(value, at) or {})
            except Exception as e:  # one subsystem's failure must not stop the others from taking theirs
                log.exception("applying downlink section %s failed", name)
                failed[name] = f"{type(e).__name__}: {e}"[:300]
        self.status.etag, self.status.applied_ts = etag, rfc3339(self.clock.utcnow())
        self.status.last_error = None if not failed else json.dumps(failed)
        await self.emit(NewEvent("gateway.config_applied", "sync", {
            "etag": etag, "source": source, "applied": applied, "failed": failed, "ignored": checked.ignored},
            Priority.HIGH if failed else Priority.NORMAL))


def _save(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(doc, ensure_ascii=False))
