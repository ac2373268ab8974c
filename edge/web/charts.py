"""The staff console's charts as numbers: parking occupancy over the day, bin fill over the week.

Pure: readings in, buckets out, in the site's time zone. The page draws them as inline SVG.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def _bucket_starts(now: datetime, tz: str, hours: int, count: int) -> list[datetime]:
    """`count` buckets of `hours` each, the last one holding `now`; aligned to local hours, counted in UTC (so a
    daylight-saving change cannot shift them)."""
    local = now.astimezone(ZoneInfo(tz))
    last = local.replace(minute=0, second=0, microsecond=0, hour=local.hour - local.hour % hours).astimezone(UTC)
    return [last - timedelta(hours=hours * i) for i in range(count - 1, -1, -1)]


def _index(starts: list[datetime], ts: datetime, hours: int) -> int | None:
    if not starts or ts < starts[0]:
        return None
    i = int((ts - starts[0]).total_seconds() // (hours * 3600))
    return i if i < len(starts) else None


def occupancy_by_hour(readings: Iterable[tuple[datetime, int, int]], *, now: datetime, tz: str,
                      hours: int = 24) -> dict[str, Any]:
    """readings: (when, free, total) of the whole car park. Mean occupied share per hour, in percent."""
    starts = _bucket_starts(now, tz, 1, hours)
    sums: dict[int, list[float]] = defaultdict(list)
    for ts, free, total in readings:
        i = _index(starts, ts, 1)
        if i is not None and total > 0:
            sums[i].append(100.0 * (total - free) / total)
    zone = ZoneInfo(tz)
    return {"labels": [s.astimezone(zone).strftime("%H:%M") for s in starts],
            "values": [round(sum(v) / len(v), 1) if (v := sums.get(i)) else None for i in range(len(starts))]}


def bin_fill_by_period(readings: Iterable[tuple[str, datetime, float]], *, now: datetime, tz: str,
                       days: int = 7, hours: int = 3) -> dict[str, Any]:
    """readings: (bin, when, level_pct). The highest level per bin in each period of `hours` over `days`."""
    starts = _bucket_starts(now, tz, hours, days * 24 // hours)
    top: dict[str, dict[int, float]] = defaultdict(dict)
    for name, ts, level in readings:
        i = _index(starts, ts, hours)
        if i is not None:
            top[name][i] = max(level, top[name].get(i, 0.0))
    zone = ZoneInfo(tz)
    return {"labels": [s.astimezone(zone).strftime("%m-%d %H:%M") for s in starts],
            "series": {name: [round(v[i], 1) if i in v else None for i in range(len(starts))]
                       for name, v in sorted(top.items())}}
