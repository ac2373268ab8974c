from __future__ import annotations

import pytest

from edge.config import WristbandConfig
from edge.events import Priority
from edge.wristbands import Band, Registry, Settings, WristbandRules
from sensors.wristband import WristbandState

BAND = Band("0a1b2c3d", "3-201", hr_min=50, hr_max=110)
SETTINGS = Settings(heart_rate_every_s=300, seen_every_s=900, heart_rate_sustained_s=120, battery_low_pct=20,
                    missing_after_s=12 * 3600)


def adv(sos=False, counter=0, bpm: int | None = 70, battery: int | None = 80, fall=False) -> WristbandState:
    return WristbandState("0a1b2c3d", sos, counter, 0, battery, bpm, True, False, fall)


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_first_advertisement_is_seen_and_heart_rate():
    events = WristbandRules(SETTINGS, started=0).evaluate(adv(), BAND, 10.0, -60)
    assert kinds(events) == ["wristband.seen", "wristband.heart_rate"]
    assert events[0].data == {"band": "0a1b2c3d", "flat": "3-201", "rssi": -60, "battery_pct": 80}
    assert events[0].source == "band-0a1b2c3d"
    assert all("resident" not in e.data for e in events)


def test_one_alert_per_sos_incident():
    rules = WristbandRules(SETTINGS, started=0)
    sos = [rules.evaluate(adv(sos=True, counter=4), BAND, t, -50) for t in (1.0, 1.1, 1.2, 5.0)]
    assert [kinds(e).count("wristband.sos") for e in sos] == [1, 0, 0, 0]
    event = next(e for e in sos[0] if e.kind == "wristband.sos")
    assert event.priority is Priority.CRITICAL and event.data["sos_counter"] == 4
    assert kinds(sos[0])[0] == "wristband.sos"  # first, ahead of the readings
    rules.evaluate(adv(sos=False, counter=4), BAND, 70.0, -50)
    again = rules.evaluate(adv(sos=True, counter=5), BAND, 80.0, -50)
    assert kinds(again).count("wristband.sos") == 1  # a new incident


def test_sos_with_the_same_counter_after_a_clear_is_alerted():
    """A band that rebooted restarts its counter; after the flag was clear, SOS is a new incident."""
    rules = WristbandRules(SETTINGS, started=0)
    rules.evaluate(adv(sos=True, counter=1), BAND, 1.0, -50)
    rules.evaluate(adv(sos=False, counter=0), BAND, 100.0, -50)
    assert kinds(rules.evaluate(adv(sos=True, counter=1), BAND, 200.0, -50)).count("wristband.sos") == 1


def test_heart_rate_and_seen_are_rate_limited():
    rules = WristbandRules(SETTINGS, started=0)
    counts = {"wristband.heart_rate": 0, "wristband.seen": 0}
    for t in range(0, 1800):  # half an hour at 1 Hz
        for k in kinds(rules.evaluate(adv(), BAND, float(t), -60)):
            counts[k] += 1
    assert counts == {"wristband.heart_rate": 6, "wristband.seen": 2}


def test_sustained_out_of_range_heart_rate():
    rules = WristbandRules(SETTINGS, started=0)
    alerts = []
    for t in range(0, 200):
        alerts += [e for e in rules.evaluate(adv(bpm=140), BAND, float(t), -60) if e.priority is Priority.HIGH]
    assert len(alerts) == 1 and alerts[0].kind == "wristband.heart_rate_alert"
    assert alerts[0].data["for_s"] == 120 and alerts[0].data["bpm"] == 140
    back = [kinds(rules.evaluate(adv(bpm=80), BAND, float(t), -60)) for t in range(200, 330)]
    assert [t for t, k in enumerate(back, 200) if "wristband.heart_rate_normal" in k] == [320]  # in range 120 s


def test_a_short_spike_is_not_an_alert():
    rules = WristbandRules(SETTINGS, started=0)
    events = [e for t in range(0, 100) for e in rules.evaluate(adv(bpm=140 if t < 60 else 75), BAND, float(t), -60)]
    events += [e for t in range(100, 160) for e in rules.evaluate(adv(bpm=140), BAND, float(t), -60)]
    assert "wristband.heart_rate_alert" not in kinds(events)


def test_battery_low_once_then_ok_with_hysteresis():
    rules = WristbandRules(SETTINGS, started=0)
    seq = [25, 19, 18, 21, 24, 26, 15]
    out = [k for i, pct in enumerate(seq) for k in kinds(rules.evaluate(adv(battery=pct), BAND, float(i), -60))
           if k.startswith("wristband.battery")]
    assert out == ["wristband.battery_low", "wristband.battery_ok", "wristband.battery_low"]


