"""Corridor and street lights: when they must be lit, and pure decisions, readings + time -> events.

A light's sensor says lit or dark; the reading counts only once it has held for `debounce_s` (a flicker or a
passing shadow is not a change). A light that stays dark during its lit hours for `fault_after_s` is a fault,
reported once; it is restored when it is next seen lit in lit hours. Dark outside lit hours (daytime) is never a fault.
A light on the sun's hours is judged only once it is dark outside (civil dusk to dawn), as its sensor sees twilight.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

import astral
import astral.sun

from edge.config import LightConfig, SiteConfig
from edge.events import NewEvent, Priority

SUN_DOWN_DEG = -0.833  # the elevation at which sunrise and sunset are reckoned (refraction, the sun's radius)
CIVIL_DARK_DEG = -6.0  # civil dusk and dawn: below this a sensor under the open sky sees no daylight


def must_be_lit(cfg: LightConfig, at: datetime, site: SiteConfig) -> bool:
    """Whether the light should be on at `at` (aware), by its lit_from/lit_until in the site's time zone."""
    tz = ZoneInfo(site.timezone)
    local = at.astimezone(tz)
    try:
        start = _moment(cfg.lit_from, local.date(), tz, site.latitude, site.longitude)
        end = _moment(cfg.lit_until, local.date(), tz, site.latitude, site.longitude)
    except ValueError:  # polar day or night: no sunset or sunrise today, so go by the sun itself
        observer = astral.Observer(site.latitude or 0.0, site.longitude or 0.0)
        return astral.sun.elevation(observer, at) < SUN_DOWN_DEG
    if start == end:
        return True  # e.g. 00:00 to 00:00: a windowless corridor, always lit
    if start < end:
        return start <= local < end
    return local >= start or local < end  # over midnight


def judged(cfg: LightConfig, at: datetime, site: SiteConfig) -> bool:
    """Whether the light's sensor tells now if the lamp works: in its lit hours, and for a light on the sun's hours
    (a street lamp: its sensor sees the sky) only from civil dusk to civil dawn. In the twilight after sunset and
    before sunrise such a sensor reads lit with the lamp broken: a false light.restored, then a new light.fault once
    it is dark. A light on fixed hours (a corridor) is judged from the first minute of its lit hours."""
    if not must_be_lit(cfg, at, site):
        return False
    if not {cfg.lit_from, cfg.lit_until} & {"sunset", "sunrise"}:
        return True
    return astral.sun.elevation(astral.Observer(site.latitude or 0.0, site.longitude or 0.0), at) < CIVIL_DARK_DEG


@functools.lru_cache(maxsize=256)
def _moment(spec: str, day: date, tz: tzinfo, lat: float | None, lon: float | None) -> datetime:
    """`sunset`, `sunrise` or HH:MM on that local day, as an aware datetime. Sun times need lat/lon (config checks)."""
    if spec in ("sunset", "sunrise"):
        observer = astral.Observer(lat or 0.0, lon or 0.0)
        fn = astral.sun.sunset if spec == "sunset" else astral.sun.sunrise
        return fn(observer, day, tzinfo=tz)
    hh, mm = spec.split(":")
    return datetime.combine(day, time(int(hh), int(mm)), tz)


class LightTracker:
    """One light's debounced state and fault."""

    def __init__(self, cfg: LightConfig, now: float) -> None:
        self.cfg = cfg
        self.lit: bool | None = None  # debounced; None until the first reading has held
        self.expected = False
        self.faulted = False
        self.last_feed: float | None = None
        self._candidate: bool | None = None
        self._candidate_since = now
        self._dark_since: float | None = None
        self._expected_since = now
        self._fault_since = now

    def resume(self, *, fault_since: float | None) -> None:
        """Take up a light.fault the store still has open (after a restart): not raised again, closed by
        light.restored."""
        if fault_since is not None and not self.faulted:
            self._fault_since = fault_since
        self.faulted = fault_since is not None

    def feed(self, lit: bool, expected: bool, now: float) -> list[NewEvent]:
        """A reading (lit or dark) and whether the light is judged (`judged`: in lit hours, dark outside), at `now`."""
        self.last_feed = now
        events: list[NewEvent] = []
        if expected and not self.expected:
            self._expected_since = now
        self.expected = expected
        if self._settle(lit, now):
            events.append(self._event("light.state", {"lit": self.lit, "expected_lit": expected}))
        if self.lit is None:
            return events
        if self.lit:
            if self.faulted and expected:  # in daylight the sensor cannot tell the lamp from the sun
                self.faulted = False
                events.append(self._event("light.restored", {"fault_s": round(now - self._fault_since, 1)}))
            return events
        dark_since = now if self._dark_since is None else self._dark_since
        dark_for = now - max(dark_since, self._expected_since)
        if expected and not self.faulted and dark_for >= self.cfg.fault_after_s:
            self.faulted, self._fault_since = True, now
            events.append(self._event("light.fault", {
                "dark_for_s": round(dark_for, 1), "lit_from": self.cfg.lit_from, "lit_until": self.cfg.lit_until,
            }, Priority.HIGH))
        return events

    def _settle(self, lit: bool, now: float) -> bool:
        """Debounce: a new reading becomes the state once it has held for debounce_s. True when the state changed."""
        if lit == self.lit:
            self._candidate = None
            return False
        if lit != self._candidate:
            self._candidate, self._candidate_since = lit, now
        if now - self._candidate_since < self.cfg.debounce_s:
            return False
        self.lit, self._candidate = lit, None
        self._dark_since = None if lit else self._candidate_since
        return True

    def _event(self, kind: str, extra: dict[str, object], priority: Priority = Priority.NORMAL) -> NewEvent:
        return NewEvent(kind, self.cfg.name, {"light": self.cfg.name} | extra, priority)
