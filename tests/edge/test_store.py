import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import FakeClock
from edge.errors import EventError, StoreError, StoreFullError
from edge.events import NewEvent, Priority
from edge.reader import EventReader
from edge.store import EVICT_TO, EventStore, _used_bytes


def ev(kind="bin.level", source="bin-1", priority=Priority.NORMAL, **data):
    return NewEvent(kind, source, data or {"level_pct": 42.0}, priority)


def open_store(path, clock, **kw):
    return EventStore.open(path, device_id="t-gw1", building_id="b01", clock=clock, **kw)


def test_append_returns_contract_events_in_seq_order(store):
    stored = store.append([ev(), ev(source="bin-2")])
    assert stored.ids == ["t-gw1:1", "t-gw1:2"]
    got = [e.to_dict() for e in store.events()]
    assert [e["seq"] for e in got] == [1, 2]
    assert got[0] == {
        "id": "t-gw1:1", "device_id": "t-gw1", "building_id": "b01", "seq": 1, "ts": "2026-01-01T00:00:00.000Z",
        "kind": "bin.level", "source": "bin-1", "priority": "normal", "data": {"level_pct": 42.0},
    }
    assert [e.seq for e in store.events(after=1)] == [2]
    assert store.events(kind="bin.full") == []


def test_a_bad_event_stores_nothing_of_its_batch(store):
    with pytest.raises(EventError, match="kind 'Bad Kind'"):
        store.append([ev(), NewEvent("Bad Kind", "x")])
    with pytest.raises(EventError, match="not JSON"):
        store.append([ev(), NewEvent("a.b", "x", {"v": float("nan")})])
    assert store.events() == []


def test_seq_is_never_reused_across_restarts_even_when_newest_rows_are_gone(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev() for _ in range(5)])
    s.write(lambda conn: conn.execute("DELETE FROM events WHERE seq >= 3"))  # as eviction might
    s.close()
    s = open_store(path, clock)
    assert s.append([ev()])[0].seq == 6
    s.close()


def test_seq_goes_on_after_the_writer_itself_evicted_the_newest_events(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock, max_mb=1)
    # critical events past the 90 % that eviction goes down to, but under the bound, so the normal events below are
    # taken and then all evicted (fixed at 235 they alone could be over the bound, and whether the normal ones were
    # refused depended on when the writer had checked)
    crit = 0
    while s.write(_used_bytes) <= EVICT_TO * s.max_bytes:
        s.append([ev("wristband.sos", f"band-{crit + i}", Priority.CRITICAL, blob="s" * 4000) for i in range(5)])
        crit += 5
    assert s.write(_used_bytes) < s.max_bytes
    # past 1 MB appended the writer checks the bound on its own; only these normal events can go, newest included
    newest = s.append([ev(blob="n" * 4000) for _ in range(30)])
    for _ in range(500):
        if s.stats().evicted >= 30:
            break
        threading.Event().wait(0.01)
    assert s.stats().by_priority == {"critical": crit}
    s.close()
    s = open_store(path, clock, max_mb=1)
    assert s.append([ev("wristband.sos", "band-x", Priority.CRITICAL)])[0].seq == newest[-1].seq + 1
    s.close()


def test_seq_survives_a_lost_database_through_the_lease(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev() for _ in range(10)])
    s.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"edge.db{suffix}").unlink(missing_ok=True)
    s = open_store(path, clock)
    assert s.append([ev()])[0].seq > 10
    s.close()


