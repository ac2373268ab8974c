"""Push: the gateway's events to the central server, nothing lost, nothing twice, SOS first.

Two lanes share one UpstreamClient (one keep-alive session, a pooled connection each):
- urgent: critical and high events, sent the moment the event bus reports them, in small batches of their own;
  critical events go before queued high ones and never share a batch with them. While the link is down it tries
  again every `urgent_backoff_max_s` at most; a batch that failed is set aside (kept under its key) and sent again
  after what is more urgent, so one batch cannot hold the lane. A refusal backs off to `backoff_max_s`.
- backlog: normal and low events in seq order, in batches sized to the link (`BatchSizer`). It starts no send
  while the urgent lane has something to send, so an SOS posted behind any backlog goes out first.

Each batch is recorded as pending before it is first sent and acknowledged (events marked synced, the record
dropped) in one transaction before the lane sends the next; after a crash the pending batch is rebuilt from the
database and sent again with the same Idempotency-Key, so the server can drop what it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from edge.bus import EventBus, Subscription
from edge.clock import Clock
from edge.config import SyncConfig
from edge.events import Event, EventSink, NewEvent, Priority
from edge.reader import Committed, Stored
from edge.store import EventStore
from sync.backoff import Backoff
from sync.client import Acked, Refused, Rejected, Reply, Retry, TooLarge, UpstreamClient, in_daemon_thread
from sync.sizing import BatchSizer
from sync.state import Batch, Lane, PendingBatch, SyncState
from sync.wire import Row, TimeBase, gzip_bytes, idempotency_key, ndjson

log = logging.getLogger(__name__)

FULL_ATTEMPT_EVERY = 30.0  # while the link is down the urgent lane probes with TCP; a real request this often
RESCAN_EVERY = 30.0  # look at the database for work even when the bus said nothing (a missed wake-up costs this)
ERROR_PERSIST_EVERY = 60.0  # last_error goes to the database at most this often while the same error repeats
DISK_FULL_RECHECK_S = 5.0  # the backlog lane waits while the disk is full, looking again this often
DEADLINE_SLACK_S = 1.0  # the client ends a request at its deadline; this is only for one stuck before the body

@dataclass
class PushStats:
    """What /metrics, /healthz and the logs say about push (in memory; the database keeps the durable part)."""

    last_success_ts: float | None = None  # unix time
    last_error: str | None = None
    last_error_ts: float | None = None
    lag_s: float | None = None  # record-to-acknowledgement delay of the newest event of the last batch
    refused: int | None = None  # HTTP status while upstream refuses the gateway itself
    batches: Counter[tuple[str, str]] = field(default_factory=Counter)  # (lane, acked|rejected|retry)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (lane, acked|rejected)
    wire_bytes: int = 0
    raw_bytes: int = 0
    lanes: dict[str, str] = field(default_factory=lambda: {"urgent": "idle", "backlog": "idle"})


@dataclass(frozen=True)
class _Again:
    """The batch is kept under its key; the lane waits `delay` (and, with the link down, until it connects)."""

    delay: float
    link_down: bool


Outcome = Literal["done", "smaller"] | _Again  # done: acknowledged or parked; smaller: 413, send in smaller batches


@dataclass
class _Lane:
    name: Lane
    backoff: Backoff
    sizer: BatchSizer
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    not_before: float = 0.0  # monotonic time before which Retry-After forbids a send


class Outbox:
    def __init__(self, store: EventStore, state: SyncState, client: UpstreamClient, cfg: SyncConfig, *,
                 clock: Clock, emit: EventSink, bus: EventBus | None, rng: random.Random | None = None) -> None:
        self.store, self.state, self.client, self.cfg = store, state, client, cfg
        self.clock, self.emit, self.bus = clock, emit, bus
        rng = rng or random.Random()
        self.stats = PushStats()
        self.urgent = _Lane("urgent", Backoff(0.05, cfg.urgent_backoff_max_s, rng),
                            BatchSizer(cfg.batch_seconds, cfg.urgent_batch_events, 1, cfg.urgent_batch_events))
        self.backlog = _Lane("backlog", Backoff(0.5, cfg.backoff_max_s, rng),
                             BatchSizer(cfg.batch_seconds, cfg.max_batch_events))
        self._queue: dict[int, int] = {}  # urgent seq -> priority rank, waiting for a batch
        self._held: set[int] = set()  # urgent seqs in a batch (being sent, or set aside to be sent again)
        self._aside: list[Batch] = []  # urgent batches that failed, in turn to be sent again under their keys
        self._sends = 0  # sends started so far (numbers the sends of both lanes)
        self._acked_send = 0  # the number of the newest send acknowledged
        self._refused: dict[str, int] = {}  # batch key -> sends started when upstream last refused it
        self._urgent_ready = asyncio.Event()
        self._urgent_idle = asyncio.Event()
        self._new_data = asyncio.Event()
        self._error_persisted: tuple[str | None, float] = (None, -ERROR_PERSIST_EVERY)

    # ---- the task ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run both lanes until cancelled (a supervised task; a crash restarts it from the database)."""
        sub = self.bus.subscribe(maxsize=10_000) if self.bus else None
        try:
            pending = await asyncio.to_thread(self.state.pending)
            await asyncio.to_thread(self.state.timebase, self.cfg.clock == "trusted")  # loaded once, then shared
            urgent = [p for p in pending if p.lane == "urgent"]
            for p in urgent:
                self._held.update(p.seqs or ())
            await self._rescan()
            async with asyncio.TaskGroup() as tg:
                if sub is not None:
                    tg.create_task(self._watch(sub))
                tg.create_task(self._urgent_loop(urgent))
                tg.create_task(self._backlog_loop([p for p in pending if p.lane == "backlog"]))
        finally:
            if sub is not None:
                sub.close()

    async def _watch(self, sub: Subscription) -> None:
        """Committed events from the bus: urgent ones are queued at once, any event wakes the backlog."""
        dropped = sub.dropped
        while True:
            stored = await sub.get()
            if sub.dropped != dropped:  # the bus lost batches while we were slow: ask the database instead
                dropped = sub.dropped
                await self._rescan()
            self._enqueue(_urgent_ranks(stored))
            self._new_data.set()

    async def _rescan(self) -> None:
        """Queue every urgent event the database holds unacknowledged that no batch holds."""
        found = await asyncio.to_thread(self.state.urgent_unsynced)
        self._enqueue({seq: rank for seq, rank in found if seq not in self._held})
        if not self._queue and not self._held:
            self._urgent_idle.set()

    def _enqueue(self, ranks: dict[int, int]) -> None:
        if ranks:
            self._queue.update(ranks)
            self._urgent_idle.clear()
            self._urgent_ready.set()

    # ---- urgent lane ---------------------------------------------------------------------------------------

    async def _urgent_loop(self, pending: list[PendingBatch]) -> None:
        for p in pending:  # what was in flight when the gateway stopped: the same key again, in its turn
            batch = await self._rebuild(p)
            self._held.difference_update(p.seqs or ())
            if batch is not None:
                self._held.update(batch.seqs or ())
                self._aside.append(batch)
        while True:
            chosen = await self._next_urgent()
            batch = await self._refresh(chosen)  # perhaps fewer events (some were acknowledged by a puller)
            self._held.difference_update(set(chosen.seqs or ()) - set(batch.seqs or ()))
            outcome = await self._send(batch, self.urgent)
            if isinstance(outcome, _Again):  # kept under its key; what is more urgent, or newer, goes first
                self._aside.append(batch)
                await self._wait(self.urgent, outcome)
                continue
            self._held.difference_update(batch.seqs or ())
            if outcome == "smaller":  # too large: its events go again in smaller batches
                self._enqueue(dict.fromkeys(batch.seqs or (), batch.top_rank))

    async def _next_urgent(self) -> Batch:
        """Critical before high; at the same priority, queued events before a batch that failed (so that one
        batch, refused or not, cannot hold the lane), and the failed ones in turn. Waits while there is none."""
        while True:
            queued = min(self._queue.values(), default=None)
            aside = min(self._aside, key=lambda b: b.top_rank, default=None)
            if aside is not None and (queued is None or aside.top_rank < queued):
                self._aside.remove(aside)
                return aside
            if queued is not None:
                batch = await self._new_urgent_batch(queued)
                if batch is not None:
                    return batch
                continue
            self._urgent_idle.set()
            self._urgent_ready.clear()
            await self._urgent_ready.wait()

    async def _new_urgent_batch(self, rank: int) -> Batch | None:
        """A batch of the oldest queued events of one priority, recorded as pending (None: all were acknowledged)."""
        take = sorted(seq for seq, r in self._queue.items() if r == rank)[: self.urgent.sizer.count]
        for seq in take:
            del self._queue[seq]
        self._held.update(take)
        rows = await asyncio.to_thread(self.state.rows_of, PendingBatch("", "urgent", 0, 0, tuple(take)))
        batch = await asyncio.to_thread(self._encode, self.urgent, rows, True) if rows else None
        self._held.difference_update(take)
        if batch is None:
            return None
        self._held.update(batch.seqs or ())
        self._enqueue(dict.fromkeys({r[0] for r in rows} - set(batch.seqs or ()), rank))  # over the byte bound
        await self.state.begin(batch)
        return batch

    # ---- backlog lane --------------------------------------------------------------------------------------

    async def _backlog_loop(self, pending: list[PendingBatch]) -> None:
        cursor = 0
        for p in pending:
            await self._while_disk_full()
            batch = await self._rebuild(p)
            if batch is not None and not await self._deliver(batch, self.backlog):
                cursor = p.first_seq - 1
                break
            cursor = max(cursor, p.last_seq)
        ahead: asyncio.Future[Batch | None] | None = None
        try:
            while True:
                await self._while_disk_full()
                batch = await ahead if ahead else None
                if batch is None:
                    rows = await self._next_rows(cursor)
                    batch = await asyncio.to_thread(self._encode, self.backlog, rows, False)
                # catching up: encode the next batch while this one travels and is acknowledged
                ahead = asyncio.ensure_future(asyncio.to_thread(self._full_batch_after, batch.last_seq))
                if await self._deliver(batch, self.backlog):
                    cursor = batch.last_seq
                else:
                    cursor, ahead = batch.first_seq - 1, _cancel(ahead)
        finally:
            _cancel(ahead)

    async def _while_disk_full(self) -> None:
        """The backlog waits while the disk is full: its bookkeeping (each batch's record, its events marked
        synced: pages of the database rewritten) would spend the reserve kept for SOS and alerts. The urgent lane
        goes on; nothing of the backlog is lost, only later."""
        while self.store.disk_full:
            self.stats.lanes["backlog"] = "disk full"
            await asyncio.sleep(DISK_FULL_RECHECK_S)

    def _full_batch_after(self, cursor: int) -> Batch | None:
        """The next batch if a full one is waiting (a backlog); None sends the caller through `_next_rows`."""
        count = self.backlog.sizer.count
        rows = self.state.backlog_rows(cursor, count)
        return self._encode(self.backlog, rows, False) if len(rows) == count else None

    async def _next_rows(self, cursor: int) -> list[Row]:
        """The next batch's rows; waits for events when there are none. A short batch of fresh events waits
        until its oldest is `linger_s` old, so that a quiet building does not send one event a request."""
        lingered = False
        while True:
            self._new_data.clear()
            rows = await asyncio.to_thread(self.state.backlog_rows, cursor, self.backlog.sizer.count)
            wait = 0.0 if lingered or not rows or len(rows) >= self.backlog.sizer.count else self._linger(rows[0])
            if rows and wait <= 0:
                return rows
            if rows:
                lingered = True
                await asyncio.sleep(wait)
                continue
            self.stats.lanes["backlog"] = "idle"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_data.wait(), RESCAN_EVERY)

    def _linger(self, oldest: Row) -> float:
        if oldest[6] != self.store.boot_row or oldest[7] is None:
            return 0.0  # recorded before this boot: it has waited long enough
        return self.cfg.linger_s - (self.clock.monotonic() - oldest[7])

    # ---- batches -------------------------------------------------------------------------------------------

    def _encode(self, lane: _Lane, rows: list[Row], exact: bool) -> Batch:
        """Rows to a batch (on a worker thread: JSON and gzip are the CPU of sync). A batch over the byte bound
        keeps only as many rows as fit (the next batch starts after its last)."""
        timebase = self.state.timebase(self.cfg.clock == "trusted")
        body = ndjson(rows, self.store.event_json, timebase)
        while len(body) > self.cfg.max_batch_bytes and len(rows) > 1:
            rows = rows[: max(1, int(len(rows) * self.cfg.max_batch_bytes / len(body) * 0.9))]
            body = ndjson(rows, self.store.event_json, timebase)
            lane.sizer.count = max(lane.sizer.min_events, min(lane.sizer.count, len(rows)))
        key = idempotency_key(self.store.device_id, rows[0][0], rows[-1][0])
        seqs = tuple(r[0] for r in rows) if exact else None
        return _batch(PendingBatch(key, lane.name, rows[0][0], rows[-1][0], seqs), rows, body, timebase)

    def _from_db(self, p: PendingBatch) -> Batch | None:
        """A batch under its recorded key and range, read again (None when nothing of it is left)."""
        rows = self.state.rows_of(p)
        if not rows:
            return None
        timebase = self.state.timebase(self.cfg.clock == "trusted")
        seqs = tuple(r[0] for r in rows) if p.seqs is not None else None
        return _batch(replace(p, seqs=seqs), rows, ndjson(rows, self.store.event_json, timebase), timebase)

    async def _rebuild(self, p: PendingBatch) -> Batch | None:
        """What was in flight when the gateway stopped, to be sent again under the same key."""
        batch = await asyncio.to_thread(self._from_db, p)
        if batch is None:
            await self.state.forget(p)
        else:
            log.info("sending batch %s again under the same key (its answer was not recorded)", p.key)
        return batch

    async def _refresh(self, batch: Batch) -> Batch:
        """Before each send: if the clock was found synchronised since the batch was encoded, encode the same
        events again under the same key, so that they carry corrected timestamps. (If upstream did keep the
        first copy, it drops this one and corrects the first from the gateway.clock_synced event.)"""
        if self.state.timebase(self.cfg.clock == "trusted") is batch.timebase:  # cached: no database read
            return batch
        return await asyncio.to_thread(self._from_db, batch.pending) or batch

    async def _deliver(self, batch: Batch, lane: _Lane) -> bool:
        """Send a backlog batch until upstream acknowledges or parks it (True), or says it is too large (False)."""
        await self.state.begin(batch)
        while True:
            await self._urgent_idle.wait()  # strict priority: no backlog send while an SOS waits
            batch = await self._refresh(batch)
            outcome = await self._send(batch, lane)
            if not isinstance(outcome, _Again):
                return outcome == "done"
            await self._wait(lane, outcome)

    async def _send(self, batch: Batch, lane: _Lane) -> Outcome:
        """One attempt, and what its answer means for the batch."""
        self.stats.lanes[lane.name] = "sending"
        self._sends += 1
        number, t0 = self._sends, self.clock.monotonic()
        reply = await self._post(batch)
        elapsed = self.clock.monotonic() - t0
        refused_at = self._refused.pop(batch.key, None)
        if isinstance(reply, Acked):
            self._acked_send = max(self._acked_send, number)
            await self._acked(batch, lane, elapsed)
            return "done"
        if isinstance(reply, Refused) and refused_at is not None and self._acked_send > refused_at:
            # upstream took a batch sent after it refused this one: the refusal is about this batch, not the gateway
            reply = Rejected(reply.status, f"refused again while other batches are accepted: {reply.reason}")
        if isinstance(reply, Rejected) or (isinstance(reply, TooLarge) and batch.events == 1):
            await self._rejected(batch, lane, getattr(reply, "status", 413), reply.reason)
            return "done"
        if isinstance(reply, TooLarge):
            await self.state.forget(batch)
            lane.sizer.shrink()
            return "smaller"
        if isinstance(reply, Refused):
            self._refused[batch.key] = self._sends
        return await self._failed(batch, lane, reply, elapsed)

    async def _post(self, batch: Batch) -> Reply:
        """The request, in a daemon thread: shutdown does not wait for it (the batch stays pending, to be sent again
        under its key), and a server that answers headers a byte at a time still cannot hold the lane."""
        call = in_daemon_thread(self.client.post_batch, batch.key, batch.body)
        try:
            return await asyncio.wait_for(call, self.client.deadline_s + DEADLINE_SLACK_S)
        except TimeoutError:
            return Retry(f"timeout: no complete answer in {self.client.deadline_s:g} s", timeout=True)

    async def _acked(self, batch: Batch, lane: _Lane, elapsed: float) -> None:
        n = await self.state.ack(batch)
        self.stats.batches[lane.name, "acked"] += 1
        self.stats.events[lane.name, "acked"] += n
        self.stats.raw_bytes += batch.raw_bytes
        self.stats.wire_bytes += len(batch.body)
        self.stats.last_success_ts = time.time()
        self.stats.lanes[lane.name] = "idle"
        boot, mono = batch.newest
        if boot == self.store.boot_row and mono is not None:
            self.stats.lag_s = max(0.0, self.clock.monotonic() - mono)
        lane.sizer.observe(batch.events, elapsed)
        if lane.backoff.failures:
            log.info("upstream acknowledged %s after %d failed attempts", batch.key, lane.backoff.failures)
        for each in (self.urgent, self.backlog):  # the link is up: whoever was waiting may go now
            each.backoff.reset()
            each.wake.set()
        if self.stats.refused is not None:
            log.info("upstream accepts batches again")
            self.stats.refused = None
            await self.emit(NewEvent("sync.upstream_accepted", "sync", {"key": batch.key}))

    async def _rejected(self, batch: Batch, lane: _Lane, status: int, reason: str) -> None:
        n = await self.state.reject(batch, status, reason)
        self.stats.batches[lane.name, "rejected"] += 1
        self.stats.events[lane.name, "rejected"] += n
        self.stats.lanes[lane.name] = "idle"
        log.error("upstream rejected batch %s (%d events): %s; parked, sync goes on", batch.key, n, reason)
        if not batch.only_sync_kinds:  # a rejected report of a rejection raises no further report
            await self.emit(NewEvent("sync.batch_rejected", "sync", {
                "key": batch.key, "status": status, "reason": reason[:300], "events": n,
                "first_seq": batch.first_seq, "last_seq": batch.last_seq}, Priority.HIGH))

    async def _failed(self, batch: Batch, lane: _Lane, reply: Reply, elapsed: float) -> _Again:
        assert isinstance(reply, Retry | Refused)
        self.stats.batches[lane.name, "retry"] += 1
        (log.warning if lane.backoff.failures == 0 else log.debug)("sync %s: %s", batch.key, reply.reason)
        await self._note_error(reply.reason)
        if isinstance(reply, Refused) and self.stats.refused != reply.status:
            self.stats.refused = reply.status
            log.error("upstream refuses the gateway (%s); batches are kept and tried again", reply.reason)
            await self.emit(NewEvent("sync.upstream_refused", "sync", {"status": reply.status,
                                                                       "reason": reply.reason[:300]},
                                     Priority.HIGH))
        if isinstance(reply, Retry) and reply.timeout and elapsed >= self.cfg.read_timeout_s:
            lane.sizer.shrink()  # the answer took longer than we wait: perhaps the batch is too big for the link
        # a refusal or a certificate that fails verification is not over in half a second: even an urgent batch
        # then backs off as far as the backlog (else it knocks a few times a second for as long as it lasts)
        lasting = isinstance(reply, Refused) or reply.untrusted
        cap = max(lane.backoff.cap, self.cfg.backoff_max_s) if lasting else None
        delay = lane.backoff.next_delay(reply.retry_after, cap)
        if reply.retry_after is not None:
            lane.not_before = self.clock.monotonic() + reply.retry_after
        self.stats.lanes[lane.name] = "waiting"
        return _Again(delay, lane is self.urgent and isinstance(reply, Retry) and reply.link_down)

    async def _wait(self, lane: _Lane, again: _Again) -> None:
        await self._pause(lane, again.delay)
        if again.link_down:
            await self._until_reachable(lane)

    async def _until_reachable(self, lane: _Lane) -> None:
        """While the link is down, knock with a TCP connect (a tenth of a millisecond of CPU) instead of a whole
        request (two), at the same pace: the SOS still leaves within a retry interval of the link coming back,
        and a gateway offline for hours with alerts waiting stays near zero CPU."""
        target = self.client.probe_target
        deadline = self.clock.monotonic() + FULL_ATTEMPT_EVERY
        while target and self.clock.monotonic() < deadline:
            if await _connects(target, self.cfg.connect_timeout_s):
                return
            await self._pause(lane, lane.backoff.next_delay())

    async def _pause(self, lane: _Lane, delay: float) -> None:
        """Wait `delay`, or less when the other lane finds the link back; never before Retry-After allows."""
        lane.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.wake.wait(), delay)
        rest = lane.not_before - self.clock.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)

    async def _note_error(self, text: str) -> None:
        """Keep the last error in memory, and in the database when it changed or a minute has passed (while the
        link is down the urgent lane fails twice a second; that is no reason to write twice a second)."""
        self.stats.last_error, self.stats.last_error_ts = text, time.time()
        last_text, last_at = self._error_persisted
        now = self.clock.monotonic()
        if text != last_text or now - last_at >= ERROR_PERSIST_EVERY:
            self._error_persisted = (text, now)
            await self.state.record_error(text)

    @property
    def urgent_waiting(self) -> int:
        return len(self._queue) + len(self._held)


def _batch(p: PendingBatch, rows: Sequence[Row], body: bytes, timebase: TimeBase) -> Batch:
    return Batch(p.key, p.lane, p.first_seq, p.last_seq, p.seqs, len(rows), gzip_bytes(body), len(body),
                 all(r[2].startswith("sync.") for r in rows), (rows[-1][6], rows[-1][7]), timebase,
                 min(r[4] for r in rows))


async def _connects(target: tuple[str, int], timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*target), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _cancel(fut: asyncio.Future[object] | None) -> None:
    if fut is not None:
        fut.cancel()


def _urgent_seqs(stored: Sequence[Event]) -> list[int]:
    """Seqs of the critical and high events of a committed append, without building an Event per row."""
    return list(_urgent_ranks(stored))


def _urgent_ranks(stored: Sequence[Event]) -> dict[int, int]:
    """Seq -> priority rank of the critical and high events of a committed append."""
    if isinstance(stored, Committed):
        return {seq: rank for part in stored.parts for seq, rank in _urgent_ranks(part).items()}
    if isinstance(stored, Stored):
        return {stored.first_seq + i: e.priority.rank for i, e in enumerate(stored.new) if e.priority.protected}
    return {e.seq: e.priority.rank for e in stored if e.priority.protected}
