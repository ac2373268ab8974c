"""Sync's bookkeeping in the event database. Every write goes through the store's writer (`store.write`), in the
same transaction as the events it concerns, so an acknowledgement is on disk before the next batch goes out.

- `events.synced`: 0 not yet acknowledged, 1 acknowledged (push or pull), 2 rejected by upstream (parked: kept,
  never re-sent on its own, not removed by retention).
- `sync_batches`: the batch each lane has sent or is sending (`pending`), so that after a crash it is sent again
  with the same key and the same events; and the batches upstream rejected (`rejected`), for the operator.
- `clock_anchors`: per boot, when its clock was found synchronised and the offset that corrects earlier events.
- `meta`: `sync.last_success_ts`, `sync.last_error`, `sync.last_error_ts`, `sync.pull_through`, `sync.pull_ts`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from edge.clock import Clock, rfc3339
from edge.reader import EventReader
from edge.store import EventStore
from sync.wire import SYNC_COLUMNS, Anchor, Row, TimeBase

SYNCED, REJECTED = 1, 2
URGENT_MAX_RANK = 1  # critical (0) and high (1) go by the urgent lane; normal and low by the backlog

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sync_batches (
        key TEXT PRIMARY KEY, lane TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        seqs TEXT, events INTEGER NOT NULL, state TEXT NOT NULL, status INTEGER, reason TEXT,
        created_ts TEXT NOT NULL, updated_ts TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS clock_anchors (
        boot INTEGER PRIMARY KEY, synced_mono REAL NOT NULL, offset REAL NOT NULL, step REAL,
        found_ts TEXT NOT NULL)""",
)

Lane = Literal["urgent", "backlog"]


@dataclass(frozen=True)
class Batch:
    """One batch as sent: its key names its seq range. Backlog batches hold every unsynced normal/low event in
    the range; urgent batches exactly the seqs listed."""

    key: str
    lane: Lane
    first_seq: int
    last_seq: int
    seqs: tuple[int, ...] | None
    events: int
    body: bytes  # gzip NDJSON
    raw_bytes: int
    only_sync_kinds: bool  # all events are sync's own reports (so a rejection raises no further report)
    newest: tuple[int | None, float | None]  # (boot, mono) of its newest event, for the sync lag
    timebase: TimeBase  # the clock corrections known when it was encoded
    top_rank: int  # the most urgent priority rank among its events (0: critical)

    @property
    def pending(self) -> PendingBatch:
        return PendingBatch(self.key, self.lane, self.first_seq, self.last_seq, self.seqs)


@dataclass(frozen=True)
class PendingBatch:
    key: str
    lane: Lane
    first_seq: int
    last_seq: int
    seqs: tuple[int, ...] | None


def _selection(b: Batch | PendingBatch) -> tuple[str, list[int]]:
    if b.seqs is not None:
        return f"seq IN ({','.join('?' * len(b.seqs))}) AND synced = 0", list(b.seqs)
    return f"seq BETWEEN ? AND ? AND synced = 0 AND priority > {URGENT_MAX_RANK}", [b.first_seq, b.last_seq]