def test_concurrent_appends_are_group_committed_and_all_stored(store):
    out: list[list[str]] = []

    def worker():
        ids = []
        for _ in range(50):
            ids += store.append([ev() for _ in range(10)]).ids
        out.append(ids)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for ids in out for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 4000
    seqs = [r[0] for r in store.query("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 4001))
    for ids in out:  # each caller's seqs increase in the order it appended
        nums = [int(i.split(":")[1]) for i in ids]
        assert nums == sorted(nums)


def test_corrupt_database_is_moved_aside_and_a_fresh_one_started(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev() for _ in range(3)])
    s.close()
    path.write_bytes(b"this is not sqlite at all" * 100)
    s = open_store(path, clock)
    aside = list(tmp_path.glob("edge.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not sqlite")
    [recovered] = s.events(kind="gateway.storage_recovered")
    assert recovered.priority is Priority.HIGH and recovered.data["moved_to"] == str(aside[0])
    assert recovered.seq > 3  # the lease kept seqs going forward
    assert [a.kind for a in s.alerts()] == ["gateway.storage_recovered"]
    s.close()


def test_damaged_pages_fail_quick_check_and_are_moved_aside(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev(blob="x" * 2000) for _ in range(200)])
    s.close()
    data = bytearray(path.read_bytes())
    for page in range(2, 12):  # smash b-tree page headers: structure damage that quick_check finds
        data[page * 4096: page * 4096 + 12] = b"\x0d\xff\xff\x7f\xff" + b"\xee" * 7
    path.write_bytes(bytes(data))
    s = open_store(path, clock)
    assert len(list(tmp_path.glob("edge.db.corrupt-*"))) == 1
    assert s.events(kind="gateway.storage_recovered")
    s.close()


def test_a_second_corruption_in_the_same_second_keeps_the_first_file_aside(tmp_path, clock):
    path = tmp_path / "edge.db"
    for text in (b"first broken file", b"second broken file"):
        path.write_bytes(text * 200)
        open_store(path, clock).close()  # the fake clock stands still: both are moved aside in the same second
    aside = [p for p in tmp_path.glob("edge.db.corrupt-*") if not p.name.endswith(("wal", "shm"))]
    kept = sorted(p.read_bytes()[:18] for p in aside)
    assert kept == [b"first broken filef", b"second broken file"]


def test_a_locked_database_is_an_error_and_stays_where_it_is(tmp_path, clock):
    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev() for _ in range(3)])
    s.close()
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="cannot open the database .*locked"):
            open_store(path, clock)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not list(tmp_path.glob("edge.db.corrupt-*"))
    s = open_store(path, clock)
    assert [e.seq for e in s.events()] == [1, 2, 3]
    s.close()


def test_a_failed_write_of_the_seq_lease_leaves_no_transaction_open_and_no_seq_reused(tmp_path, clock,
                                                                                      monkeypatch):
    import edge.store

    path = tmp_path / "edge.db"
    s = open_store(path, clock)
    s.append([ev()])
    s._next_seq = s._lease + 1  # as after 100,000 events: the next commit renews the lease
    real, calls = edge.store._write_lease, []

    def fail_once(p, value):
        calls.append(value)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", str(p))
        real(p, value)

    monkeypatch.setattr(edge.store, "_write_lease", fail_once)
    with pytest.raises(StoreError, match="commit failed.*Permission denied"):
        s.append([ev()])
    stored = s.append([ev()])  # the next commit is not refused "within a transaction", and renews the lease
    assert len(calls) == 2 and int((tmp_path / "edge.db.seq").read_text()) > stored[0].seq
    s.close()


def test_eviction_takes_about_the_excess_not_a_fixed_chunk(tmp_path, clock):
    # filled past 2 MB under a larger bound, then opened with 2 MB: filled under the 2 MB bound itself, the writer
    # evicted on its own as the loop went on, and what the test counted depended on when it had
    s = open_store(tmp_path / "edge.db", clock, max_mb=64)
    while s.stats().used_bytes < 2.1 * 1024 * 1024:
        s.append([ev(level_pct=float(i)) for i in range(500)])
    before = s.stats().events
    s.close()
    s = open_store(tmp_path / "edge.db", clock, max_mb=2)
    s.maintain()
    st = s.stats()
    assert 0 < st.evicted < before // 5  # from 2.1 MB down to about 90 % of 2 MB: a seventh of the events, not 5,000
    assert 0.8 * 2 * 1024 * 1024 <= st.used_bytes <= 2 * 1024 * 1024
    s.close()


def test_a_small_bound_is_checked_often_enough_to_hold(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock, max_mb=0.6)
    most = 0
    for _ in range(200):
        s.append([ev(blob="z" * 500) for _ in range(20)])  # 2 MB in all, the writer alone keeping the bound
        most = max(most, s.stats().used_bytes)
    assert s.stats().evicted and most <= 0.6 * 1024 * 1024 * 1.2
    s.close()


