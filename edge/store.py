"""The durable event store: one SQLite file, WAL, synchronous=FULL, one writer thread with group commit.

Every write goes through the writer thread. Callers hand it a request and wait; the writer takes every request
that is waiting, commits them in one transaction and only then answers, so an answer means the events are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import queue
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from edge import alerts as alert_rules
from edge.alerts import Alert
from edge.clock import Clock, rfc3339
from edge.errors import StoreError, StoreFullError
from edge.events import Event, NewEvent, Priority
from edge.files import write_atomic
from edge.reader import ALERT_COLUMNS, RANK, Committed, EventReader, Stored, _alert_from_row, _used_bytes

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_GROUP_EVENTS = 20_000  # events per group commit: bounds the time a transaction holds the WAL
SEQ_LEASE_BLOCK = 100_000  # seqs reserved per write of the lease file
SIZE_CHECK_BYTES = 1 << 20  # look at the file size after about this much new data
EVICT_TO = 0.9  # evict down to this share of the bound, so eviction runs seldom
EVICT_CHUNK = 5_000  # at most this many events a DELETE
EXPIRE_CHUNK = 50_000  # retention's events a pass at most (one transaction: its log must fit a nearly full disk)
ROW_OVERHEAD = 100  # bytes of an event's row and index entries beside its data, to size a DELETE to the excess
INSERT_SQL = (
    "INSERT INTO events (seq, ts, kind, source, priority, data, boot, mono) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class _Request:
    """One unit of work for the writer: `run(conn)` inside the group's transaction."""

    run: Callable[[sqlite3.Connection], Any]
    done: Callable[[Any, BaseException | None], None]
    # an append of events: it deletes nothing, and running it again after a rollback changes nothing else
    append: bool = False


@dataclass
class _Counters:
    written: Counter[tuple[str, str]] = field(default_factory=Counter)
    evicted: int = 0
    commits: int = 0
    last_error: str | None = None


_STOP = object()


class _RequestFailed(Exception):
    """An append failed on its own in a group run without savepoints: run the group again with them."""


