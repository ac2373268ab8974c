"""Timestamps taken before the clock was synchronised: flagged, corrected, and the correction reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from edge.clock import FakeClock, parse_rfc3339
from edge.events import NewEvent
from edge.store import EventStore
from sync.timesync import ClockWatch, system_clock_synchronised
from tests.sync.central import Central
from tests.sync.conftest import Pusher

POWER_ON = datetime(2021, 1, 1, tzinfo=UTC)  # what a Pi without a battery clock believes after a power cut
TRUE_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CLIENT_TS = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def reading(i: int) -> NewEvent:
    return NewEvent("bin.level", "bin-1", {"level_pct": i})


def test_unsynchronised_timestamps_are_flagged_then_corrected(tmp_path, central: Central):
    old = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01", boot_id="boot-before",
                          clock=FakeClock(POWER_ON))
    old.append([reading(0)])  # a boot that never saw a synchronised clock
    old.close()
    clock = FakeClock(POWER_ON)
    synced = [False]
    p = Pusher(tmp_path / "edge.db", central.url, clock=clock, boot_id="boot-now",
               sync={"clock": "system"})
    watch = ClockWatch(p.store, p.state, clock, lambda: synced[0], p.store.emit, every=0.05)

    async def scenario() -> None:
        assert await watch.check() is False
        p.append([reading(1), reading(2)])
        p.append([NewEvent("bin.level", "bin-1", {"level_pct": 7}, ts=CLIENT_TS)])  # a time the client took
        p.start()
        await p.drained()
        central.stop()
        clock.advance(10)
        p.append([reading(3)])  # recorded while unsynchronised, sent after the correction is known
        clock.advance(5)
        clock.set_wall(TRUE_TIME)  # NTP steps the clock
        synced[0] = True
        assert await watch.check() is True
        p.append([reading(4)])
        central.start()
        await p.drained()
        await p.stop()

    asyncio.run(scenario())
    p.close()
    got = {e["data"].get("level_pct", e["kind"]): e for e in central.events().values()}
    assert got[0]["clock"] == "unsynced" and got[0]["boot"] == "boot-before"  # never correctable
    for i in (1, 2):
        assert (got[i]["clock"], got[i]["boot"], got[i]["mono"]) == ("unsynced", "boot-now", 1000.0)
        assert got[i]["ts"] == "2021-01-01T00:00:00.000Z"
    assert got[3]["clock"] == "corrected" and got[3]["ts_device"] == "2021-01-01T00:00:10.000Z"
    assert got[3]["ts"] == "2026-11-23T07:59:55.000Z"
    assert "clock" not in got[4] and got[4]["ts"] == "2026-11-23T08:00:00.000Z"
    assert "clock" not in got[7] and got[7]["ts"] == "2026-11-20T09:30:00.000Z"  # sent as the client gave it
    report = got["gateway.clock_synced"]["data"]
    assert report["boot"] == "boot-now" and report["synced_mono"] == 1015.0
    assert (report["events"], report["first_seq"], report["last_seq"]) == (3, got[1]["seq"], got[3]["seq"])
    assert report["step_s"] == round((TRUE_TIME - POWER_ON).total_seconds() - 15, 3)
    # what the central server does with the report: true ts = mono + offset_s for that boot's flagged events
    fixed = datetime.fromtimestamp(got[1]["mono"] + report["offset_s"], UTC)
    assert fixed == parse_rfc3339("2026-11-23T07:59:45.000Z")


def test_a_clock_synchronised_from_the_start_flags_nothing(tmp_path, central: Central):
    clock = FakeClock(TRUE_TIME)
    p = Pusher(tmp_path / "edge.db", central.url, clock=clock, sync={"clock": "system"})
    watch = ClockWatch(p.store, p.state, clock, lambda: True, p.store.emit, every=0.05)

    async def scenario() -> None:
        p.append([reading(1)])  # stored before the watch's first look: its ts is right all the same
        assert await watch.check() is True
        p.append([reading(2)])
        p.start()
        await p.drained()
        await p.stop()

    asyncio.run(scenario())
    p.close()
    events = list(central.events().values())
    assert len(events) == 2 and not any("clock" in e for e in events)


def test_an_unreadable_clock_state_counts_as_unsynchronised(store, caplog):
    def broken() -> bool:
        raise OSError(1, "adjtimex not permitted")

    from sync.state import SyncState

    state = SyncState(store, FakeClock())
    state.create()
    watch = ClockWatch(store, state, FakeClock(), broken, store.emit, every=1)
    for _ in range(3):  # probed every clock_every_s (10 s): said once, not 8640 times a day
        assert asyncio.run(watch.check()) is False and watch.synced is False
    said = [r for r in caplog.records if "cannot tell whether the clock is synchronised" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "WARNING"


def test_the_kernel_can_be_asked():
    assert system_clock_synchronised() in (True, False)  # adjtimex(2) read-only works without privileges