def test_a_pulled_page_is_acknowledged_even_when_its_newest_events_were_evicted_since(tmp_path, clock):
    from sync.pull import acknowledge

    s = open_store(tmp_path / "edge.db", clock)
    s.append([ev() for _ in range(10)])
    s.write(lambda conn: conn.execute("DELETE FROM events WHERE seq > 6"))  # as eviction would
    assert acknowledge(s, 10, clock, served=10) == 6
    with pytest.raises(ValueError, match="beyond the newest event"):
        acknowledge(s, 11, clock, served=11)
    s.close()


def test_an_ack_beyond_what_was_served_marks_nothing_and_a_late_one_of_an_earlier_ack_is_taken(tmp_path, clock):
    from sync.pull import NotServed, acknowledge, pull_cursor

    s = open_store(tmp_path / "edge.db", clock)
    s.append([ev() for _ in range(10)])
    with pytest.raises(NotServed, match="through 8 is beyond the last event served \\(5"):
        acknowledge(s, 8, clock, served=5)
    assert s.query("SELECT count(*) FROM events WHERE synced = 1") == [(0,)] and pull_cursor(s) == 0
    assert acknowledge(s, 5, clock, served=5) == 5
    assert acknowledge(s, 4, clock, served=0) == 0  # after a restart nothing is served yet: the cursor still holds
    with pytest.raises(NotServed):
        acknowledge(s, 6, clock, served=0)
    assert pull_cursor(s) == 5
    s.close()


def test_eviction_keeps_every_critical_and_high_event(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock, max_mb=1)
    blob = "x" * 1000
    for i in range(40):
        batch = [ev(priority=Priority.LOW, blob=blob) for _ in range(20)] + [ev(priority=Priority.NORMAL, blob=blob)]
        if i % 4 == 0:
            batch.append(ev("wristband.sos", f"band-{i}", Priority.CRITICAL, flat="1-101"))
            batch.append(ev("bin.full", f"bin-{i}", Priority.HIGH, level_pct=85))
        s.append(batch)
    s.maintain()
    st = s.stats()
    assert st.used_bytes <= 1024 * 1024
    assert st.evicted > 0
    assert st.by_priority["critical"] == 10 and st.by_priority["high"] == 10
    assert st.by_priority.get("low", 0) < 40 * 20  # low went first
    s.close()


def fill_with_sos(s: EventStore) -> None:
    """300 SOS of 4 KB past a 1 MB bound: the store holds only critical events and refuses the others."""
    for i in range(60):
        s.append([ev("wristband.sos", f"band-{i}", Priority.CRITICAL, blob="y" * 4000) for _ in range(5)])
    s.maintain()


def test_store_full_of_protected_events_refuses_low_priority_but_takes_sos(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock, max_mb=1)
    fill_with_sos(s)
    with pytest.raises(StoreFullError, match="refused"):
        s.append([ev(priority=Priority.LOW)])
    assert s.append([ev("wristband.sos", "band-x", Priority.CRITICAL)])  # SOS is never refused
    assert s.stats().by_priority == {"critical": 301}
    s.close()


def test_store_full_of_protected_events_still_takes_the_events_that_close_open_alerts(tmp_path, clock):
    """bin.emptied or light.restored are sent once: refused, their alerts would stay open for good."""
    s = open_store(tmp_path / "edge.db", clock, max_mb=1)
    s.append([ev("bin.full", "bin-1", Priority.HIGH), ev("light.fault", "street-1", Priority.HIGH)])
    fill_with_sos(s)
    [light] = [a for a in s.alerts() if a.kind == "light.fault"]
    s.ack_alert(light.id, by="warden")  # acknowledged, not yet closed
    with pytest.raises(StoreFullError, match="refused"):
        s.append([ev("bin.emptied", "bin-1"), ev()])  # all or nothing: the reading is refused, so is the batch
    s.append([ev("bin.emptied", "bin-1")])
    s.append([ev("light.restored", "street-1")])
    assert {a.kind: a.state for a in s.alerts(state=None) if a.source in ("bin-1", "street-1")} == {
        "bin.full": "resolved", "light.fault": "resolved"}
    for refused in (ev("bin.emptied", "bin-1"), ev("bin.emptied", "bin-2"), ev("wristband.seen", "band-1")):
        with pytest.raises(StoreFullError, match="refused"):  # they close nothing: no way past the bound
            s.append([refused])
    s.close()


