"""The kiosk's live state: replayed from the store at start, then kept current from the event bus.

Readers (the public JSON, the page's live stream, the staff console) call `view()`; `wait_change()` returns when
an event arrived or after a timeout. When the bus had to drop batches for us, the state is replayed again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from edge.bus import EventBus
from edge.clock import Clock, parse_rfc3339
from edge.config import KioskConfig
from edge.events import Event, Priority
from edge.reader import EVENT_COLUMNS, EventReader
from edge.web.projection import KioskState
from edge.web.view import public_view

log = logging.getLogger(__name__)

REPLAY_LIMIT = 1000
# What replaying needs of each kind: the latest per source, the latest overall, or the newest REPLAY_LIMIT.
_LATEST_PER_SOURCE = ("bin.level", "bin.full", "bin.emptying", "bin.emptied", "light.fault", "light.restored")
_LATEST = ("parking.summary", "gate.opened")
_NEWEST = ("alert.acked", "kiosk.notice", "kiosk.notice_removed", "parking.space")


def replay_sql() -> str:
    """One statement, so that it reads one snapshot of the database; `?1` is the highest seq to include."""
    parts = [f"SELECT {EVENT_COLUMNS} FROM events WHERE seq IN (SELECT max(seq) FROM events "
             f"WHERE kind = '{k}' AND seq <= ?1 GROUP BY source)" for k in _LATEST_PER_SOURCE]
    parts += [f"SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE kind = '{k}' AND seq <= ?1 "
              "ORDER BY seq DESC LIMIT 1)" for k in _LATEST]
    parts += [f"SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE kind = '{k}' AND seq <= ?1 "
              f"ORDER BY seq DESC LIMIT {REPLAY_LIMIT})" for k in _NEWEST]
    return " UNION ALL ".join(parts) + " ORDER BY seq"


REPLAY_SQL = replay_sql()


class KioskFeed:
    def __init__(self, store: EventReader, bus: EventBus | None, cfg: KioskConfig, *, building_id: str, tz: str,
                 clock: Clock) -> None:
        self._store, self._bus, self._clock = store, bus, clock
        self.cfg, self.building_id, self.tz = cfg, building_id, tz
        self.state = KioskState()
        self.ready = False
        self.public_version = 0  # bumps when what the kiosk shows may have changed
        self.events_version = 0  # bumps on every event (the staff console follows this)
        self.clients = 0  # open live streams
        self.replays = 0
        self.closed = False  # set when the feed stops (the gateway shuts down): live streams end
        self._changed = asyncio.Event()

    def view(self) -> dict[str, Any]:
        return public_view(self.state, self.cfg, building_id=self.building_id, now=self._clock.utcnow(),
                           tz=self.tz)

    async def wait_change(self, timeout: float) -> bool:
        """True when an event arrived, False after `timeout` seconds of quiet."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def health(self) -> dict[str, Any]:
        # not ok while the task is down (crashed, waiting to be restarted): the screen shows stale data then
        return {"ok": not self.closed, "ready": self.ready, "seq": self.state.seq, "live_clients": self.clients,
                "replays": self.replays}

    async def run(self) -> None:
        """Replay, then follow the bus (subscribed first, so nothing committed in between is missed)."""
        if self._bus is None:
            raise RuntimeError("the kiosk needs the event bus")
        sub = self._bus.subscribe()
        self.closed = False  # again, after a restart by the supervisor
        try:
            await self._replay()
            while True:
                batch = await sub.get()
                if sub.dropped:
                    sub.dropped = 0
                    log.warning("kiosk fell behind the event bus; replaying its state from the store")
                    await self._replay()
                    continue
                self._apply(batch)
        finally:
            sub.close()
            self.closed = True
            self._bump(public=True)

    async def _replay(self) -> None:
        self.state = await asyncio.to_thread(self.replayed)
        self.replays += 1
        self.ready = True
        self._bump(public=True)

    def replayed(self) -> KioskState:
        """A fresh state from what the store holds (a handful of rows per bin, light and kind)."""
        state = KioskState()
        top = self._store.query("SELECT max(seq) FROM events")[0][0] or 0
        for r in self._store.query(REPLAY_SQL, (top,)):
            state.apply(self._event(r))
        state.seq = top
        return state

    def _event(self, r: tuple[Any, ...]) -> Event:
        return Event(self._store.device_id, self._store.building_id, r[0], parse_rfc3339(r[1]), r[2], r[3],
                     Priority.from_rank(r[4]), json.loads(r[5]))

    def _apply(self, batch: Any) -> None:
        changed = False
        for event in batch:
            if event.seq > self.state.seq:
                changed = self.state.apply(event) or changed
        self._bump(public=changed)

    def _bump(self, *, public: bool) -> None:
        self.events_version += 1
        if public:
            self.public_version += 1
        old, self._changed = self._changed, asyncio.Event()
        old.set()
