"""Reading the event store: events in seq order, alerts, statistics. Safe from any thread and from other
processes (the CLI reads the live database of a running gateway; WAL lets it read while the gateway writes)."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.alerts import Alert
from edge.clock import parse_rfc3339
from edge.errors import StoreError
from edge.events import Event, NewEvent, Priority

EVENT_COLUMNS = "seq, ts, kind, source, priority, data"
READERS = 4  # reading connections at most; more readers at once wait their turn (reads take milliseconds)
READER_CACHE_KB = 1024
MAX_SEQ = 2**63 - 1  # the largest INTEGER SQLite holds: larger is an OverflowError
TABLES = ("events", "meta", "alerts")  # what every reader query needs; a file without them is not a store


class StoreReadError(StoreError, sqlite3.DatabaseError):
    """A query of the store file failed: it is damaged, or not the gateway's database. Also a
    sqlite3.DatabaseError, so code that handles the database's own errors still does."""


class StoreQueryError(StoreReadError, sqlite3.OperationalError):
    """A query failed for want of a table or a lock. Also a sqlite3.OperationalError: sync tells a database it
    has never run on by its missing tables (sync/status.py)."""


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """sqlite3's errors of a query as StoreError naming the file (the command line prints them, the API makes a
    503 of them), not as a traceback."""
    try:
        yield
    except sqlite3.OperationalError as e:
        raise StoreQueryError(f"{path}: cannot read: {e}") from e
    except sqlite3.DatabaseError as e:  # "database disk image is malformed", "file is not a database"
        raise StoreReadError(f"{path}: cannot read: {e}") from e


@dataclass(frozen=True)
class StoreStats:
    path: str
    file_bytes: int
    used_bytes: int
    max_bytes: int
    events: int
    by_priority: dict[str, int]
    unsynced: int
    first_seq: int | None
    last_seq: int | None
    next_seq: int
    open_alerts: int
    evicted: int
    refusing_low_priority: bool

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


RANK: dict[Priority, int] = {p: p.rank for p in Priority}
_PRIORITY_NAMES = tuple(Priority.from_rank(i).value for i in range(len(Priority)))
_SOURCE_JSON: dict[str, str] = {}


class Stored(Sequence[Event]):
    """The events of one append as stored. Built lazily: most callers need only the ids, and making an Event
    object per row costs as much as the insert itself."""

    __slots__ = ("device_id", "building_id", "first_seq", "ts", "new")

    def __init__(self, device_id: str, building_id: str, first_seq: int, ts: datetime, new: list[NewEvent]):
        self.device_id, self.building_id, self.first_seq, self.ts, self.new = (
            device_id, building_id, first_seq, ts, new)

    def __len__(self) -> int:
        return len(self.new)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self.new)))]
        e = self.new[i]
        seq = self.first_seq + (i if i >= 0 else len(self.new) + i)
        return Event(self.device_id, self.building_id, seq, e.ts or self.ts, e.kind, e.source, e.priority, e.data)

    @property
    def ids(self) -> list[str]:
        return [f"{self.device_id}:{s}" for s in range(self.first_seq, self.first_seq + len(self.new))]

    def __repr__(self) -> str:
        return f"Stored(seq {self.first_seq}..{self.first_seq + len(self.new) - 1})"


