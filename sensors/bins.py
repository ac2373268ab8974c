"""Trash-bin fill level from ultrasonic distance readings: pure decisions, readings + time -> events.

The sensor sits in the lid looking down: the nearer the rubbish, the fuller the bin. Echoes that cannot be the
bin (nothing, nearer than the sensor can measure, deeper than the bin) are rejected, and the level is the median of
the recent good ones, so a lid left open or a passing hand does not move it. A sensor that gives no good echo for
`fault_after_s` is reported once as a fault instead of as levels.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Iterable
from typing import Literal

from edge.config import BinConfig
from edge.events import NewEvent, Priority

MIN_RANGE_M = 0.02  # HC-SR04: nothing nearer can be measured
MAX_RANGE_M = 4.0  # HC-SR04: nothing farther either
TOLERANCE_M = 0.05  # a little deeper than the empty bin is still the bottom (uneven floor, tilted lid)
WINDOW = 15  # good readings in the median

Verdict = Literal["ok", "no_echo", "out_of_range"]


def level_pct(distance_m: float, cfg: BinConfig) -> float:
    """Fill level from the distance to the rubbish: 0 at the empty depth, 100 at the full distance."""
    span = cfg.empty_depth_m - cfg.full_distance_m
    return max(0.0, min(100.0, (cfg.empty_depth_m - distance_m) / span * 100.0))


def judge(distance_m: float | None, cfg: BinConfig) -> Verdict:
    """Whether a reading can be the rubbish in this bin."""
    if distance_m is None:
        return "no_echo"
    if not MIN_RANGE_M <= distance_m <= min(cfg.empty_depth_m + TOLERANCE_M, MAX_RANGE_M - 1e-6):
        return "out_of_range"
    return "ok"


class BinTracker:
    """One bin's state: level, full (raised once per filling, hysteresis down to emptied_pct), sensor fault."""

    def __init__(self, cfg: BinConfig, now: float) -> None:
        self.cfg = cfg
        self.window: deque[float] = deque(maxlen=WINDOW)
        self.full = False
        self.faulted = False
        self.last_valid = now  # a sensor that never answers is a fault fault_after_s after start
        self.last_report: float | None = None
        self.last_feed: float | None = None
        self._above_since: float | None = None
        self._below_since: float | None = None
        self._fault_since = now
        self._bad: Counter[str] = Counter()

    @property
    def level(self) -> float | None:
        """The current level (median of recent good readings), None while there are none."""
        if self.faulted or not self.window:
            return None
        return round(level_pct(self.distance or 0.0, self.cfg), 1)

    @property
    def distance(self) -> float | None:
        return statistics.median(self.window) if self.window else None

    def resume(self, *, full: bool, fault_since: float | None) -> None:
        """Take up the alerts the store still has open (after a restart): a full bin is not raised again and is
        emptied with bin.emptied; a faulty sensor (at fault_since) is not raised again and answers with bin.sensor_ok.
        """
        if full != self.full:
            self.full, self._above_since, self._below_since = full, None, None
        if fault_since is not None and not self.faulted:
            self.window.clear()
            self._fault_since = fault_since
        self.faulted = fault_since is not None

    def feed(self, readings: Iterable[float | None], now: float) -> list[NewEvent]:
        """Take the readings since the last call; return the events they cause."""
        self.last_feed = now
        good: list[float] = []
        for d in readings:
            verdict = judge(d, self.cfg)
            if verdict == "ok" and d is not None:
                good.append(d)
            else:
                self._bad[verdict] += 1
        events: list[NewEvent] = []
        if not good:
            if not self.faulted and now - self.last_valid >= self.cfg.fault_after_s:
                events.append(self._fault(now))
            return events
        self.last_valid = now
        self._bad.clear()
        self.window.extend(good)
        if self.faulted:
            self.faulted = False
            events.append(self._event("bin.sensor_ok", {"fault_s": round(now - self._fault_since, 1)}))
        events += self._rule(now)
        if self.last_report is None or now - self.last_report >= self.cfg.interval_s:
            self.last_report = now
            events.append(self._event("bin.level", {"distance_m": round(self.distance or 0.0, 3)}))
        return events

    def _rule(self, now: float) -> list[NewEvent]:
        """Full once the level stays >= full_pct for full_after_s; emptied once it stays < emptied_pct."""
        level, cfg = self.level or 0.0, self.cfg
        if not self.full:
            self._above_since = _since(self._above_since, level >= cfg.full_pct, now)
            if self._above_since is not None and now - self._above_since >= cfg.full_after_s:
                self.full, self._below_since = True, None
                return [self._event("bin.full", {"threshold_pct": cfg.full_pct}, Priority.HIGH)]
        else:
            self._below_since = _since(self._below_since, level < cfg.emptied_pct, now)
            if self._below_since is not None and now - self._below_since >= cfg.emptied_after_s:
                self.full, self._above_since = False, None
                return [self._event("bin.emptied", {})]
        return []

    def _fault(self, now: float) -> NewEvent:
        self.faulted, self._fault_since = True, now
        self.window.clear()
        self._above_since = self._below_since = None
        reason = self._bad.most_common(1)[0][0] if self._bad else "no_echo"
        return self._event("bin.sensor_fault", {
            "reason": reason, "silent_s": round(now - self.last_valid, 1), "rejected": sum(self._bad.values()),
        }, Priority.HIGH)

    def _event(self, kind: str, extra: dict[str, object], priority: Priority = Priority.NORMAL) -> NewEvent:
        data: dict[str, object] = {"bin": self.cfg.name}
        if kind != "bin.sensor_fault":
            data["level_pct"] = self.level
        return NewEvent(kind, self.cfg.name, data | extra, priority)


def _since(since: float | None, holds: bool, now: float) -> float | None:
    """When a condition started holding (kept while it holds), None when it does not."""
    if not holds:
        return None
    return now if since is None else since
