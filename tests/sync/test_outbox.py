"""Push against a real HTTP server on 127.0.0.1 that fails on purpose: nothing lost, nothing twice, SOS first."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from edge.events import NewEvent, Priority
from sync.status import snapshot
from tests.sync.central import Central
from tests.sync.conftest import Pusher
from tests.sync.test_client import make_ca


def readings(n: int, source: str = "bin-1", **data: object) -> list[NewEvent]:
    return [NewEvent("bin.level", source, {"level_pct": i % 100, **data}) for i in range(n)]


def sos(band: str = "band-0a1b2c3d") -> NewEvent:
    return NewEvent("wristband.sos", band, {"band": band[5:], "flat": "3-201"}, Priority.CRITICAL)


def assert_exactly_once(central: Central, pusher: Pusher, ids: list[str]) -> None:
    """Every stored event arrived; an event that arrived twice came both times under the same key."""
    assert not central.violations, central.violations
    held = central.events()
    missing = [i for i in ids if i not in held]
    assert not missing, f"{len(missing)} events never arrived, e.g. {missing[:3]}"
    twice = {i: keys for i, keys in central.keys_by_id().items() if len(keys) > 1}
    assert not twice, f"events sent under more than one key: {list(twice.items())[:3]}"
    assert pusher.unsynced() == 0


def sos_during_outage(pusher: Any, central: Any, ids: list[str], failing_s: float) -> tuple[float, Any]:
    """Start pushing to a central that is down; after failing_s an SOS; a second later the central comes back.
    When it came back, and the first batch it acknowledged."""

    async def scenario() -> float:
        pusher.start()
        await asyncio.sleep(failing_s)
        ids.extend(pusher.append([sos()]))
        await asyncio.sleep(1.0)
        central.start()
        back = time.monotonic()
        await pusher.drained()
        await pusher.stop()
        return back

    back = asyncio.run(scenario())
    return back, next(a for a in central.arrivals if a.answer in ("200", "409"))


def test_every_fault_retried_under_the_same_key_until_acknowledged(pusher: Pusher, central: Central):
    central.faults.extend([("status", 503, None), ("status", 503, 1), ("drop",), ("lost",), ("slow", 1.6),
                           ("status", 429, None), ("status", 500, None)])
    ids = pusher.append(readings(1200)) + pusher.append([sos()]) + pusher.append(readings(800, "bin-2"))

    async def scenario() -> None:
        pusher.start()
        await pusher.drained()
        await pusher.stop()

    asyncio.run(scenario())
    assert_exactly_once(central, pusher, ids)
    faults = [(a.fault, a.answer) for a in central.arrivals]
    assert [f for f, _ in faults[:7]] == ["status", "status", "drop", "lost", "slow", "status", "status"], faults
    assert ("ok", "409") in faults  # what was stored but not answered in time came again: the server dropped it
    after = [a for a in central.arrivals if a.answer == "503"][1]
    nxt = central.arrivals[central.arrivals.index(after) + 1]
    assert nxt.at - after.at >= 1.0, "Retry-After: 1 was not honoured"
    stats = pusher.outbox.stats
    assert stats.events["backlog", "acked"] == 2000 and stats.events["urgent", "acked"] == 1
    assert stats.last_error and stats.last_success_ts


def test_a_rejected_batch_is_parked_reported_and_sync_goes_on(pusher: Pusher, central: Central):
    central.rule = lambda key, events: ("status", 400) if any(e["data"].get("poison") for e in events) else None
    ids = pusher.append(readings(700)) + pusher.append(readings(1, poison=True)) + pusher.append(readings(1300))

    async def scenario() -> None:
        pusher.start()
        await pusher.drained()
        await asyncio.sleep(0.3)  # the report of the rejection goes out on the urgent lane
        await pusher.stop()

    asyncio.run(scenario())
    rejected = [a for a in central.arrivals if a.answer == "400"]
    assert len(rejected) == 1 and len({a.key for a in rejected}) == 1
    parked = {e["id"] for e in rejected[0].events}
    held = central.events()
    assert not parked & set(held) and set(ids) - parked <= set(held)
    assert pusher.store.query("SELECT count(*) FROM events WHERE synced = 2")[0][0] == len(parked)
    [report] = [e for e in held.values() if e["kind"] == "sync.batch_rejected"]
    assert report["priority"] == "high" and report["data"]["key"] == rejected[0].key
    assert report["data"]["status"] == 400 and report["data"]["events"] == len(parked)
    s = snapshot(pusher.store, pusher.clock.utcnow(), trusted_clock=True)
    assert (s.rejected_batches, s.rejected_events, s.backlog) == (1, len(parked), 0)
    assert s.rejected[0]["key"] == rejected[0].key and "400" in s.rejected[0]["reason"]
    [alert] = pusher.store.alerts()
    assert alert.kind == "sync.batch_rejected"


def test_a_critical_event_behind_a_backlog_goes_first_when_the_link_returns(pusher: Pusher, central: Central):
    central.stop()
    ids = pusher.append(readings(5000))

    back, first = sos_during_outage(pusher, central, ids, 1.5)  # the backlog lane is failing and backing off
    assert [e["kind"] for e in first.events] == ["wristband.sos"]
    assert first.at - back < 1.0
    assert_exactly_once(central, pusher, ids)


def test_a_batch_in_flight_at_a_crash_is_sent_again_under_its_key(pusher: Pusher, central: Central):
    central.faults.append(("lost",))
    ids = pusher.append(readings(300))

    async def scenario() -> None:
        pusher.start()
        while not central.arrivals:
            await asyncio.sleep(0.01)
        await pusher.stop()  # "crash" while the answer is lost: the ack was never recorded
        ids.extend(pusher.append(readings(300)))  # more events: a new batch would have another range
        pusher.start()
        await pusher.drained()
        await pusher.stop()

    asyncio.run(scenario())
    first, again = central.arrivals[0], central.arrivals[1]
    assert (first.answer, again.answer) == ("lost", "409") and first.key == again.key
    assert_exactly_once(central, pusher, ids)


def test_too_large_batches_are_split(pusher: Pusher, central: Central):
    central.rule = lambda key, events: ("status", 413) if len(events) > 150 else None
    ids = pusher.append(readings(1000))

    async def scenario() -> None:
        pusher.start()
        await pusher.drained()
        await pusher.stop()

    asyncio.run(scenario())
    assert_exactly_once(central, pusher, ids)
    assert all(len(e) <= 150 for e in central.stored.values())
    assert pusher.store.query("SELECT count(*) FROM sync_batches")[0][0] == 0


def test_a_wrong_token_keeps_the_batches_and_says_so(pusher: Pusher, central: Central):
    central.token = "another-token-entirely"
    ids = pusher.append(readings(50))

    async def scenario() -> None:
        pusher.start()
        await asyncio.sleep(1.0)
        assert pusher.outbox.stats.refused == 401
        central.token = "central-token-0123456789"  # the operator fixes the central side
        await pusher.drained()
        await asyncio.sleep(0.3)
        await pusher.stop()

    asyncio.run(scenario())
    assert not [a for a in central.arrivals if a.answer == "400"]
    held = central.events()
    assert set(ids) <= set(held)
    kinds = [e["kind"] for e in held.values()]
    assert "sync.upstream_refused" in kinds and "sync.upstream_accepted" in kinds
    assert pusher.store.query("SELECT count(*) FROM events WHERE synced = 2")[0][0] == 0


def alarm(i: int, **data: object) -> NewEvent:
    return NewEvent("bin.overflow", f"bin-{i}", {"i": i, **data}, Priority.HIGH)


def test_a_critical_event_goes_before_queued_high_ones_and_never_with_them(pusher: Pusher, central: Central):
    central.stop()
    ids = pusher.append([alarm(i) for i in range(200)])  # four urgent batches of 50

    back, first = sos_during_outage(pusher, central, ids, 1.0)  # the urgent lane failing with high events
    assert [e["kind"] for e in first.events] == ["wristband.sos"]
    assert first.at - back < 5.0
    assert not [a.key for a in central.arrivals if len({e["priority"] for e in a.events}) > 1]
    assert_exactly_once(central, pusher, ids)


def refusing(key: str, events: list[dict[str, object]]) -> tuple[object, ...]:
    return ("status", 401, None)


@pytest.mark.parametrize("tls", [False, True])
def test_a_refusing_or_untrusted_upstream_is_retried_with_backoff_on_both_lanes(tmp_path, tls: bool):
    """A wrong token, or a certificate the gateway does not trust, lasts: no knocking twice a second."""
    central = Central(tls=make_ca(tmp_path)[1] if tls else None, rule=refusing).start()
    pusher = Pusher(tmp_path / "edge.db", central.url, sync={"urgent_backoff_max_s": 0.1, "backoff_max_s": 4.0})
    pusher.append(readings(50) + [alarm(1)])

    async def scenario() -> None:
        pusher.start()
        await asyncio.sleep(4.0)
        await pusher.stop()

    try:
        asyncio.run(scenario())
        attempts = pusher.outbox.stats.batches["urgent", "retry"] + pusher.outbox.stats.batches["backlog", "retry"]
        assert 2 <= attempts <= 15, attempts  # with a retry cap of 0.1 s the urgent lane alone made 40
        assert len(central.arrivals) == (0 if tls else attempts)
        assert pusher.unsynced() == (51 if tls else 52)  # with a refusal, its own alert too
    finally:
        pusher.close()
        central.stop()


@pytest.mark.parametrize("priority", [Priority.HIGH, Priority.NORMAL])
def test_a_batch_refused_while_others_are_accepted_is_parked_and_sync_goes_on(pusher: Pusher, central: Central,
                                                                               priority: Priority):
    central.rule = lambda key, events: ("status", 404) if any(e["data"].get("poison") for e in events) else None
    poison = NewEvent("bin.overflow", "bin-9", {"poison": True}, priority)

    async def scenario() -> list[str]:
        pusher.start()
        ids = pusher.append([poison])
        await asyncio.sleep(0.5)
        ids += pusher.append([sos()]) + pusher.append(readings(20))
        await pusher.drained(timeout=20)
        await asyncio.sleep(0.3)  # the report of the rejection goes out on the urgent lane
        await pusher.stop()
        return ids

    ids = asyncio.run(scenario())
    held = central.events()
    refused = {a.key for a in central.arrivals if a.answer == "404"}
    assert len(refused) == 1
    parked = {e["id"] for a in central.arrivals if a.answer == "404" for e in a.events}
    assert ids[0] in parked and set(ids) - parked <= set(held)
    assert pusher.store.query("SELECT count(*) FROM events WHERE synced = 2")[0][0] == len(parked)
    [(state, status)] = pusher.store.query("SELECT state, status FROM sync_batches")
    assert (state, status) == ("rejected", 404)
    kinds = {e["kind"] for e in held.values()}
    assert {"sync.upstream_refused", "sync.batch_rejected"} <= kinds


def test_shutdown_does_not_wait_for_the_answer_in_flight(tmp_path, central: Central):
    central.faults.append(("slow", 8.0))  # stored at once, answered late: the answer is lost to the shutdown
    pusher = Pusher(tmp_path / "edge.db", central.url, sync={"read_timeout_s": 30.0})
    ids = pusher.append(readings(20))

    async def until_sent() -> None:
        pusher.start()
        while not central.arrivals:
            await asyncio.sleep(0.01)
        await pusher.stop()

    async def restart() -> None:
        pusher.start()
        await pusher.drained()
        await pusher.stop()

    try:
        t0 = time.monotonic()
        asyncio.run(until_sent())  # asyncio.run returns once the loop closed: nothing left waiting for the POST
        assert time.monotonic() - t0 < 4.0
        [(key, state)] = pusher.store.query("SELECT key, state FROM sync_batches")
        assert state == "pending" and key == central.arrivals[0].key
        asyncio.run(restart())
        assert [a.key for a in central.arrivals] == [key, key] and central.arrivals[1].answer == "409"
        assert_exactly_once(central, pusher, ids)
    finally:
        pusher.close()


def test_on_a_full_disk_the_backlog_waits_and_sos_still_go(pusher: Pusher, central: Central, monkeypatch):
    """The backlog's bookkeeping would spend the reserve a full disk keeps for SOS (as the store says through
    disk_full): it waits; an SOS goes at once; once the disk has room the backlog goes, every event once."""
    monkeypatch.setattr("sync.outbox.DISK_FULL_RECHECK_S", 0.05)
    ids = pusher.append(readings(300))
    pusher.store._disk_full = True  # as the store sets it when the disk filled up and the reserve was given back

    async def scenario() -> None:
        outbox = pusher.start()
        await asyncio.sleep(1.0)
        assert central.events() == {} and outbox.stats.lanes["backlog"] == "disk full"
        ids.extend(pusher.append([sos()]))
        for _ in range(100):
            if central.events():
                break
            await asyncio.sleep(0.05)
        assert [e["kind"] for e in central.events().values()] == ["wristband.sos"]
        pusher.store._disk_full = False  # maintain() held the reserve again
        await pusher.drained()
        await pusher.stop()

    asyncio.run(scenario())
    assert_exactly_once(central, pusher, ids)
