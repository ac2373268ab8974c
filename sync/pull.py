"""Pull: central servers that cannot be reached from the building fetch batches themselves.

Serving (`GET /api/v1/sync/batches`, `POST /api/v1/sync/ack`, see edge/api/sync.py) and the reference client
(`edge sync pull`), which writes what it fetched durably before it acknowledges it.
"""

from __future__ import annotations

import contextlib
import json
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
from edge.files import write_atomic
from edge.reader import EventReader
from edge.store import EventStore
from sync.client import PullClient
from sync.errors import PullError, SyncError
from sync.state import SYNC_COLUMNS, load_timebase
from sync.wire import ndjson

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
    """An acknowledgement names events that the pull API has not handed out since the gateway started."""


class Served:
    """The highest seq that GET /api/v1/sync/batches has handed out since the gateway started.

    Kept in memory, not in the meta table, so that a GET stays a read (no commit, no fsync). After a restart it
    starts from nothing: an ack of a page fetched before the restart is refused (409) until that page is fetched
    again. That is never for ever: a page can always be fetched again (its events are unsynced, so retention keeps
    them; eviction may take some, and then there is less to acknowledge), and the reference client does just that.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # GETs run in the thread pool: two pages may finish at once
        self._through = 0

    def note(self, last_seq: int) -> None:
        with self._lock:
            self._through = max(self._through, last_seq)

    @property
    def through(self) -> int:
        return self._through


def acknowledge(store: EventStore, through: int, clock: Clock, *, served: int) -> int:
    """Mark every event with seq <= through acknowledged and move the pull cursor (never backwards); returns how
    many events became synced. ValueError when `through` is beyond the newest event; NotServed when it is beyond
    both `served` (the highest seq handed out) and the cursor: events never handed out are not marked synced, or
    retention and eviction could delete what upstream never got."""
    now = rfc3339(clock.utcnow())

    def run(conn: sqlite3.Connection) -> int:
        newest = store.issued_through  # not max(seq): the newest events of a fetched page may have been evicted
        if through > newest:
            raise ValueError(f"through {through} is beyond the newest event ({newest})")
        row = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.pull_through'").fetchone()
        held = max(served, row[0] if row else 0)  # a late ack of what was acknowledged before stays harmless
        if through > held:
            raise NotServed(f"through {through} is beyond the last event served ({held}; since the gateway "
                            "started): fetch the page again, then acknowledge it")
        n = conn.execute("UPDATE events SET synced = 1 WHERE seq <= ? AND synced = 0", (through,)).rowcount
        # Both sides cast: SQLite ranks any text above any integer, and the cursor would follow the newest ack.
        conn.execute("INSERT INTO meta (key, value) VALUES ('sync.pull_through', ?) ON CONFLICT (key) DO UPDATE "
                     "SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (str(through),))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync.pull_ts', ?)", (now,))
        return n

    return store.write(run)


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
