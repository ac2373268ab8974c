"""A full disk: appends fail with a clear error, nothing acknowledged is lost, and writing resumes with space."""


import pytest

from edge.errors import StoreFullError
from edge.events import NewEvent, Priority
from edge.store import EventStore


def open_store(folder):
    return EventStore.open(folder / "edge.db", device_id="t-gw1", building_id="b01", max_mb=16)


def test_full_disk_refuses_cleanly_and_keeps_what_was_acknowledged(small_disk):
    other = small_disk / "someone-elses-file"
    other.write_bytes(b"\0" * 1024 * 1024)
    store = open_store(small_disk)
    assert store.reserve.path.stat().st_size == 1024 * 1024
    acked = []
    with pytest.raises(StoreFullError, match="disk full"):
        for i in range(10_000):
            acked += store.append([NewEvent("bin.level", "bin-1", {"i": i, "blob": "z" * 2000})]).ids
    assert len(acked) > 50 and store.healthy()
    assert not store.reserve.path.exists()  # given back to get the last writes and the alert through
    [full] = store.events(kind="gateway.disk_full")
    assert full.priority is Priority.HIGH and [a.kind for a in store.alerts()] == ["gateway.disk_full"]
    other.unlink()  # the installer makes room
    sos = store.append([NewEvent("wristband.sos", "band-1", {"flat": "1-101"}, Priority.CRITICAL)])
    store.close()
    store = open_store(small_disk)
    kept = {e.id for e in store.events(limit=100_000)}
    assert set(acked) <= kept and sos.ids[0] in kept
    assert not list(small_disk.glob("edge.db.corrupt-*"))
    store.close()


def test_on_a_full_disk_the_reserve_is_kept_for_sos_and_the_gateway_restarts(small_disk):
    store = open_store(small_disk)  # a bound of 16 MB on a 4 MB disk: the disk fills first
    acked = []
    with pytest.raises(StoreFullError, match="disk full"):
        for i in range(10_000):
            acked += store.append([NewEvent("bin.level", "bin-1", {"i": i, "blob": "z" * 2000})]).ids
    # what is left of the reserve is kept for SOS and alerts: readings no longer use it up
    with pytest.raises(StoreFullError, match="disk full.*normal and low events are refused"):
        store.append([NewEvent("bin.level", "bin-1", {"blob": "z" * 2000})])
    sos = [store.append([NewEvent("wristband.sos", f"band-{i}", {"blob": "s" * 2000}, Priority.CRITICAL)]).ids[0]
           for i in range(25)]  # a commit each, with its alert: whole pages in the log, about 30 kB each
    store.ping()  # the watchdog's round trip writes nothing, so it answers on a full disk
    store.close()
    store = open_store(small_disk)  # a restart on the full disk opens it as it is
    kept = {e.id for e in store.events(limit=100_000)}
    assert set(sos) <= kept and set(acked) <= kept
    assert not list(small_disk.glob("edge.db.corrupt-*"))
    store.close()


def test_reserve_comes_back_when_there_is_room_and_closes_the_alert(small_disk):
    store = open_store(small_disk)
    store.reserve.release()
    store.maintain()
    assert store.reserve.path.exists() and store.events(kind="gateway.disk_ok")
    store.close()


def test_on_a_full_disk_an_event_that_closes_an_open_alert_is_still_taken(small_disk):
    store = open_store(small_disk)
    store.append([NewEvent("light.fault", "street-1", {"light": "street-1"}, Priority.HIGH)])
    with pytest.raises(StoreFullError, match="disk full"):
        for i in range(10_000):
            store.append([NewEvent("bin.level", "bin-1", {"i": i, "blob": "z" * 2000})])
    with pytest.raises(StoreFullError, match="normal and low events are refused"):
        store.append([NewEvent("bin.level", "bin-1", {"blob": "z"})])
    # light.restored is sent once (the tracker has moved on): refused, the alert would stay open for good
    store.append([NewEvent("light.restored", "street-1", {"light": "street-1", "fault_s": 60.0})])
    assert [a.kind for a in store.alerts()] == ["gateway.disk_full"]
    store.close()


def test_on_a_full_disk_a_flood_of_closing_events_does_not_spend_the_reserve_kept_for_sos(small_disk):
    store = open_store(small_disk)
    store.append([NewEvent("bin.full", "bin-1", {"level_pct": 90}, Priority.HIGH)])
    with pytest.raises(StoreFullError, match="disk full"):
        for i in range(10_000):
            store.append([NewEvent("bin.level", "bin-1", {"i": i, "blob": "z" * 2000})])
    # a client posting bin.emptied for the full bin again and again, 16 KB each: only one may pass, and it does
    flood = [NewEvent("bin.emptied", "bin-1", {"blob": "e" * 16_000}) for _ in range(50)]
    with pytest.raises(StoreFullError, match="normal and low events are refused"):
        store.append(flood)
    store.append(flood[:1])
    with pytest.raises(StoreFullError, match="normal and low events are refused"):
        store.append(flood[:1])
    sos = [store.append([NewEvent("wristband.sos", f"band-{i}", {"blob": "s" * 2000}, Priority.CRITICAL)]).ids[0]
           for i in range(25)]
    store.close()
    store = open_store(small_disk)
    assert set(sos) <= {e.id for e in store.events(limit=100_000)}
    assert [a.kind for a in store.alerts()] == ["wristband.sos"] * 25 + ["gateway.disk_full"]
    store.close()
