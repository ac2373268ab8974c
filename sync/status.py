"""What sync is doing, read from the database (so `edge sync status` works whether or not the gateway runs), plus
the running gateway's live counters for /metrics and /healthz."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.clock import parse_rfc3339
from edge.reader import EventReader
from sync.state import URGENT_MAX_RANK, load_timebase

REJECTED_SHOWN = 20


@dataclass
class Snapshot:
    backlog: int = 0  # events not yet acknowledged (not counting rejected ones)
    urgent_backlog: int = 0  # of which critical and high
    oldest_unsent_seq: int | None = None
    oldest_unsent_ts: str | None = None
    oldest_unsent_age_s: float | None = None
    last_success_ts: str | None = None
    last_error: str | None = None
    last_error_ts: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    rejected_batches: int = 0
    rejected_events: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the newest REJECTED_SHOWN
    pull_through: int = 0
    pull_ts: str | None = None
    clock_synchronised: bool | None = None  # for the newest boot: has its clock been found synchronised (or trusted)?
    clock_synced_ts: str | None = None  # when it was found (None with clock = "trusted")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot(reader: EventReader, now: datetime, *, trusted_clock: bool, boot: int | None = None,
             mono_now: float | None = None) -> Snapshot:
    """Sync's state from the database. With `boot` and `mono_now` (in the running gateway) the age of an unsent
    event of this boot comes from the monotonic clock, which is right even before the wall clock is."""
    s = Snapshot()
    for urgent, n in reader.query(f"SELECT priority <= {URGENT_MAX_RANK}, count(*) FROM events WHERE synced = 0 "
                                  "GROUP BY 1"):
        s.backlog += n
        s.urgent_backlog += n if urgent else 0
    oldest = reader.query("SELECT seq, ts, kind, source, priority, data, boot, mono FROM events WHERE synced = 0 "
                          "ORDER BY seq LIMIT 1")
    if oldest:
        row = oldest[0]
        fixed = load_timebase(reader, trusted_clock).clock_fields(row)
        s.oldest_unsent_seq, s.oldest_unsent_ts = row[0], fixed[0] if fixed else row[1]
        if boot is not None and mono_now is not None and row[6] == boot and row[7] is not None:
            s.oldest_unsent_age_s = round(max(0.0, mono_now - row[7]), 3)
        else:
            s.oldest_unsent_age_s = round((now - parse_rfc3339(s.oldest_unsent_ts)).total_seconds(), 3)
    meta = dict(reader.query("SELECT key, value FROM meta WHERE key LIKE 'sync.%'"))
    s.last_success_ts, s.last_error = meta.get("sync.last_success_ts"), meta.get("sync.last_error")
    s.last_error_ts, s.pull_ts = meta.get("sync.last_error_ts"), meta.get("sync.pull_ts")
    s.pull_through = int(meta.get("sync.pull_through", 0))
    _batches(reader, s)
    if trusted_clock:  # an RTC keeps the clock: it is right from power-on, and no event is flagged
        s.clock_synchronised = True
    return s


def _batches(reader: EventReader, s: Snapshot) -> None:
    try:
        rows = reader.query("SELECT key, lane, events, created_ts FROM sync_batches WHERE state = 'pending'")
        s.pending = [dict(zip(("key", "lane", "events", "since"), r, strict=True)) for r in rows]
        s.rejected_batches, s.rejected_events = reader.query(
            "SELECT count(*), coalesce(sum(events), 0) FROM sync_batches WHERE state = 'rejected'")[0]
        rows = reader.query("SELECT key, lane, events, status, reason, updated_ts FROM sync_batches "
                            "WHERE state = 'rejected' ORDER BY updated_ts DESC LIMIT ?", (REJECTED_SHOWN,))
        s.rejected = [dict(zip(("key", "lane", "events", "status", "reason", "ts"), r, strict=True)) for r in rows]
        anchor = reader.query("SELECT a.found_ts FROM boots b LEFT JOIN clock_anchors a ON a.boot = b.id "
                              "ORDER BY b.id DESC LIMIT 1")
    except sqlite3.OperationalError:  # sync has never run on this database
        return
    if anchor:
        s.clock_synchronised, s.clock_synced_ts = anchor[0][0] is not None, anchor[0][0]


def _unix(ts: str | None) -> float:
    return parse_rfc3339(ts).timestamp() if ts else 0.0


class SyncCollector(Collector):
    """/metrics for sync: `read()` gives a fresh Snapshot, `live()` the running push counters (or None)."""

    def __init__(self, read: Callable[[], Snapshot], live: Callable[[], Any | None]) -> None:
        self._read, self._live = read, live

    def collect(self) -> Iterable[Metric]:
        s = self._read()
        backlog = GaugeMetricFamily("edge_sync_backlog_events", "Events not yet acknowledged upstream",
                                    labels=["lane"])
        backlog.add_metric(["urgent"], s.urgent_backlog)
        backlog.add_metric(["backlog"], s.backlog - s.urgent_backlog)
        yield backlog
        yield GaugeMetricFamily("edge_sync_oldest_unsent_age_seconds", "Age of the oldest unacknowledged event",
                                value=s.oldest_unsent_age_s or 0.0)
        yield GaugeMetricFamily("edge_sync_last_success_timestamp_seconds", "Unix time of the last acknowledged "
                                "batch (0: never)", value=_unix(s.last_success_ts))
        yield GaugeMetricFamily("edge_sync_last_error_timestamp_seconds", "Unix time of the last failed attempt "
                                "(0: never)", value=_unix(s.last_error_ts))
        info = GaugeMetricFamily("edge_sync_last_error_info", "The last sync error, as a label", labels=["error"])
        if s.last_error:
            info.add_metric([s.last_error[:200]], 1)
        yield info
        yield GaugeMetricFamily("edge_sync_rejected_batches", "Batches upstream rejected (parked, kept)",
                                value=s.rejected_batches)
        yield GaugeMetricFamily("edge_sync_rejected_events", "Events in rejected batches", value=s.rejected_events)
        yield GaugeMetricFamily("edge_sync_pull_acked_through", "Seq through which a puller acknowledged",
                                value=s.pull_through)
        yield GaugeMetricFamily("edge_sync_clock_synchronised", "1 once this boot's clock was found synchronised",
                                value=1.0 if s.clock_synchronised else 0.0)
        live = self._live()
        if live is not None:
            yield from _live_metrics(live)


def _live_metrics(stats: Any) -> Iterable[Metric]:
    yield GaugeMetricFamily("edge_sync_lag_seconds", "From recording the newest event of the last acknowledged "
                            "batch to its acknowledgement", value=stats.lag_s or 0.0)
    batches = CounterMetricFamily("edge_sync_batches", "Push attempts by lane and outcome",
                                  labels=["lane", "outcome"])
    for (lane, outcome), n in sorted(stats.batches.items()):
        batches.add_metric([lane, outcome], n)
    yield batches
    events = CounterMetricFamily("edge_sync_events", "Events acknowledged or rejected by upstream",
                                 labels=["lane", "outcome"])
    for (lane, outcome), n in sorted(stats.events.items()):
        events.add_metric([lane, outcome], n)
    yield events
    sent = CounterMetricFamily("edge_sync_sent_bytes", "Bytes of acknowledged batches", labels=["encoding"])
    sent.add_metric(["gzip"], stats.wire_bytes)
    sent.add_metric(["identity"], stats.raw_bytes)
    yield sent
    up = 1.0 if stats.last_success_ts and (stats.last_error_ts or 0) <= stats.last_success_ts else 0.0
    yield GaugeMetricFamily("edge_sync_up", "1 when the last push attempt succeeded", value=up)


def age_text(seconds: float | None) -> str:
    """1d 3h, 2h 5m, 4m 10s, 7s."""
    if seconds is None:
        return "-"
    left, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def health(s: Snapshot, *, pushing: bool, degraded_after: float) -> dict[str, Any]:
    """The /healthz section: degraded when the oldest unsent event is older than the threshold (when pull-only,
    only once a puller has come: a gateway nobody pulls from is not expected to be acknowledged)."""
    stale = s.oldest_unsent_age_s is not None and s.oldest_unsent_age_s > degraded_after
    watched = pushing or s.pull_ts is not None
    return {"ok": not (stale and watched), "mode": "push" if pushing else "pull", "backlog": s.backlog,
            "oldest_unsent_age_s": s.oldest_unsent_age_s, "last_success": s.last_success_ts,
            "last_error": s.last_error, "rejected_batches": s.rejected_batches}


class Cached:
    """A snapshot reused for `ttl` seconds: /healthz and /metrics may be polled often; counting is not free."""

    def __init__(self, read: Callable[[], Snapshot], ttl: float, monotonic: Callable[[], float]) -> None:
        self._read, self._ttl, self._mono = read, ttl, monotonic
        self._value: Snapshot | None = None
        self._at = 0.0

    def __call__(self) -> Snapshot:
        now = self._mono()
        if self._value is None or now - self._at >= self._ttl:
            self._value, self._at = self._read(), now
        return self._value
