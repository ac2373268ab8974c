"""Settings pushed over the local API: the sections subsystems take without a restart (the wristband registry,
the plate whitelist, ...), validated and applied by the same appliers as the central server's downlink, and kept on
disk so that they survive a restart. At start they are applied before the downlink's copy, so the central server
has the last word on a section it manages."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.clock import Clock, rfc3339
from edge.errors import StoreError
from edge.events import EventSink, NewEvent
from edge.files import write_atomic
from sync.downlink import Applier, pushed_at

log = logging.getLogger(__name__)


class UnknownSection(LookupError):
    """No subsystem takes this section."""


class SettingsNotSaved(StoreError):
    """A pushed section could not be kept on disk, so it was not applied (the API answers 503 with the reason)."""


class PushedSettings:
    def __init__(self, path: Path, appliers: Mapping[str, Applier], *, emit: EventSink, clock: Clock) -> None:
        self.path, self.appliers, self.emit, self.clock = path, appliers, emit, clock
        self.pushed: dict[str, dict[str, Any]] = {}  # section -> {"value": raw JSON, "ts": when pushed}

    def load(self) -> None:
        """Apply what was pushed before the restart; an unreadable or no longer valid section is logged and skipped."""
        try:
            self.pushed = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.error("pushed settings %s are unreadable (%s); ignoring them", self.path, e)
            return
        for name, entry in self.pushed.items():
            applier = self.appliers.get(name)
            if applier is None:
                continue  # kept for when the subsystem that takes it is configured again
            try:
                applier.apply(applier.validate(entry["value"]), pushed_at(entry.get("ts")))  # when pushed, not now
            except Exception as e:  # one bad section must not keep the others from being applied
                log.error("pushed section %s not applied at start: %s", name, e)

    async def push(self, name: str, raw: Any, *, by: str = "api") -> dict[str, Any]:
        """Validate (ValueError names the problem), keep on disk, apply, record `gateway.config_applied`. Kept
        before applied: a section that cannot be saved (SettingsNotSaved) is not in effect either, rather than in
        effect until the next restart silently undoes it."""
        applier = self.appliers.get(name)
        if applier is None:
            raise UnknownSection(f"no subsystem takes section {name!r}; these do: {', '.join(sorted(self.appliers))}")
        value, now = applier.validate(raw), self.clock.utcnow()
        before, pushed = self.pushed, {**self.pushed, name: {"value": raw, "ts": rfc3339(now)}}
        try:
            self._save(pushed)
        except OSError as e:
            raise SettingsNotSaved(f"section {name} could not be saved ({e}); nothing changed") from None
        try:
            summary = dict(applier.apply(value, now) or {})
        except Exception:
            self._save(before)  # what is on disk is what is in effect
            raise
        self.pushed = pushed
        try:
            await self.emit(NewEvent("gateway.config_applied", "api",
                                     {"source": by, "applied": {name: summary}, "failed": {}, "ignored": []}))
        except StoreError as e:  # the section is applied and kept: say so, rather than fail a change that was made
            log.error("section %s applied, but its gateway.config_applied event was not stored: %s", name, e)
        return summary

    def _save(self, pushed: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(pushed, ensure_ascii=False), mode=0o600)

    def describe(self) -> dict[str, Any]:
        return {name: {"pushed_ts": self.pushed.get(name, {}).get("ts")} for name in sorted(self.appliers)}
