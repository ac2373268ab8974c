"""Fan-out of committed events to live consumers (rules, kiosk, sync's priority lane).

The store's writer thread calls publish_threadsafe after each commit; subscribers read from bounded queues on the
event loop. A slow subscriber loses its oldest queued batches (and is told so), never blocks the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from edge.events import Event


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._q: asyncio.Queue[Sequence[Event]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, batch: Sequence[Event]) -> None:
        if self._q.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._q.get_nowait()
                self.dropped += 1
        self._q.put_nowait(batch)

    async def batches(self) -> AsyncIterator[Sequence[Event]]:
        while True:
            yield await self._q.get()

    async def get(self) -> Sequence[Event]:
        return await self._q.get()

    def close(self) -> None:
        self._bus._subs.discard(self)


class EventBus:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subs: set[Subscription] = set()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, batch: Sequence[Event]) -> None:
        for sub in list(self._subs):
            sub._offer(batch)

    def publish_threadsafe(self, batch: Sequence[Event]) -> None:
        if self._subs:
            with contextlib.suppress(RuntimeError):  # the loop is closed during shutdown
                self._loop.call_soon_threadsafe(self.publish, batch)
