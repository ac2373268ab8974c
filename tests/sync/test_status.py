"""What /healthz says about sync (pure), and the status read from a database sync has never touched."""

from __future__ import annotations

from sync.status import Snapshot, age_text, health, snapshot


def test_health_is_degraded_only_when_unsent_events_are_too_old():
    fresh, stale = Snapshot(backlog=5, oldest_unsent_age_s=10), Snapshot(backlog=5, oldest_unsent_age_s=7200)
    assert health(fresh, pushing=True, degraded_after=3600)["ok"] is True
    assert health(stale, pushing=True, degraded_after=3600)["ok"] is False
    assert health(Snapshot(), pushing=True, degraded_after=3600)["ok"] is True


def test_pull_only_is_degraded_only_once_a_puller_has_come():
    stale = Snapshot(backlog=5, oldest_unsent_age_s=7200)
    assert health(stale, pushing=False, degraded_after=3600)["ok"] is True  # nobody pulls: nothing expected
    stale.pull_ts = "2026-11-23T08:00:00.000Z"
    assert health(stale, pushing=False, degraded_after=3600)["ok"] is False


def test_status_of_a_database_sync_never_ran_on(store, clock):
    from edge.events import NewEvent

    store.append([NewEvent("bin.level", "bin-1", {"level_pct": 1})])
    clock.advance(90)
    s = snapshot(store, clock.utcnow(), trusted_clock=False)
    assert (s.backlog, s.oldest_unsent_seq, s.oldest_unsent_age_s) == (1, 1, 90.0)
    assert s.rejected_batches == 0 and s.pending == [] and s.clock_synchronised is None


def test_a_trusted_clock_is_synchronised(store, clock):
    from sync.state import SyncState
    from sync.status import SyncCollector

    SyncState(store, clock).create()  # sync ran, and no clock anchor was ever recorded (none is, when trusted)
    s = snapshot(store, clock.utcnow(), trusted_clock=True)
    assert s.clock_synchronised is True and s.clock_synced_ts is None
    [metric] = [m for m in SyncCollector(lambda: s, lambda: None).collect() if m.name == "edge_sync_clock_synchronised"]
    assert metric.samples[0].value == 1.0
    assert snapshot(store, clock.utcnow(), trusted_clock=False).clock_synchronised is False
    from edge.commands.sync import status_lines

    [line] = [x for x in status_lines("pull-only", s) if x.startswith("clock")]
    assert line.endswith('trusted (clock = "trusted": a real-time clock)'), line


def test_age_text():
    assert [age_text(x) for x in (None, 0, 59, 61, 3600, 90061)] == ["-", "0s", "59s", "1m 1s", "1h", "1d 1h"]