class Committed(Sequence[Event]):
    """The events of one commit: the Stored of each append in it, in seq order, built as lazily as Stored."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Stored]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __iter__(self) -> Iterator[Event]:
        for part in self.parts:
            yield from part

    def __getitem__(self, i):  # type: ignore[override]
        return list(self)[i]

    def __repr__(self) -> str:
        return f"Committed({', '.join(map(repr, self.parts))})"


class EventReader:
    """Read access to a store file."""

    def __init__(self, path: Path, *, device_id: str, building_id: str) -> None:
        self.path = path
        self.device_id = device_id
        self.building_id = building_id
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(READERS)
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self.max_bytes = 0  # unknown to a reader; the store sets its bound
        self._refusing = False

    @classmethod
    def open(cls, path: Path | str, *, device_id: str, building_id: str) -> EventReader:
        """Open an existing store read-only (for the command line while the gateway runs)."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"{path}: no database here (has the gateway run with this config?)")
        reader = cls(path, device_id=device_id, building_id=building_id)
        try:
            names = {r[0] for r in reader.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in TABLES if t not in names]
            if missing:
                raise StoreError(f"{path}: not an edge-gateway event database (no table {', '.join(missing)}; "
                                 "is storage.path right?)")
            reader.query("SELECT 1 FROM events LIMIT 1")
        except StoreError:
            reader.close()
            raise
        return reader

    # ---- reading (any thread) -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A reading connection from a small pool. A pool, not one per thread: the API's worker threads come and
        go, and a connection per thread would stay open (and hold its page cache) after its thread is gone."""
        with self._slots:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                yield conn
            finally:
                self._pool.put(conn)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KB}")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open for reading: {e}") from None
        with self._lock:
            self._readers.append(conn)
        return conn

    def _all(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._reader() as conn, _reading(self.path):
            return conn.execute(sql, args).fetchall()

    def events(self, *, after: int = 0, kind: str | None = None, limit: int = 100) -> list[Event]:
        """Events with seq > after, in seq order, optionally of one kind."""
        return [self._event_from_row(r) for r in self.event_rows(after=after, kind=kind, limit=limit)]

    def event_rows(self, *, after: int = 0, kind: str | None = None, limit: int = 100,
                   unsynced: bool = False) -> list[tuple[Any, ...]]:
        """Raw rows (seq, ts, kind, source, priority rank, data JSON) for fast serialisation."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?"
        args: list[Any] = [after]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if unsynced:
            sql += " AND synced = 0"
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        return self._all(sql, args)

    def _event_from_row(self, r: tuple[Any, ...]) -> Event:
        return Event(self.device_id, self.building_id, r[0], parse_rfc3339(r[1]), r[2], r[3],
                     Priority.from_rank(r[4]), json.loads(r[5]))

    def event_json(self, r: Sequence[Any]) -> str:
        """One event as the contract's JSON object, built from a raw row without parsing its data. (Sync encodes
        a million of these in a catch-up: the source's JSON and the priority's name are looked up, not built.)"""
        source = _SOURCE_JSON.get(r[3])
        if source is None:
            source = json.dumps(r[3], ensure_ascii=False)
            if len(_SOURCE_JSON) < 10_000:  # a building has a few hundred sources
                _SOURCE_JSON[r[3]] = source
        return (f'{{"id":"{self.device_id}:{r[0]}","device_id":"{self.device_id}","building_id":'
                f'"{self.building_id}","seq":{r[0]},"ts":"{r[1]}","kind":"{r[2]}","source":{source},'
                f'"priority":"{_PRIORITY_NAMES[r[4]]}","data":{r[5]}}}')

    def alerts(self, *, state: str | None = "open", limit: int = 200) -> list[Alert]:
        """Alerts, most urgent first (critical before high), newest first within a priority."""
        sql = f"SELECT {ALERT_COLUMNS} FROM alerts"
        args: list[Any] = []
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY priority, updated_ts DESC LIMIT ?"
        args.append(limit)
        return [_alert_from_row(r) for r in self._all(sql, args)]

    def unresolved_alerts(self, kinds: Sequence[str]) -> list[tuple[str, str, str]]:
        """(kind, source, opened_ts) of the alerts of these kinds not yet resolved (open or acknowledged), oldest
        first: what the rules take up at start."""
        marks = ", ".join("?" * len(kinds))
        return self._all(f"SELECT kind, source, opened_ts FROM alerts WHERE state != 'resolved' AND kind IN ({marks}) "
                         "ORDER BY id", list(kinds))

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL for the other packages' views (sync state, kiosk summaries)."""
        return self._all(sql, args)

    def stats(self) -> StoreStats:
        with self._reader() as conn, _reading(self.path):
            return self._stats(conn)

    def _stats(self, conn: sqlite3.Connection) -> StoreStats:
        by_prio = dict(conn.execute("SELECT priority, count(*) FROM events GROUP BY priority").fetchall())
        first, last = conn.execute("SELECT min(seq), max(seq) FROM events").fetchone()
        return StoreStats(
            path=str(self.path),
            file_bytes=_file_bytes(self.path),
            used_bytes=_used_bytes(conn),
            max_bytes=self.max_bytes,
            events=sum(by_prio.values()),
            by_priority={Priority.from_rank(k).value: v for k, v in sorted(by_prio.items())},
            unsynced=conn.execute("SELECT count(*) FROM events WHERE synced = 0").fetchone()[0],
            first_seq=first,
            last_seq=last,
            next_seq=max(int(_meta(conn, "next_seq", "1")), (last or 0) + 1),  # the record is kept at deletes
            open_alerts=conn.execute("SELECT count(*) FROM alerts WHERE state = 'open'").fetchone()[0],
            evicted=int(_meta(conn, "evicted", "0")),
            refusing_low_priority=self.refusing_low_priority,
        )

    @property
    def refusing_low_priority(self) -> bool:
        return self._refusing

    def close(self) -> None:
        """Close every reading connection. Idempotent."""
        with self._lock:
            for c in self._readers:
                c.close()
            self._readers.clear()


ALERT_COLUMNS = ("id, key, kind, source, priority, state, first_seq, last_seq, count, opened_ts, updated_ts, "
                 "acked_ts, acked_by, data")


def _alert_from_row(r: tuple[Any, ...] | None) -> Alert | None:
    if r is None:
        return None
    return Alert(
        id=r[0], key=r[1], kind=r[2], source=r[3], priority=Priority.from_rank(r[4]), state=r[5], first_seq=r[6],
        last_seq=r[7], count=r[8], opened_ts=parse_rfc3339(r[9]), updated_ts=parse_rfc3339(r[10]),
        acked_ts=parse_rfc3339(r[11]) if r[11] else None, acked_by=r[12], data=json.loads(r[13] or "{}"),
    )


def _used_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _meta(conn: sqlite3.Connection, key: str, default: str) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default
