"""The live feed on a real store: replaying history, following the bus, catching up after dropped batches."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge.bus import EventBus, Subscription
from edge.config import KioskConfig
from edge.events import NewEvent, Priority
from edge.web.feed import REPLAY_LIMIT, REPLAY_SQL, KioskFeed

HIGH = Priority.HIGH


def make_feed(store, bus=None) -> KioskFeed:
    return KioskFeed(store, bus, KioskConfig(), building_id="b01", tz="Asia/Shanghai", clock=store._clock)


def test_replay_rebuilds_the_state_from_a_long_history(store):
    store.append([NewEvent("bin.level", "bin-1", {"level_pct": float(i % 70)}) for i in range(500)])
    store.append([NewEvent("bin.full", "bin-1", {"level_pct": 82}, HIGH), NewEvent("bin.full", "bin-2", {}, HIGH),
                  NewEvent("light.fault", "light-1", {}, HIGH), NewEvent("light.fault", "light-2", {}, HIGH)])
    for alert in store.alerts():
        if alert.source in ("bin-1", "bin-2", "light-2"):
            store.ack_alert(alert.id, by="li")
    store.append([NewEvent("bin.emptied", "bin-1", {"level_pct": 2}), NewEvent("bin.level", "bin-1", {"level_pct": 5}),
                  NewEvent("light.restored", "light-1"),
                  NewEvent("parking.summary", "cam", {"zones": [{"zone": "A", "free": 3, "total": 9}],
                                                      "spaces": {"A-1": False}}),
                  NewEvent("parking.space", "cam", {"space": "A-1", "zone": "A", "occupied": True}),
                  NewEvent("kiosk.notice", "api", {"id": "n1", "zh": "停水"}),
                  NewEvent("kiosk.notice", "api", {"id": "n2", "zh": "停电"}),
                  NewEvent("kiosk.notice_removed", "api", {"id": "n1"}),
                  NewEvent("wristband.sos", "band-1", {"flat": "3-201"}, Priority.CRITICAL)])
    state = make_feed(store).replayed()
    assert state.seq == store.stats().last_seq
    assert (state.bins["bin-1"].level_pct, state.bins["bin-1"].full, state.bins["bin-1"].emptying) == (5, False, False)
    assert state.bins["bin-2"].full and state.bins["bin-2"].emptying
    assert list(state.lights) == ["light-2"] and state.lights["light-2"].repairing
    assert state.parking.zones == {"A": [2, 9]}
    assert list(state.notices) == ["n2"]


def test_replay_reads_a_bounded_number_of_rows(store):
    store.append([NewEvent("kiosk.notice", "api", {"id": f"n{i}", "zh": "x"}) for i in range(REPLAY_LIMIT + 50)])
    rows = store.query(f"SELECT count(*) FROM ({REPLAY_SQL})", (10**9,))
    assert rows[0][0] == REPLAY_LIMIT


class TinyBus(EventBus):
    """A bus whose subscribers hold one batch: the feed must notice what it lost and replay."""

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        return super().subscribe(1)


def run_with_feed(store, bus_type: type[EventBus], body: Callable[[KioskFeed], Awaitable[None]]) -> KioskFeed:
    async def main() -> KioskFeed:
        bus = bus_type(asyncio.get_running_loop())
        store.add_listener(bus.publish_threadsafe)
        feed = make_feed(store, bus)
        task = asyncio.create_task(feed.run())
        try:
            while not feed.ready:
                await feed.wait_change(1.0)
            await asyncio.wait_for(body(feed), 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return feed

    return asyncio.run(main())


async def until(feed: KioskFeed, check: Callable[[], bool]) -> None:
    while not check():
        await feed.wait_change(1.0)


def test_the_feed_follows_the_bus_and_wakes_its_readers(store):
    async def body(feed: KioskFeed) -> None:
        seen = feed.public_version
        await store.aappend([NewEvent("bin.level", "bin-9", {"level_pct": 42})])
        await until(feed, lambda: feed.public_version > seen)
        assert feed.view()["bins"][0]["level_pct"] == 42
        version = feed.public_version
        await store.aappend([NewEvent("wristband.heart_rate", "band-1", {"bpm": 70})])
        await until(feed, lambda: feed.events_version > 1)
        assert feed.public_version == version  # the kiosk shows nothing of it

    feed = run_with_feed(store, EventBus, body)
    assert feed.closed  # stopping the feed ends the live streams


def test_dropped_batches_are_made_good_by_a_replay(store):
    async def body(feed: KioskFeed) -> None:
        for i in range(6):  # six commits while the loop is blocked: their batches pile up on a one-slot queue
            store.append([NewEvent("bin.level", f"bin-{i}", {"level_pct": 10 + i})])
        await until(feed, lambda: len(feed.state.bins) == 6)
        assert feed.replays == 2

    run_with_feed(store, TinyBus, body)
