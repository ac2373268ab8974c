"""Sync fixtures: the failing central server, and the push side running in-process on a real store."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import EventBus
from edge.clock import Clock
from edge.config import SyncConfig
from edge.events import NewEvent
from edge.store import EventStore
from sync.client import UpstreamClient
from sync.outbox import Outbox
from sync.state import SyncState
from tests.sync.central import TOKEN, Central

FAST = {"read_timeout_s": 1.0, "connect_timeout_s": 1.0, "linger_s": 0.0, "backoff_max_s": 1.0, "clock": "trusted",
        "max_batch_events": 500}


@pytest.fixture
def central() -> Iterator[Central]:
    c = Central().start()
    yield c
    c.stop()


class Pusher:
    """An Outbox over a real store file and real HTTP, run on the test's event loop."""

    def __init__(self, path: Path, url: str, *, clock: Clock | None = None, token: str = TOKEN,
                 boot_id: str | None = None, sync: dict[str, Any] | None = None) -> None:
        self.clock = clock or Clock()
        self.store = EventStore.open(path, device_id="t-gw1", building_id="b01", clock=self.clock, boot_id=boot_id)
        self.cfg = SyncConfig(**(FAST | (sync or {})))
        self.state = SyncState(self.store, self.clock)
        self.state.create()
        self.client = UpstreamClient(url, token, "t-gw1", connect_timeout=self.cfg.connect_timeout_s,
                                     read_timeout=self.cfg.read_timeout_s)
        self.outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Outbox:
        """A fresh outbox (as after a restart) on the running loop."""
        bus = EventBus(asyncio.get_running_loop())
        self.store.add_listener(bus.publish_threadsafe)
        self.outbox = Outbox(self.store, self.state, self.client, self.cfg, clock=self.clock, emit=self.store.emit,
                             bus=bus, rng=random.Random(1))
        self._task = asyncio.create_task(self.outbox.run())
        return self.outbox

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def append(self, events: list[NewEvent]) -> list[str]:
        return self.store.append(events).ids

    def unsynced(self) -> int:
        return self.store.query("SELECT count(*) FROM events WHERE synced = 0")[0][0]

    async def drained(self, timeout: float = 30.0) -> None:
        """Wait until nothing is left to acknowledge (rejected events do not count)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await asyncio.to_thread(self.unsynced):
            if loop.time() > deadline:
                raise TimeoutError(f"{self.unsynced()} events still unsynced after {timeout}s")
            if self._task and self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self.client.close()
        self.store.close()


@pytest.fixture
def pusher(tmp_path: Path, central: Central) -> Iterator[Pusher]:
    p = Pusher(tmp_path / "edge.db", central.url)
    yield p
    p.close()
