"""What the staff console shows, read from the store: alerts, wristbands not heard lately, the gate log, charts.

Staff are logged in, so this may show flats, plates and health fields; the public page never uses this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from edge.clock import parse_rfc3339, rfc3339
from edge.reader import EventReader
from edge.web import charts
from edge.web.projection import parse_zones

GATE_KINDS = ("gate.opened", "plate.visitor", "plate.read")
GATE_FIELDS = ("plate", "direction", "confidence", "color")
ACKED_SHOWN = 20


def alerts(store: EventReader, *, now: datetime) -> list[dict[str, Any]]:
    """Open alerts (critical first, newest first within a priority), then the latest acknowledged ones."""
    found = store.alerts(state="open") + store.alerts(state="acked", limit=ACKED_SHOWN)
    out = []
    for a in found:
        d = a.to_dict(store.device_id)
        d["flat"] = a.data.get("flat") if isinstance(a.data.get("flat"), str) else None
        d["age_s"] = max(0, round((now - a.opened_ts).total_seconds()))
        out.append(d)
    return out


_LAST_HEARD = ("SELECT seq, ts, source, data FROM events WHERE seq IN (SELECT max(seq) FROM events "
               "WHERE kind >= 'wristband.' AND kind < 'wristband/' AND kind != 'wristband.missing' GROUP BY source)")


def wristbands(store: EventReader, *, now: datetime, unseen_after: timedelta) -> dict[str, Any]:
    """Bands not heard for `unseen_after` (or with an open wristband.missing alert), longest silent first."""
    heard, silent = 0, {}
    for _seq, ts, source, data in store.query(_LAST_HEARD):
        when = parse_rfc3339(ts)
        if now - when < unseen_after:
            heard += 1
            continue
        d = json.loads(data)
        silent[source] = {"source": source, "band": d.get("band"), "flat": d.get("flat"), "last_heard": ts,
                          "silent_s": round((now - when).total_seconds()), "missing_alert": False}
    for a in store.alerts(state="open"):
        if a.kind == "wristband.missing":
            entry = silent.setdefault(a.source, {"source": a.source, "band": a.data.get("band"),
                                                 "flat": a.data.get("flat"), "last_heard": None, "silent_s": None})
            entry["missing_alert"] = True
    bands = sorted(silent.values(), key=lambda b: -(b["silent_s"] if b["silent_s"] is not None else 1e12))
    return {"heard_recently": heard, "silent": bands, "unseen_after_s": round(unseen_after.total_seconds())}


def gate_log(store: EventReader, *, limit: int = 30) -> list[dict[str, Any]]:
    rows = []
    for kind in GATE_KINDS:
        rows += store.query("SELECT seq, ts, kind, source, data FROM events WHERE kind = ? "
                            "ORDER BY seq DESC LIMIT ?", (kind, limit))
    out = []
    for seq, ts, kind, source, data in sorted(rows, reverse=True)[:limit]:
        d = json.loads(data)
        out.append({"seq": seq, "ts": ts, "kind": kind, "source": source,
                    **{k: d.get(k) for k in GATE_FIELDS if k in d}})
    return out


def device(store: EventReader) -> dict[str, Any]:
    """The store's figures (what is not yet synced) and the gateway's latest self-report."""
    st = store.stats()
    row = store.query("SELECT ts, data FROM events WHERE kind = 'gateway.health' ORDER BY seq DESC LIMIT 1")
    return {"store": {k: getattr(st, k) for k in ("events", "unsynced", "used_bytes", "max_bytes", "last_seq",
                                                   "open_alerts", "evicted")},
            "report": {"ts": row[0][0], **json.loads(row[0][1])} if row else None}


def chart_data(store: EventReader, *, now: datetime, tz: str) -> dict[str, Any]:
    return {"occupancy_day": charts.occupancy_by_hour(_occupancy(store, now - timedelta(hours=25)), now=now, tz=tz),
            "bins_week": charts.bin_fill_by_period(_bin_levels(store, now - timedelta(days=8)), now=now, tz=tz)}


def _occupancy(store: EventReader, since: datetime) -> Iterator[tuple[datetime, int, int]]:
    for ts, data in store.query("SELECT ts, data FROM events WHERE kind = 'parking.summary' AND ts >= ?",
                                (rfc3339(since),)):
        zones = parse_zones(json.loads(data).get("zones"))
        if zones:
            yield parse_rfc3339(ts), sum(z[0] for z in zones.values()), sum(z[1] for z in zones.values())


def _bin_levels(store: EventReader, since: datetime) -> Iterator[tuple[str, datetime, float]]:
    """The highest level per bin and UTC hour, aggregated by SQLite (a week of readings is many rows)."""
    sql = ("SELECT source, substr(ts, 1, 13), max(json_extract(data, '$.level_pct')) FROM events "
           "WHERE kind = 'bin.level' AND ts >= ? GROUP BY source, substr(ts, 1, 13)")
    for source, hour, level in store.query(sql, (rfc3339(since),)):
        if isinstance(level, (int, float)):
            yield source, parse_rfc3339(hour + ":00:00Z"), float(level)
