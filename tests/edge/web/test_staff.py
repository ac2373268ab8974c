"""The staff console's reads from a real store."""

from __future__ import annotations

from datetime import timedelta

from edge.events import NewEvent, Priority
from edge.web import staff


def test_alerts_come_sos_first_with_flat_and_age(store, clock):
    store.append([NewEvent("bin.full", "bin-1", {"level_pct": 85}, Priority.HIGH)])
    clock.advance(60)
    store.append([NewEvent("wristband.sos", "band-1", {"band": "1", "flat": "3-201"}, Priority.CRITICAL)])
    clock.advance(30)
    found = staff.alerts(store, now=clock.utcnow())
    assert [(a["kind"], a["flat"], a["age_s"]) for a in found] == [("wristband.sos", "3-201", 30),
                                                                   ("bin.full", None, 90)]
    store.ack_alert(found[1]["id"], by="li")
    found = staff.alerts(store, now=clock.utcnow())
    assert [(a["kind"], a["state"]) for a in found] == [("wristband.sos", "open"), ("bin.full", "acked")]


def test_wristbands_not_heard_lately_longest_silent_first(store, clock):
    store.append([NewEvent("wristband.seen", "band-a", {"band": "a", "flat": "1-101"})])
    clock.advance(3 * 3600)
    store.append([NewEvent("wristband.heart_rate", "band-b", {"band": "b", "flat": "1-102", "bpm": 70})])
    clock.advance(2.5 * 3600)
    store.append([NewEvent("wristband.seen", "band-c", {"band": "c", "flat": "1-103"}),
                  NewEvent("wristband.missing", "band-a", {"band": "a", "flat": "1-101", "silent_hours": 5},
                           Priority.HIGH),
                  NewEvent("wristband.missing", "band-z", {"band": "z", "flat": "9-909", "silent_hours": 200},
                           Priority.HIGH)])
    bands = staff.wristbands(store, now=clock.utcnow(), unseen_after=timedelta(hours=2))
    assert bands["heard_recently"] == 1  # band-c; a missing alert is not a sighting
    assert [(b["source"], b["flat"], b["silent_s"], b["missing_alert"]) for b in bands["silent"]] == [
        ("band-z", "9-909", None, True), ("band-a", "1-101", 19800, True), ("band-b", "1-102", 9000, False)]


def test_the_gate_log_merges_kinds_newest_first_with_full_plates(store):
    store.append([NewEvent("gate.opened", "gate", {"plate": "湘A12345", "direction": "entry", "secret": "x"}),
                  NewEvent("plate.visitor", "gate", {"plate": "粤B99999", "confidence": 0.9}),
                  NewEvent("plate.read", "gate", {"plate": "湘A12345"})])
    log = staff.gate_log(store, limit=2)
    assert [(g["kind"], g["plate"]) for g in log] == [("plate.read", "湘A12345"), ("plate.visitor", "粤B99999")]
    assert "secret" not in staff.gate_log(store)[-1]


def test_device_figures_and_charts_from_the_store(store, clock):
    clock.advance(1800)
    now = clock.utcnow()  # 00:30
    store.append([NewEvent("gateway.health", "gateway", {"rss_mb": 80.5}, Priority.LOW)])
    store.append([NewEvent("bin.level", "bin-1", {"level_pct": v}, ts=now - timedelta(minutes=m))
                  for v, m in ((30, 50), (55, 40), (20, 10))])
    store.append([NewEvent("parking.summary", "cam", {"zones": [{"zone": "A", "free": 1, "total": 4}]},
                           ts=now - timedelta(minutes=5))])
    dev = staff.device(store)
    assert dev["store"]["events"] == 5 and dev["store"]["unsynced"] == 5 and dev["report"]["rss_mb"] == 80.5
    charts = staff.chart_data(store, now=now, tz="UTC")
    assert charts["occupancy_day"]["values"][-1] == 75.0
    assert charts["bins_week"]["series"]["bin-1"][-2:] == [55, 20]  # 21:00-24:00 and 00:00-03:00