def test_only_the_first_event_closing_an_alert_passes_a_refusal(tmp_path, clock):
    """A client posting bin.emptied again and again for a full bin would spend room kept for SOS: one closes it."""
    s = open_store(tmp_path / "edge.db", clock, max_mb=1)
    s.append([ev("bin.full", "bin-1", Priority.HIGH), ev("bin.full", "bin-2", Priority.HIGH)])
    fill_with_sos(s)
    with pytest.raises(StoreFullError, match="refused"):  # one request, 100 times the same closing event
        s.append([ev("bin.emptied", "bin-1", blob="e" * 16_000) for _ in range(100)])
    # requests queued while the writer is busy each see the alert open; only the first to commit closes it
    inside, busy, taken, refused = threading.Event(), threading.Event(), [], []

    def close_bin_2() -> None:
        try:
            taken.append(s.append([ev("bin.emptied", "bin-2")]))
        except StoreFullError:
            refused.append(1)

    def hold(conn: sqlite3.Connection) -> None:
        inside.set()
        busy.wait(30)

    threading.Thread(target=s.write, args=(hold,), daemon=True).start()
    assert inside.wait(10)  # the writer's group is made: what comes now queues behind it (else one may join it)
    threads = [threading.Thread(target=close_bin_2, daemon=True) for _ in range(5)]
    for t in threads:
        t.start()
    for _ in range(1000):  # all five queued behind the busy writer
        if s._q.qsize() == len(threads):
            break
        threading.Event().wait(0.01)
    busy.set()
    for t in threads:
        t.join()
    assert (len(taken), len(refused)) == (1, 4)
    assert s.append([ev("bin.emptied", "bin-1")])  # the first one still closes its alert
    assert {a.source: a.state for a in s.alerts(state=None) if a.kind == "bin.full"} == {
        "bin-1": "resolved", "bin-2": "resolved"}
    assert s.stats().by_priority["normal"] == 2
    s.close()


def test_retention_removes_only_synced_events_older_than_the_period(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock, retention_days=7)
    s.append([ev() for _ in range(4)])
    s.mark_synced(through=2)
    s.maintain()  # the gateway runs a pass every minute
    clock.advance(timedelta(days=8).total_seconds())
    s.append([ev()])
    assert s.maintain()["expired"] == 2
    assert [e.seq for e in s.events()] == [3, 4, 5]
    s.close()


def test_retention_counts_from_when_the_gateway_stored_an_event_not_from_its_ts(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock, retention_days=7)
    now = clock.utcnow()
    s.append([ev(source="a"), ev(source="b")])
    s.append([NewEvent("bin.level", "years-ago", {}, ts=now - timedelta(days=3 * 365)),
              NewEvent("bin.level", "future", {}, ts=now + timedelta(days=10 * 365))])
    s.mark_synced(through=4)
    assert s.maintain()["expired"] == 0  # stored just now, whatever their ts says
    clock.advance(timedelta(days=1).total_seconds())
    s.append([ev(source="later")])
    s.mark_synced(through=5)
    assert s.maintain()["expired"] == 0
    clock.advance(timedelta(days=6, hours=1).total_seconds())
    assert s.maintain()["expired"] == 4  # a week since they were stored, the future one too
    assert [e.source for e in s.events()] == ["later"]
    clock.advance(timedelta(days=1).total_seconds())
    assert s.maintain()["expired"] == 1
    s.close()


OLDER_MARKS = {  # files as gateways before the running-time marks left them
    "no stored_marks table": ["DROP TABLE stored_marks"],
    "marks of wall time, before NTP set the clock": [
        "DROP TABLE stored_marks", "CREATE TABLE stored_marks (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL)",
        "INSERT INTO stored_marks VALUES (3, '1970-01-01T00:01:00.000Z')"],
}