class SyncState:
    def __init__(self, store: EventStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock
        self._timebase: TimeBase | None = None  # cached: anchors change only through add_anchor, in this process

    def create(self) -> None:
        """Create sync's tables if they are missing (idempotent)."""

        def run(conn: sqlite3.Connection) -> None:
            for sql in SCHEMA:
                conn.execute(sql)

        self.store.write(run)

    # ---- writes ------------------------------------------------------------------------------------------

    async def begin(self, b: Batch) -> None:
        """Record the batch as pending before it is first sent."""
        now = self._now()
        seqs = json.dumps(list(b.seqs)) if b.seqs is not None else None
        await self.store.awrite(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO sync_batches (key, lane, first_seq, last_seq, seqs, events, state, created_ts, "
            "updated_ts) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (b.key, b.lane, b.first_seq, b.last_seq, seqs, b.events, now, now)))

    async def ack(self, b: Batch | PendingBatch) -> int:
        """Upstream holds the batch: mark its events synced and forget it, in one transaction."""
        where, args = _selection(b)
        now = self._now()

        def run(conn: sqlite3.Connection) -> int:
            n = conn.execute(f"UPDATE events SET synced = {SYNCED} WHERE {where}", args).rowcount
            conn.execute("DELETE FROM sync_batches WHERE key = ?", (b.key,))
            _set_meta(conn, "sync.last_success_ts", now)
            return n

        return await self.store.awrite(run)

    async def reject(self, b: Batch | PendingBatch, status: int, reason: str) -> int:
        """Upstream refused the batch itself: park its events (kept, not re-sent) and keep the batch's record."""
        where, args = _selection(b)
        now = self._now()

        def run(conn: sqlite3.Connection) -> int:
            n = conn.execute(f"UPDATE events SET synced = {REJECTED} WHERE {where}", args).rowcount
            conn.execute("UPDATE sync_batches SET state = 'rejected', status = ?, reason = ?, events = ?, "
                         "updated_ts = ? WHERE key = ?", (status, reason[:500], n, now, b.key))
            return n

        return await self.store.awrite(run)

    async def forget(self, b: Batch | PendingBatch) -> None:
        """Drop a pending record whose batch upstream never stored (too large: it is sent again smaller)."""
        await self.store.awrite(lambda conn: conn.execute("DELETE FROM sync_batches WHERE key = ?", (b.key,)))

    async def record_error(self, text: str) -> None:
        now = self._now()

        def run(conn: sqlite3.Connection) -> None:
            _set_meta(conn, "sync.last_error", text[:500])
            _set_meta(conn, "sync.last_error_ts", now)

        await self.store.awrite(run)

    async def add_anchor(self, boot: int, anchor: Anchor, step: float | None) -> None:
        now = self._now()
        await self.store.awrite(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO clock_anchors (boot, synced_mono, offset, step, found_ts) VALUES (?, ?, ?, ?, ?)",
            (boot, anchor.synced_mono, anchor.offset, step, now)))
        self._timebase = None

    # ---- reads (any thread) ------------------------------------------------------------------------------

    def pending(self) -> list[PendingBatch]:
        rows = self.store.query("SELECT key, lane, first_seq, last_seq, seqs FROM sync_batches "
                                "WHERE state = 'pending' ORDER BY first_seq")
        return [PendingBatch(k, lane, f, la, tuple(json.loads(s)) if s else None) for k, lane, f, la, s in rows]

    def backlog_rows(self, after: int, limit: int) -> list[Row]:
        """The next unsynced normal and low events after `after`, in seq order."""
        return self.store.query(
            f"SELECT {SYNC_COLUMNS} FROM events WHERE synced = 0 AND seq > ? AND priority > {URGENT_MAX_RANK} "
            "ORDER BY seq LIMIT ?", (after, limit))

    def rows_of(self, b: PendingBatch) -> list[Row]:
        where, args = _selection(b)
        return self.store.query(f"SELECT {SYNC_COLUMNS} FROM events WHERE {where} ORDER BY seq", args)

    def urgent_unsynced(self) -> list[tuple[int, int]]:
        """(seq, priority rank) of every critical and high event not yet acknowledged."""
        rows = self.store.query(f"SELECT seq, priority FROM events WHERE synced = 0 AND priority <= {URGENT_MAX_RANK} "
                                "ORDER BY seq")
        return [(seq, rank) for seq, rank in rows]

    def anchor_of(self, boot: int) -> Anchor | None:
        rows = self.store.query("SELECT synced_mono, offset FROM clock_anchors WHERE boot = ?", (boot,))
        return Anchor(*rows[0]) if rows else None

    def timebase(self, trusted: bool) -> TimeBase:
        """The corrections to apply when encoding; the same object until an anchor is added."""
        if self._timebase is None:
            self._timebase = load_timebase(self.store, trusted)
        return self._timebase

    def _now(self) -> str:
        return rfc3339(self._clock.utcnow())


def load_timebase(reader: EventReader, trusted: bool) -> TimeBase:
    """The boots and clock anchors known to the database (a handful of rows)."""
    if trusted:
        return TimeBase(trusted=True)
    query = reader.query
    boots = dict(query("SELECT id, boot_id FROM boots"))
    try:
        anchors = {b: Anchor(m, o) for b, m, o in query("SELECT boot, synced_mono, offset FROM clock_anchors")}
    except sqlite3.OperationalError:  # sync has never run on this database
        anchors = {}
    return TimeBase(anchors, boots)


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
