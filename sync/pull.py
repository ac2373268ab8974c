"""Pull: central servers that cannot be reached from the building fetch batches themselves.

Serving (`GET /api/v1/sync/batches`, `POST /api/v1/sync/ack`, see edge/api/sync.py) and the reference client
(`edge sync pull`), which writes what it fetched durably before it acknowledges it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge.clock import Clock, rfc3339
from edge.errors import StoreError, StoreFullError
from edge.files import write_atomic
from edge.reader import EventReader
from edge.store import EventStore
from sync.client import PullClient
from sync.errors import PullError, SyncError
from sync.state import SYNC_COLUMNS, load_timebase
from sync.wire import ndjson

log = logging.getLogger(__name__)

MAX_PULL_LIMIT = 10_000


@dataclass(frozen=True)
class Page:
    body: bytes  # NDJSON, uncompressed
    count: int
    first_seq: int | None
    last_seq: int | None


def pull_cursor(reader: EventReader) -> int:
    """The seq through which a puller has acknowledged (0 when none has)."""
    rows = reader.query("SELECT value FROM meta WHERE key = 'sync.pull_through'")
    return int(rows[0][0]) if rows else 0


def page(reader: EventReader, after: int | None, limit: int, *, trusted_clock: bool) -> Page:
    """Events with seq > after (default: after the last pull acknowledgement) in seq order, whatever their
    push state: a puller sees the whole stream."""
    start = pull_cursor(reader) if after is None else after
    rows = reader.query(f"SELECT {SYNC_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (start, limit))
    if not rows:
        return Page(b"", 0, None, None)
    body = ndjson(rows, reader.event_json, load_timebase(reader, trusted_clock))
    return Page(body, len(rows), rows[0][0], rows[-1][0])


class NotServed(SyncError):
    """An acknowledgement names events that the pull API has never handed out."""


SERVED_SQL = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.served_through'"


class Served:
    """The highest seq that GET /api/v1/sync/batches has handed out, kept in the meta table so that a page fetched
    before a restart (a power cut between a puller's fetch and its ack) can still be acknowledged after it.

    A GET writes only when the mark grows: one small commit a new page, none for a page fetched again. On a full
    disk the mark is kept in memory (its commits would spend the reserve kept for SOS, a puller paging through the
    backlog about 8 KB a page) and the page is still served; so it is where the write fails.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()  # GETs run in the thread pool: two pages may finish at once
        rows = store.query(SERVED_SQL)
        self._through = rows[0][0] if rows else 0

    def note(self, last_seq: int) -> None:
        with self._lock:
            if last_seq <= self._through:
                return
            self._through = last_seq
        if self._store.disk_full:
            return
        try:
            self._store.write(lambda conn: _raise_meta(conn, "sync.served_through", last_seq))
        except StoreError as e:
            log.warning("pull: the served mark %d is kept in memory only: %s", last_seq, e)

    @property
    def through(self) -> int:
        return self._through


def acknowledge(store: EventStore, through: int, clock: Clock, *, served: int) -> int:
    """Mark every event with seq <= through acknowledged and move the pull cursor (never backwards); returns how
    many events became synced. ValueError when `through` is beyond the newest event; NotServed when it is beyond
    what was ever handed out (`served`, the stored mark) and the cursor: events never handed out are not marked
    synced, or retention and eviction could delete what upstream never got. StoreFullError on a full disk: marking
    a page synced rewrites its rows, which would spend the reserve kept for SOS; the puller fetches it again later."""
    if store.disk_full:
        raise StoreFullError(f"disk full at {store.path.parent}: acknowledgements wait until there is room again "
                             "(see the gateway.disk_full alert); fetch the page again then and acknowledge it")
    now = rfc3339(clock.utcnow())

    def run(conn: sqlite3.Connection) -> int:
        newest = store.issued_through  # not max(seq): the newest events of a fetched page may have been evicted
        if through > newest:
            raise ValueError(f"through {through} is beyond the newest event ({newest})")
        cursor = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.pull_through'").fetchone()
        mark = conn.execute(SERVED_SQL).fetchone()
        # a late ack of what was acknowledged before stays harmless
        held = max(served, cursor[0] if cursor else 0, mark[0] if mark else 0)
        if through > held:
            raise NotServed(f"through {through} is beyond the last event served ({held}): fetch the page, then "
                            "acknowledge it")
        n = conn.execute("UPDATE events SET synced = 1 WHERE seq <= ? AND synced = 0", (through,)).rowcount
        _raise_meta(conn, "sync.pull_through", through)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync.pull_ts', ?)", (now,))
        return n

    return store.write(run)


def _raise_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    """meta[key] = value unless it holds more (marks that never move back: two requests may commit out of order).
    Both sides cast: SQLite ranks any text above any integer, and the value would follow the newest write."""
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                 "SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (key, str(value)))


# ---- the reference client -------------------------------------------------------------------------------------

Write = Callable[[bytes, str, int, int], None]  # (page, device_id, first seq, last seq)


def pull_loop(client: PullClient, write: Write, *, after: int | None, limit: int, follow: bool,
              interval: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Fetch pages, write each durably, then acknowledge it; returns how many events were written. With
    `follow`, keeps going (and retries a failed fetch) until interrupted."""
    written, again = 0, False
    while True:
        try:
            body = client.fetch(after, limit)
            if body:
                device, first, last, n = _span(body)
                write(body, device, first, last)  # raises unless it is durable: then nothing is acknowledged
                try:
                    client.ack(last)
                except PullError:
                    # Refused (409: the gateway restarted since it served the page) or the answer was lost: fetch
                    # the page again, which serves it anew, write it again (the same file; on standard output the
                    # page comes twice) and acknowledge that. A second failure in a row is an error.
                    if again:
                        raise
                    again = True
                    continue
                written, after, again = written + n, last, False
                continue
        except PullError:
            if not follow:
                raise
        if not follow:
            return written
        sleep(interval)


def _span(body: bytes) -> tuple[str, int, int, int]:
    lines = body.rstrip(b"\n").split(b"\n")
    try:
        head = json.loads(lines[0])
        return str(head["device_id"]), int(head["seq"]), int(json.loads(lines[-1])["seq"]), len(lines)
    except (ValueError, KeyError, TypeError) as e:
        raise PullError(f"the gateway sent a page that is not NDJSON events: {e}") from None


def file_writer(folder: Path) -> Write:
    """One file per page, `<device_id>-<first>-<last>.ndjson`, written to a temporary name, fsynced and renamed,
    so a file that exists is complete. Fetching a page again rewrites the same file."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(body: bytes, device: str, first: int, last: int) -> None:
        write_atomic(folder / f"{device}-{first:012d}-{last:012d}.ndjson", body)

    return write


def stream_writer(out: BinaryIO | None = None) -> Write:
    """Standard output: flushed, and fsynced when it is a file (a pipe's reader owns durability from there)."""
    stream = out or sys.stdout.buffer

    def write(body: bytes, device: str, first: int, last: int) -> None:
        stream.write(body)
        stream.flush()
        with contextlib.suppress(OSError, ValueError):  # a pipe or a terminal cannot be fsynced
            os.fsync(stream.fileno())

    return write