@pytest.mark.parametrize("older", OLDER_MARKS)
def test_a_file_from_before_the_running_time_marks_keeps_its_events_a_period_from_the_first_pass(tmp_path, clock,
                                                                                                 older):
    path = tmp_path / "edge.db"
    s = open_store(path, clock, retention_days=7)
    s.append([ev() for _ in range(3)])
    s.mark_synced(through=3)
    s.close()
    with sqlite3.connect(path) as conn:
        for sql in OLDER_MARKS[older]:
            conn.execute(sql)
    clock.advance(timedelta(days=30).total_seconds())
    s = open_store(path, clock, retention_days=7)
    assert s.maintain()["expired"] == 0  # when they were stored is not known: no earlier than now
    clock.advance(timedelta(days=7, minutes=1).total_seconds())
    assert s.maintain()["expired"] == 3
    s.close()


def test_retention_counts_running_time_so_a_clock_that_jumps_cannot_hasten_it(tmp_path):
    """A Pi has no battery clock: it starts at the time saved at the last shutdown (here 9 days old), or 1970, and
    NTP steps it later. Marks taken before the step must not make events stored minutes ago look a week old."""
    path = tmp_path / "edge.db"
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    s = open_store(path, clock, retention_days=7, boot_id="boot-1")
    s.append([ev() for _ in range(3)])
    s.mark_synced(through=3)
    s.maintain()
    clock.advance(60)
    clock.set_wall(datetime(2026, 1, 10, tzinfo=UTC))  # NTP's first synchronisation
    assert s.maintain()["expired"] == 0
    s.append([ev()])  # stored after the step, in a mark of its own
    s.mark_synced(through=4)
    s.maintain()
    s.close()
    clock = FakeClock(datetime(1970, 1, 1, tzinfo=UTC))  # the next boot, before NTP, with no saved time at all
    s = open_store(path, clock, retention_days=7, boot_id="boot-2")
    s.append([ev()])
    s.mark_synced(through=5)
    s.maintain()
    clock.advance(60)
    clock.set_wall(datetime(2026, 1, 10, 1, tzinfo=UTC))
    assert s.maintain()["expired"] == 0
    clock.set_wall(datetime(2025, 12, 1, tzinfo=UTC))  # and set back a month: still on time
    clock.advance(timedelta(days=7).total_seconds())
    assert s.maintain()["expired"] == 5
    s.close()


def test_retention_deletes_a_bounded_number_of_events_a_pass(tmp_path, clock, monkeypatch):
    """A backlog synced after a week offline is past the period all at once; one DELETE of all of it is one
    transaction, whose log on a nearly full disk took the reserve kept for SOS (and held the writer meanwhile)."""
    monkeypatch.setattr("edge.store.EXPIRE_CHUNK", 4, raising=False)
    s = open_store(tmp_path / "edge.db", clock, retention_days=7)
    s.append([ev() for _ in range(10)])
    s.mark_synced(through=10)
    s.maintain()
    clock.advance(timedelta(days=8).total_seconds())
    assert [s.maintain()["expired"] for _ in range(4)] == [4, 4, 2, 0]
    s.close()


def test_alerts_open_count_ack_and_resolve(store):
    store.append([ev("wristband.sos", "band-1", Priority.CRITICAL, flat="3-201")])
    store.append([ev("wristband.sos", "band-1", Priority.CRITICAL, flat="3-201")])  # same incident
    store.append([ev("bin.full", "bin-1", Priority.HIGH, level_pct=81)])
    sos, full = store.alerts()
    assert (sos.kind, sos.count, sos.state) == ("wristband.sos", 2, "open")  # critical first
    assert full.kind == "bin.full"
    acked = store.ack_alert(sos.id, by="staff-wang")
    assert acked is not None and acked.state == "acked" and acked.acked_by == "staff-wang"
    assert store.events(kind="alert.acked")[0].data["alert_id"] == sos.id
    store.append([ev("bin.emptied", "bin-1", level_pct=2)])
    assert store.alerts() == []
    assert {a.state for a in store.alerts(state=None)} == {"acked", "resolved"}
    store.append([ev("wristband.sos", "band-1", Priority.CRITICAL)])  # a new press after ack: a new alert
    assert [a.count for a in store.alerts()] == [1]
    assert store.ack_alert(999, by="x") is None