def test_missing_once_per_absence_and_seen_again():
    rules = WristbandRules(SETTINGS, started=0)
    other = Band("00000002", "1-101")
    rules.evaluate(adv(), BAND, 100.0, -60)
    hour = 3600.0
    assert rules.check_missing([BAND, other], 11 * hour) == []
    first = rules.check_missing([BAND, other], 12 * hour + 50)
    assert [(e.kind, e.data["band"]) for e in first] == [("wristband.missing", "00000002")]
    second = rules.check_missing([BAND, other], 12 * hour + 200)
    assert [e.data["band"] for e in second] == ["0a1b2c3d"] and second[0].priority is Priority.HIGH
    assert rules.check_missing([BAND, other], 20 * hour) == []  # exactly one per absence
    back = rules.evaluate(adv(), BAND, 20 * hour + 1, -70)
    assert "wristband.seen" in kinds(back)  # closes the missing alert (edge/alerts.py)
    assert [e.data["band"] for e in rules.check_missing([BAND, other], 33 * hour)] == ["0a1b2c3d"]


def test_registry_by_id_or_address_and_unknown_counted():
    reg = Registry([WristbandConfig(band="0A1B2C3D".lower(), flat="3-201"),
                    WristbandConfig(band="C0:FF:EE:00:00:09", flat="1-101", resident="Wang Fang")])
    assert reg.lookup("0a1b2c3d", "11:22:33:44:55:66").flat == "3-201"
    assert reg.lookup("ffffffff", "c0:ff:ee:00:00:09").flat == "1-101"
    assert reg.lookup("deadbeef", "11:22:33:44:55:66") is None
    assert reg.lookup("deadbeef", "11:22:33:44:55:77") is None
    assert reg.unknown == {"deadbeef"}
    assert all("Wang" not in repr(b) for b in reg.bands())


def test_an_unregistered_band_is_remembered_only_once_it_calls():
    rules = WristbandRules(SETTINGS, started=0)
    assert rules.unregistered(adv(sos=False, counter=3), 1.0, -70) == []
    assert rules.states == {}  # passers-by cost nothing
    [sos] = rules.unregistered(adv(sos=True, counter=3), 2.0, -70)
    assert sos.kind == "wristband.sos" and sos.data["flat"] is None
    assert rules.unregistered(adv(sos=False, counter=3), 3.0, -70) == []
    assert kinds(rules.unregistered(adv(sos=True, counter=3), 4.0, -70)) == ["wristband.sos"]  # cleared between


def test_a_band_registered_while_running_is_missing_only_after_its_own_silence():
    """A band added to the registry (PUT settings, downlink) has been listened for since then, not since the
    gateway started: it was raised as missing at the next check, with the gateway's uptime as its silence."""
    rules = WristbandRules(SETTINGS, started=0)
    hour = 3600.0
    new = Band("0c0ffee0", "5-501")
    rules.evaluate(adv(), BAND, 19 * hour, -60)
    assert rules.check_missing([BAND], 19 * hour + 60) == []
    assert rules.check_missing([BAND, new], 20 * hour) == []  # registered a minute ago
    assert rules.check_missing([BAND, new], 30 * hour) == []
    [missing] = [e for e in rules.check_missing([BAND, new], 32 * hour + 60) if e.source == new.source]
    assert missing.data["silent_hours"] == pytest.approx(12, abs=0.1)


def test_a_band_registered_again_counts_its_silence_from_then():
    rules = WristbandRules(SETTINGS, started=0)
    hour = 3600.0
    other = Band("00000002", "1-101")
    rules.evaluate(adv(), BAND, 10.0, -60)
    rules.evaluate(adv(), BAND, 11 * hour, -60)  # then the resident moves out and the band is unregistered
    rules.check_missing([BAND, other], 11 * hour + 60)
    rules.check_missing([other], 12 * hour)
    assert rules.check_missing([BAND, other], 40 * hour) == []  # registered again for a new resident
    assert [e.source for e in rules.check_missing([BAND, other], 52 * hour)] == [BAND.source]