class EventStore(EventReader):
    """Durable, ordered, bounded storage of events and the alerts they open."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        device_id: str,
        building_id: str,
        max_bytes: int,
        retention: timedelta,
        clock: Clock,
        boot_id: str,
    ) -> None:
        super().__init__(path, device_id=device_id, building_id=building_id)
        self.max_bytes = max_bytes
        self.retention = retention
        self._clock = clock
        self._conn = conn
        self._boot_row = _boot_row(conn, boot_id)
        self._counters = _Counters()
        self._since_size_check = 0
        self._next_seq = self._load_next_seq()
        if _load_saved_seq(conn) is None:  # else the record or the newest row says it: a start needs no free space
            with conn:  # from here on the newest row or this record says where seqs go on (see _transaction)
                conn.execute("BEGIN IMMEDIATE")
                _save_next_seq(conn, self._next_seq)
        self._lease = max(self._next_seq, _read_lease(path))
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="edge-store-writer", daemon=True)
        self._closed = False
        self._disk_full = False  # since the reserve was given back, until it is held again
        self._closing = threading.Lock()
        self._listeners: list[Callable[[Stored], None]] = []
        self._group_stored: list[Stored] = []  # what the open transaction has inserted
        self.reserve = Reserve.at(path, min(RESERVE_MAX, max_bytes // 16))
        self.reserve.ensure()
        self._writer.start()

    # ---- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        device_id: str,
        building_id: str,
        max_mb: float = 512,
        retention_days: float = 7,
        clock: Clock | None = None,
        boot_id: str | None = None,
    ) -> EventStore:
        """Open (or create) the store; a corrupt file is moved aside, never deleted, and a fresh one started."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot make the database's folder: {e}") from None
        clock = clock or Clock()
        recovered: tuple[Path, str] | None = None
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(path)
            _check(conn)
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            if not _is_corrupt(e):  # locked, unreadable, a full disk ...: a healthy file stays where it is
                raise StoreError(f"cannot open the database {path}: {e}") from None
            recovered = (_move_aside(path, clock.utcnow()), str(e))
            log.error("database %s is corrupt (%s); moved aside to %s", path, e, recovered[0])
            conn = _connect(path)
        while True:  # a start writes little (the schema, this boot), but on a full disk it takes the reserve
            try:
                _create_schema(conn)
                store = cls(conn, path, device_id=device_id, building_id=building_id,
                            max_bytes=int(max_mb * 1024 * 1024), retention=timedelta(days=retention_days),
                            clock=clock, boot_id=boot_id or _boot_id())
                break
            except sqlite3.OperationalError as e:
                if not _is_full(e) or not Reserve.at(path).release():
                    conn.close()
                    raise StoreError(f"cannot open the database {path}: {e}") from None
                log.error("disk full at start; released the space held in reserve")
        if recovered:
            store.append(
                [
                    NewEvent(
                        "gateway.storage_recovered",
                        "store",
                        {"moved_to": str(recovered[0]), "reason": recovered[1]},
                        Priority.HIGH,
                    )
                ]
            )
        return store

    def _load_next_seq(self) -> int:
        saved = _load_saved_seq(self._conn)
        top = self._conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        if saved is None:  # a fresh file (first start, or a corrupt one moved aside): continue after the lease
            return max(top + 1, _read_lease(self.path))
        return max(saved, top + 1)

    # ---- writing -------------------------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent]) -> Stored:
        """Store events durably, all or nothing; returns them as stored. Raises EventError for a bad event."""
        fut: Future[Stored] = Future()
        self._submit(self._append_request(events, _future_done(fut)))
        return fut.result()

    async def aappend(self, events: Sequence[NewEvent]) -> Stored:
        """append() for the event loop: waits for the group commit without blocking the loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Stored] = loop.create_future()
        self._submit(self._append_request(events, _LoopDone(loop, fut)))
        return await fut

    async def emit(self, event: NewEvent) -> Event:
        """The EventSink that sources receive."""
        return (await self.aappend([event]))[0]

    def _append_request(self, events: Sequence[NewEvent], done: Callable[[Any, BaseException | None], None]):
        prepared = [(e, e.checked_data_json()) for e in events]  # validation happens here, before anything is stored
        if (self._refusing or self._disk_full) and not all(e.priority.protected for e in events):
            if not self._close_alerts(events, self._all):
                raise self._full_error()
            return _Request(lambda conn: self._insert_closing(conn, prepared), done, append=True)
        return _Request(lambda conn: self._insert(conn, prepared), done, append=True)

    def _full_error(self) -> StoreFullError:
        if self._refusing:
            return StoreFullError(
                f"store is at its bound of {self.max_bytes // (1024 * 1024)} MB and holds only critical and "
                "high events; normal and low events are refused until upstream sync makes room"
            )
        # disk full: what is left of the reserve is kept for SOS and alerts
        return StoreFullError(f"disk full at {self.path.parent}: normal and low events are refused until "
                              "there is room again (see the gateway.disk_full alert)")

    @staticmethod
    def _close_alerts(events: Iterable[NewEvent], query: Callable[[str, Sequence[Any]], list[Any]]) -> bool:
        """Whether each normal event closes an alert not yet resolved, and no two the same one. Such events pass a
        refusal as if they were high: their source has moved on and will not send them again, so the alert would
        stay open for good. A closing kind that closes nothing (a periodic wristband.seen) is still refused, and so
        is a second one for the same alert: bin.emptied 1000 times, each up to 16 KB, would spend the reserve."""
        taken: set[str] = set()
        for e in events:
            if e.priority.protected:
                continue
            action = alert_rules.decide(e.kind, e.source, e.priority)
            keys = [k for k in action.keys if k not in taken] if isinstance(action, alert_rules.Resolve) else []
            marks = ", ".join("?" * len(keys))
            if not keys or not query(f"SELECT 1 FROM alerts WHERE key IN ({marks}) AND state != 'resolved' LIMIT 1",
                                     keys):
                return False
            taken.update(keys)
        return True

    def _insert_closing(self, conn: sqlite3.Connection, prepared: list[tuple[NewEvent, str]]) -> Stored:
        """_insert for a request let through a refusal as closing alerts, checked again here on the writer, in the
        order requests commit: several requests queued before the first is committed each saw the alert open."""
        if (self._refusing or self._disk_full) and not self._close_alerts(
                [e for e, _ in prepared], lambda sql, args: conn.execute(sql, args).fetchall()):
            raise self._full_error()
        return self._insert(conn, prepared)

    def _insert(self, conn: sqlite3.Connection, prepared: list[tuple[NewEvent, str]]) -> Stored:
        now = self._clock.utcnow()
        now_text, mono, boot = rfc3339(now), self._clock.monotonic(), self._boot_row
        first = seq = self._next_seq
        rows, alerting = [], []
        for e, data in prepared:
            rank = RANK[e.priority]
            if e.ts is None:
                rows.append((seq, now_text, e.kind, e.source, rank, data, boot, mono))
            else:  # a time the client took: not ours to flag or correct (no boot, no mono), sent as given
                rows.append((seq, rfc3339(e.ts), e.kind, e.source, rank, data, None, None))
            if rank <= 1 or e.kind in alert_rules.RESOLVES:
                alerting.append(seq)
            seq += 1
        conn.executemany(INSERT_SQL, rows)
        self._next_seq = seq
        stored = Stored(self.device_id, self.building_id, first, now, [e for e, _ in prepared])
        for s in alerting:
            _apply_alert(conn, stored[s - first])
        self._since_size_check += sum(len(d) for _, d in prepared) + 64 * len(prepared)
        self._group_stored.append(stored)
        return stored

    @property
    def disk_full(self) -> bool:
        """The disk filled up and the reserve was given back: what is left is kept for SOS and alerts until
        maintain() holds the reserve again, so bookkeeping that can wait (sync's) should not write."""
        return self._disk_full

    @property
    def issued_through(self) -> int:
        """The highest seq handed out so far (read it on the writer, inside write(), for an exact answer)."""
        return self._next_seq - 1

    @property
    def boot_row(self) -> int:
        """The `boot` column value of events stored in this boot (a row of the boots table)."""
        return self._boot_row

    def add_listener(self, fn: Callable[[Sequence[Event]], None]) -> None:
        """fn(events) is called on the writer thread after every commit with the events it stored, in seq order;
        it must be quick and not raise."""
        self._listeners.append(fn)

    def _submit(self, req: _Request) -> None:
        with self._closing:  # close() cannot slip in between: nothing is queued behind its stop
            if self._closed:
                raise StoreError("store is closed")
            self._q.put(req)

    def _write_loop(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            group, stop = [item], False
            while len(group) < MAX_GROUP_EVENTS:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
            try:
                self._commit_group(group)
            except Exception as e:  # a bug must not end the writer: every later append would wait for ever
                log.exception("store writer: group of %d requests failed", len(group))
                for req in group:
                    with contextlib.suppress(Exception):
                        req.done(None, StoreError(f"store error: {e}"))
            if self._since_size_check >= min(SIZE_CHECK_BYTES, self.max_bytes // 64):
                self._since_size_check = 0
                self._run_safely(self._enforce_bound)
            if stop:
                return

    def _commit_group(self, group: list[_Request]) -> None:
        start_seq = self._next_seq
        try:
            try:
                results = self._run_group(group)
            except (sqlite3.OperationalError, OSError) as e:
                if not _is_full(e) or (room := self._make_room()) is None:
                    raise
                self._next_seq = start_seq
                results = self._run_group([*room, *group])[len(room):]
        except (sqlite3.Error, OSError) as e:  # OSError: the seq lease's file could not be written
            self._next_seq = start_seq  # nothing of this group exists; its seqs were never seen by anyone
            self._counters.last_error = str(e)
            log.error("commit of %d requests failed: %s", len(group), e)
            err = StoreFullError(f"disk full: {e}") if _is_full(e) else StoreError(f"commit failed: {e}")
            for req in group:
                req.done(None, err)
            return
        self._counters.commits += 1
        self._counters.last_error = None
        for stored in self._group_stored:
            self._counters.written.update((e.kind, e.priority.value) for e in stored.new)
        if self._group_stored and self._listeners:
            # One batch per commit, not one per request: each batch wakes every subscriber on the event loop.
            parts = self._group_stored
            batch = parts[0] if len(parts) == 1 else Committed(list(parts))
            for listener in self._listeners:
                try:
                    listener(batch)
                except Exception:  # a listener's bug must not stop the writer
                    log.exception("store listener failed")
        _answer(results)

    def _make_room(self) -> list[_Request] | None:
        """The disk is full: give back the space held in reserve, which lets this group and an alert through, and
        from then on keep what is left of it for critical and high events (normal and low ones are refused until
        maintain() holds the reserve again). The requests to put before the group, or None when the reserve is
        already spent."""
        if not self.reserve.release():
            return None
        log.error("disk full; released %d bytes held in reserve; refusing normal and low events", self.reserve.size)
        self._disk_full = True
        alert = NewEvent("gateway.disk_full", "store", {"path": str(self.path.parent)}, Priority.HIGH)
        return [_Request(lambda conn: self._insert(conn, [(alert, alert.checked_data_json())]),
                         lambda value, err: None, append=True)]

    def _run_group(self, group: list[_Request]) -> list[tuple[_Request, Any, BaseException | None]]:
        """One transaction for the whole group; a request that fails on its own is undone alone (savepoint).
        A group of appends runs without savepoints first (a tenth of a one-event commit's time, measured) and only
        if one of them fails is it run again with them."""
        appends = all(req.append for req in group)
        if appends:
            start_seq = self._next_seq
            try:
                return self._transaction(group, appends, isolate=False)
            except _RequestFailed:
                self._next_seq = start_seq
        return self._transaction(group, appends, isolate=True)

    def _transaction(self, group: list[_Request], appends: bool,
                     isolate: bool) -> list[tuple[_Request, Any, BaseException | None]]:
        conn, results = self._conn, []
        self._group_stored.clear()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for req in group:
                mark = len(self._group_stored)
                try:
                    if isolate:
                        conn.execute("SAVEPOINT req")
                    results.append((req, req.run(conn), None))
                    if isolate:
                        conn.execute("RELEASE req")
                except sqlite3.Error:
                    raise  # the database's trouble (a full disk ...): the whole group's
                except Exception as e:  # this request's fault (a bad value, an id too large): undo only it
                    if not isolate:
                        raise _RequestFailed from e
                    conn.execute("ROLLBACK TO req")
                    conn.execute("RELEASE req")
                    del self._group_stored[mark:]
                    results.append((req, None, e))
            if not appends:
                # Appends need no record of the next seq (the newest row is one); a request that may delete
                # rows, the newest among them, leaves one, so that a restart never hands out a seq again.
                _save_next_seq(conn, self._next_seq)
            self._renew_lease()
            conn.execute("COMMIT")
        except BaseException:  # whatever failed (the lease's file too), no transaction is left open
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return results

    def _renew_lease(self) -> None:
        if self._next_seq > self._lease:
            lease = self._next_seq + SEQ_LEASE_BLOCK
            _write_lease(self.path, lease)
            self._lease = lease  # only once it is on disk: until then every commit tries again

    def _run_safely(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        try:
            fn(self._conn)
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            log.error("store maintenance failed: %s", e)

    def write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run fn(conn) in the writer's next group transaction and return its result (for sync bookkeeping)."""
        fut: Future[Any] = Future()
        self._submit(_Request(fn, _future_done(fut)))
        return fut.result()

    async def awrite(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._submit(_Request(fn, _LoopDone(loop, fut)))
        return await fut

    # ---- alerts and sync bookkeeping -----------------------------------------------------------------------

    def ack_alert(self, alert_id: int, *, by: str) -> Alert | None:
        """Acknowledge an open alert; records an `alert.acked` event. None when there is no such alert."""
        return self.write(self._ack(alert_id, by))

    async def aack_alert(self, alert_id: int, *, by: str) -> Alert | None:
        return await self.awrite(self._ack(alert_id, by))

    def _ack(self, alert_id: int, by: str) -> Callable[[sqlite3.Connection], Alert | None]:
        def run(conn: sqlite3.Connection) -> Alert | None:
            row = conn.execute("SELECT state, kind, source FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                return None
            if row[0] == "open":
                now = rfc3339(self._clock.utcnow())
                conn.execute(
                    "UPDATE alerts SET state = 'acked', acked_ts = ?, acked_by = ?, updated_ts = ? WHERE id = ?",
                    (now, by, now, alert_id),
                )
                ack = NewEvent("alert.acked", "api", {"alert_id": alert_id, "kind": row[1], "alert_source": row[2],
                                                       "by": by})
                self._insert(conn, [(ack, ack.checked_data_json())])
            found = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            return _alert_from_row(found)

        return run

    def mark_synced(self, *, through: int | None = None, seqs: Iterable[int] = ()) -> int:
        """Record durably that upstream holds these events (all seq <= through, and/or the listed seqs)."""

        def run(conn: sqlite3.Connection) -> int:
            n = 0
            if through is not None:
                n += conn.execute("UPDATE events SET synced = 1 WHERE seq <= ? AND synced = 0", (through,)).rowcount
            listed = [(s,) for s in seqs]
            if listed:
                conn.executemany("UPDATE events SET synced = 1 WHERE seq = ?", listed)
                n += len(listed)
            return n

        return self.write(run)

    # ---- maintenance ---------------------------------------------------------------------------------------

    def maintain(self) -> dict[str, int]:
        """Retention of synced events, then the size bound, then the disk reserve. Called periodically."""
        done = self.write(lambda conn: {"expired": self._expire(conn), "evicted": self._enforce_bound(conn)})
        if self.reserve.released and self.reserve.ensure():
            self._disk_full = False
            ok = NewEvent("gateway.disk_ok", "store", {"path": str(self.path.parent)})
            self.append([ok])
        return done

    def _expire(self, conn: sqlite3.Connection) -> int:
        """Age counts from when the gateway stored an event, not from its `ts`, which a client may give (years
        ago, or in the future), and in the gateway's running time, not by the wall clock: a Pi has no battery
        clock, so it starts at the time saved at the last shutdown (or 1970) and NTP steps it later, which made
        events stored minutes before look a week old. Rows keep no time of their own: each pass records a mark (the
        highest seq issued, the running time), and synced events at or below the seq of the newest mark older than
        the period go. Seqs only grow, so they were stored by then; they go at most a pass or a mark's step late
        (and later by the time the gateway was off), never early. A file from before the marks (or with marks of
        wall time only) keeps its events a period from the first pass."""
        now, period = self._clock.utcnow(), self.retention.total_seconds()
        run = self._running_time(conn)
        last = conn.execute("SELECT max(run) FROM stored_marks").fetchone()[0]
        if last is None or run - last >= period / 1000:  # a pass a minute would hold 5 million for ten years
            conn.execute("INSERT INTO stored_marks (seq, ts, run) VALUES (?, ?, ?) ON CONFLICT (seq) DO UPDATE "
                         "SET ts = excluded.ts, run = excluded.run WHERE run IS NULL",  # one of wall time only
                         (self.issued_through, rfc3339(now), run))
        through = conn.execute("SELECT max(seq) FROM stored_marks WHERE run <= ?", (run - period,)).fetchone()[0]
        n = 0
        if through is not None:
            # a backlog synced after a week offline is older than the period all at once: the rest at the next passes
            n = conn.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE synced = 1 AND seq <= ? "
                             "ORDER BY seq LIMIT ?)", (through, EXPIRE_CHUNK)).rowcount
            conn.execute("DELETE FROM stored_marks WHERE seq < ?", (through,))  # still needed: its unsynced events
        conn.execute("DELETE FROM alerts WHERE state != 'open' AND updated_ts < ?", (rfc3339(now - self.retention),))
        return n

    def _running_time(self, conn: sqlite3.Connection) -> float:
        """Seconds the gateway has run, kept in meta as (boot, monotonic time, running time) at the last pass: the
        monotonic time since then in the same boot, or since this boot began, is added (the last minute of the boot
        before is not counted)."""
        mono = self._clock.monotonic()
        row = conn.execute("SELECT value FROM meta WHERE key = 'running_time'").fetchone()
        run = 0.0
        if row is not None:
            boot, then, before = json.loads(row[0])
            run = before + max(0.0, mono - then if boot == self._boot_row else mono)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('running_time', ?)",
                     (json.dumps([self._boot_row, mono, run]),))
        return run

    def _enforce_bound(self, conn: sqlite3.Connection) -> int:
        """Evict down to EVICT_TO of the bound once the database is past it (see _evict)."""
        if _used_bytes(conn) <= self.max_bytes:
            self._refusing = False
            return 0
        evicted = self._evict(conn, int(self.max_bytes * EVICT_TO))
        self._refusing = _used_bytes(conn) > self.max_bytes
        if evicted:
            log.warning("size bound %d bytes: evicted %d events", self.max_bytes, evicted)
        if self._refusing:
            log.error("store holds only critical/high events at its bound; refusing normal and low events")
        return evicted

    def _evict(self, conn: sqlite3.Connection, target: int) -> int:
        """Evict synced normal and low events, then low, then normal ones, oldest first, until the database uses at
        most `target` bytes; never critical or high events. Returns how many went."""
        evicted = 0
        own_tx = not conn.in_transaction
        for where in ("synced = 1 AND priority >= 2", "priority = 3", "priority = 2"):
            while (excess := _used_bytes(conn) - target) > 0:
                # about as many rows as the excess holds, not a fixed chunk: a small bound lost most of itself
                row = conn.execute(f"SELECT avg(length(data)) FROM (SELECT data FROM events WHERE {where} "
                                   "ORDER BY seq LIMIT 1000)").fetchone()[0]
                if row is None:
                    break
                chunk = min(EVICT_CHUNK, 1 + int(excess / (row + ROW_OVERHEAD)))
                if own_tx:
                    conn.execute("BEGIN IMMEDIATE")
                n = conn.execute(
                    f"DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE {where} ORDER BY seq LIMIT ?)",
                    (chunk,),
                ).rowcount
                _save_next_seq(conn, self._next_seq)  # the newest rows may be among those gone
                if own_tx:
                    conn.execute("COMMIT")
                evicted += n
        self._counters.evicted += evicted
        if evicted:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('evicted', "
                         "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'evicted'), 0) + ?)",
                         (evicted,))
        return evicted

    def written_counts(self) -> dict[tuple[str, str], int]:
        """Events written since start, by (kind, priority), for /metrics."""
        return dict(self._counters.written)

    @property
    def evicted_total(self) -> int:
        return self._counters.evicted

    def healthy(self) -> bool:
        """The writer is alive and the store open. (A failed commit shows in last_error and /healthz: the watchdog
        must not restart a gateway for a full disk, which a restart does not cure.)"""
        return self._writer.is_alive() and not self._closed

    @property
    def last_error(self) -> str | None:
        return self._counters.last_error

    def ping(self) -> None:
        """A round trip through the writer (used by the systemd watchdog). It writes nothing, so it answers on a full
        disk too: an append-like request needs no record of the next seq."""
        fut: Future[Any] = Future()
        self._submit(_Request(lambda conn: None, _future_done(fut), append=True))
        fut.result()

    def close(self) -> None:
        """Finish every queued write, then close. Idempotent."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._q.put(_STOP)
        self._writer.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        super().close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- helpers ---------------------------------------------------------------------------------------------------

def _apply_alert(conn: sqlite3.Connection, ev: Event) -> None:
    action = alert_rules.decide(ev.kind, ev.source, ev.priority)
    ts = rfc3339(ev.ts)
    if isinstance(action, alert_rules.OpenOrCount):
        n = conn.execute(
            "UPDATE alerts SET count = count + 1, last_seq = ?, updated_ts = ?, data = ? "
            "WHERE key = ? AND state = 'open'",
            (ev.seq, ts, json.dumps(dict(ev.data), ensure_ascii=False), action.key),
        ).rowcount
        if n == 0:
            conn.execute(
                "INSERT INTO alerts (key, kind, source, priority, state, first_seq, last_seq, count, opened_ts, "
                "updated_ts, data) VALUES (?, ?, ?, ?, 'open', ?, ?, 1, ?, ?, ?)",
                (action.key, ev.kind, ev.source, ev.priority.rank, ev.seq, ev.seq, ts, ts,
                 json.dumps(dict(ev.data), ensure_ascii=False)),
            )
    elif isinstance(action, alert_rules.Resolve):
        conn.executemany(
            "UPDATE alerts SET state = 'resolved', updated_ts = ? WHERE key = ? AND state != 'resolved'",
            [(ts, k) for k in action.keys],
        )


RESERVE_MAX = 8 * 1024 * 1024


class Reserve:
    """Space held on the disk in a file of its own, given back when the disk fills up, so that the alert about the
    full disk, and SOS and alerts after it, can still be written."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self.released = False

    @classmethod
    def at(cls, db_path: Path, size: int = 0) -> Reserve:
        """The reserve of the database at db_path."""
        return cls(Path(f"{db_path}.reserve"), size)

    def ensure(self) -> bool:
        """Hold the reserve when there is room for it twice over. True when it is held."""
        if self.path.exists() and self.path.stat().st_size >= self.size:
            self.released = False
            return True
        try:
            if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                self.released = True
                return False
            with open(self.path, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, self.size)
                os.fsync(f.fileno())
        except OSError as e:
            log.warning("cannot hold %d bytes in reserve at %s: %s", self.size, self.path, e)
            self.path.unlink(missing_ok=True)
            self.released = True
            return False
        self.released = False
        return True

    def release(self) -> bool:
        """Give the space back; False when there was none held."""
        if not self.path.exists():
            return False
        self.path.unlink()
        self.released = True
        return True


def _is_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno == errno.ENOSPC
    return isinstance(e, sqlite3.Error) and "full" in str(e)


class _Corrupt(sqlite3.DatabaseError):
    """quick_check found damage."""


def _is_corrupt(e: sqlite3.Error) -> bool:
    """Damage, or not a database at all; not a lock, a full disk or a permission, which leave the file healthy."""
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return isinstance(e, _Corrupt) or code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so group commit is explicit
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA journal_size_limit = 67108864")
    return conn


def _check(conn: sqlite3.Connection) -> None:
    result = conn.execute("PRAGMA quick_check").fetchall()
    if result != [("ok",)]:
        raise _Corrupt("quick_check: " + "; ".join(str(r[0]) for r in result[:5]))


def _create_schema(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    db["events"].create(
        {"seq": int, "ts": str, "kind": str, "source": str, "priority": int, "data": str, "synced": int,
         "boot": int, "mono": float},
        pk="seq", not_null={"ts", "kind", "source", "priority", "data"}, defaults={"synced": 0},
        if_not_exists=True,
    )
    db["events"].create_index(["kind", "seq"], index_name="events_kind", if_not_exists=True)
    # what is not yet acknowledged, for sync and the status counts: O(backlog) to read, not O(database)
    conn.execute("CREATE INDEX IF NOT EXISTS events_unsynced ON events (seq) WHERE synced = 0")
    db["alerts"].create(
        {"id": int, "key": str, "kind": str, "source": str, "priority": int, "state": str, "first_seq": int,
         "last_seq": int, "count": int, "opened_ts": str, "updated_ts": str, "acked_ts": str, "acked_by": str,
         "data": str},
        pk="id", if_not_exists=True,
    )
    db["alerts"].create_index(["key", "state"], index_name="alerts_key", if_not_exists=True)
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    # retention's clock: every event with seq <= a mark's seq was stored by its running time (see EventStore._expire)
    db["stored_marks"].create({"seq": int, "ts": str, "run": float}, pk="seq", not_null={"ts"}, if_not_exists=True)
    if "run" not in db["stored_marks"].columns_dict:  # marks of wall time only: never used, superseded
        db["stored_marks"].add_column("run", float)
    # boot id and monotonic time per event let sync correct timestamps taken before the clock was set
    db["boots"].create({"id": int, "boot_id": str}, pk="id", if_not_exists=True)
    if conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() != (str(SCHEMA_VERSION),):
        db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, replace=True)


def _boot_row(conn: sqlite3.Connection, boot_id: str) -> int:
    row = conn.execute("SELECT id FROM boots WHERE boot_id = ?", (boot_id,)).fetchone()
    if row:
        return row[0]
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        return conn.execute("INSERT INTO boots (boot_id) VALUES (?)", (boot_id,)).lastrowid


def _move_aside(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%S")
    target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-shm")):  # kept: never overwritten
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{target}{suffix}"))
    return target


def _load_saved_seq(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
    return None if row is None else int(row[0])


def _save_next_seq(conn: sqlite3.Connection, next_seq: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (str(next_seq),))


def _lease_path(path: Path) -> Path:
    return Path(f"{path}.seq")


def _read_lease(path: Path) -> int:
    """The seq lease: no seq at or above it was ever issued. Kept beside the database so that it survives
    a corrupt database file, and seqs are never reused."""
    try:
        return int(_lease_path(path).read_text().strip())
    except (OSError, ValueError):
        return 1


def _write_lease(path: Path, value: int) -> None:
    write_atomic(_lease_path(path), str(value))


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _future_done(fut: Future[Any]) -> Callable[[Any, BaseException | None], None]:
    def done(value: Any, err: BaseException | None) -> None:
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(value)

    return done


Done = Callable[[Any, BaseException | None], None]


class _LoopDone:
    """Settles an asyncio future of `loop` from the writer thread."""

    __slots__ = ("loop", "fut")

    def __init__(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any]) -> None:
        self.loop, self.fut = loop, fut

    def __call__(self, value: Any, err: BaseException | None) -> None:
        _settle_on(self.loop, [(self.fut, value, err)])


def _answer(results: list[tuple[_Request, Any, BaseException | None]]) -> None:
    """Answer a committed group. The waiters of one event loop are settled in one callback: a wake-up of the loop
    per commit rather than per request (single-event requests over HTTP: about 10 % more a second, measured)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for req, value, err in results:
        if isinstance(req.done, _LoopDone):
            by_loop.setdefault(req.done.loop, []).append((req.done.fut, value, err))
        else:
            req.done(value, err)
    for loop, items in by_loop.items():
        _settle_on(loop, items)


def _settle_on(loop: asyncio.AbstractEventLoop, items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]):
    def settle() -> None:
        for fut, value, err in items:
            if fut.done():
                continue  # the caller gave up (cancelled); the write stands regardless
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(value)

    with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
        loop.call_soon_threadsafe(settle)