def test_a_request_failing_in_an_unexpected_way_fails_alone_and_the_writer_goes_on(store):
    # an alert id beyond SQLite's INTEGER raises OverflowError inside the writer's transaction
    with pytest.raises(OverflowError):
        store.ack_alert(2**70, by="staff")
    assert store.append([NewEvent("bin.level", "bin-1", {"level_pct": 10})])[0].seq == 1


def test_an_append_failing_in_the_writer_fails_alone_and_the_rest_of_its_group_is_stored(store):
    # A ts that is no datetime passes validation and fails inside the writer's transaction. A group of appends
    # runs without savepoints first, so this checks the group is run again with them and the seqs stay gapless.
    entered, release = threading.Event(), threading.Event()

    def hold(conn):
        entered.set()
        release.wait(10)

    holder = threading.Thread(target=store.write, args=(hold,))
    holder.start()
    assert entered.wait(10)
    out = {}

    def good(i):
        out[i] = store.append([ev()]).ids

    def bad():
        try:
            store.append([NewEvent("bin.level", "bin-1", {}, Priority.NORMAL, "not a time")])
        except Exception as e:  # noqa: BLE001 (whatever the writer raised is handed back)
            out["bad"] = e

    threads = [threading.Thread(target=good, args=(0,)), threading.Thread(target=bad),
               threading.Thread(target=good, args=(1,))]
    for t in threads:
        t.start()
    for _ in range(1000):  # all three wait in the queue: the writer takes them as one group
        if store._q.qsize() == 3:
            break
        threading.Event().wait(0.01)
    assert store._q.qsize() == 3
    release.set()
    for t in [holder, *threads]:
        t.join(10)
    assert isinstance(out["bad"], AttributeError)
    assert sorted(out[0] + out[1]) == ["t-gw1:1", "t-gw1:2"]
    assert [e.seq for e in store.events()] == [1, 2]


def test_reader_sees_what_the_writer_committed(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock)
    s.append([ev() for _ in range(3)])
    r = EventReader.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01")
    assert [e.seq for e in r.events()] == [1, 2, 3]
    assert r.stats().next_seq == 4
    with pytest.raises(sqlite3.OperationalError):
        r.query("DELETE FROM events")  # the reader cannot write
    r.close()
    s.close()


def test_listeners_see_each_commit(store):
    seen = []
    store.add_listener(lambda stored: seen.extend(e.seq for e in stored))
    store.append([ev(), ev()])
    store.ack_alert(1, by="x")
    assert seen == [1, 2]


def test_a_commit_of_several_appends_reaches_listeners_as_one_batch_and_answers_each(store):
    """Appends waiting together are committed together: each caller gets its own events, listeners one batch."""
    from sync.outbox import _urgent_seqs

    batches, release = [], threading.Event()
    store.add_listener(lambda batch: batches.append(batch))
    blocker = threading.Thread(target=store.write, args=(lambda conn: release.wait(10),))
    blocker.start()  # holds the writer, so the appends below queue up and land in one group

    async def appends():
        tasks = [asyncio.create_task(store.aappend([ev(), ev(priority=p)]))
                 for p in (Priority.NORMAL, Priority.CRITICAL, Priority.LOW)]
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*tasks)

    answers = asyncio.run(appends())
    blocker.join()
    assert [[e.seq for e in a] for a in answers] == [[1, 2], [3, 4], [5, 6]]
    assert [[e.seq for e in b] for b in batches] == [[1, 2, 3, 4, 5, 6]]
    assert len(batches[0]) == 6 and batches[0][3].priority is Priority.CRITICAL
    assert _urgent_seqs(batches[0]) == [4]


def test_close_is_idempotent_and_refuses_later_writes(tmp_path, clock):
    s = open_store(tmp_path / "edge.db", clock)
    s.close()
    s.close()
    with pytest.raises(Exception, match="closed"):
        s.append([ev()])


def test_the_data_bound_counts_utf8_bytes_not_characters(store):
    chinese = "独居老人" * 1400  # 5,600 characters, 16,800 bytes of UTF-8
    with pytest.raises(EventError, match="16800 bytes|bytes; at most 16384"):
        store.append([ev(note=chinese)])
    assert store.append([ev(note="独居老人" * 1300)])  # 15,600 bytes