def test_one_reading_in_range_does_not_close_a_sustained_heart_rate_alert():
    """An optical sensor is noisy: a reading inside the range now and then, amid a rate that stays too high,
    closed the alert and opened a new one two minutes later, over and over."""
    rules = WristbandRules(SETTINGS, started=0)
    events = [e for t in range(0, 2000) for e in rules.evaluate(adv(bpm=100 if t % 150 == 0 else 140), BAND,
                                                                  float(t), -60)]
    assert kinds(events).count("wristband.heart_rate_alert") == 1
    assert "wristband.heart_rate_normal" not in kinds(events)
    back = [e for t in range(2000, 2200) for e in rules.evaluate(adv(bpm=80), BAND, float(t), -60)]
    [normal] = [e for e in back if e.kind == "wristband.heart_rate_normal"]
    assert normal.data["bpm"] == 80
    assert "wristband.heart_rate_alert" not in kinds(back)


def test_one_fall_event_per_fall_incident():
    """The band's fall flag (bit 4) was decoded and dropped: a resident who fell raised nothing."""
    rules = WristbandRules(SETTINGS, started=0)
    first = rules.evaluate(adv(fall=True, bpm=95, battery=60), BAND, 1.0, -55)
    assert kinds(first)[0] == "wristband.fall"  # ahead of the readings
    fall = first[0]
    assert fall.priority is Priority.CRITICAL and fall.source == "band-0a1b2c3d"
    assert fall.data == {"band": "0a1b2c3d", "flat": "3-201", "rssi": -55, "battery_pct": 60, "heart_rate_bpm": 95}
    repeats = [kinds(rules.evaluate(adv(fall=True), BAND, t, -55)) for t in (1.1, 2.0, 30.0)]
    assert not any("wristband.fall" in k for k in repeats)  # the same incident, advertised again
    assert "wristband.fall" not in kinds(rules.evaluate(adv(fall=False), BAND, 70.0, -55))
    assert kinds(rules.evaluate(adv(fall=True), BAND, 300.0, -55)).count("wristband.fall") == 1  # a new fall


def test_a_fall_and_an_sos_together_are_each_raised_once():
    rules = WristbandRules(SETTINGS, started=0)
    both = kinds(rules.evaluate(adv(sos=True, counter=2, fall=True), BAND, 1.0, -50))
    assert both[:2] == ["wristband.sos", "wristband.fall"]  # both ahead of the readings
    assert "wristband.fall" not in kinds(rules.evaluate(adv(sos=False, counter=2, fall=True), BAND, 61.0, -50))
    rules.evaluate(adv(sos=False, counter=2, fall=False), BAND, 62.0, -50)
    again = kinds(rules.evaluate(adv(sos=True, counter=3, fall=False), BAND, 63.0, -50))
    assert again.count("wristband.sos") == 1 and "wristband.fall" not in again  # an SOS alone is not a fall


def test_an_unregistered_band_s_fall_is_raised_like_its_sos():
    rules = WristbandRules(SETTINGS, started=0)
    assert rules.unregistered(adv(), 1.0, -70) == []
    [fall] = rules.unregistered(adv(fall=True), 2.0, -70)
    assert fall.kind == "wristband.fall" and fall.priority is Priority.CRITICAL and fall.data["flat"] is None
    assert fall.data["heart_rate_bpm"] == 70  # the same fields as a registered band's
    assert rules.unregistered(adv(fall=True), 3.0, -70) == []
    assert rules.unregistered(adv(), 4.0, -70) == []
    assert kinds(rules.unregistered(adv(fall=True), 5.0, -70)) == ["wristband.fall"]


def test_restored_alerts_are_closed_when_cleared_and_not_raised_again():
    """After a restart the rules take up the alerts the store holds unresolved: a battery charged and a rate back
    in range during the downtime close theirs, a band still silent or still low is not raised again."""
    other, silent = Band("00000002", "1-101"), Band("00000003", "1-102")
    rules = WristbandRules(SETTINGS, started=0)
    rules.restore([("wristband.battery_low", BAND.source), ("wristband.heart_rate_alert", BAND.source),
                   ("wristband.battery_low", other.source), ("wristband.missing", silent.source),
                   ("wristband.sos", BAND.source), ("bin.full", "bin-1")])
    events = [e for t in range(0, 200) for e in rules.evaluate(adv(battery=90), BAND, float(t), -60)]
    assert [k for k in kinds(events) if k.startswith(("wristband.battery", "wristband.heart_rate_"))] == [
        "wristband.battery_ok", "wristband.heart_rate_normal"]
    still_low = rules.evaluate(WristbandState("00000002", False, 0, 0, 10, 70, True, False, False), other, 1.0, -60)
    assert "wristband.battery_low" not in kinds(still_low)
    assert rules.check_missing([silent], 13 * 3600.0) == []  # raised before the restart already
    assert "wristband.seen" in kinds(rules.evaluate(adv(), silent, 13 * 3600.0 + 1, -60))  # back: closes it
