"""The simulated building's scripted day (pure) and its mock pins."""

import statistics
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from gpiozero.pins.mock import MockChargingPin, MockTriggerPin

from edge.clock import FakeClock, ScaledClock
from edge.config import SiteConfig
from sensors import gpio_sim
from sensors.gpio_sim import DayScript, MockBuilding, demo_config, echo_time, evening
from sensors.lights import must_be_lit

SITE = SiteConfig()  # no coordinates: the demo's lights use fixed hours
TZ = ZoneInfo("Asia/Shanghai")


def script() -> DayScript:
    cfg = demo_config(SITE)
    return DayScript(cfg, SITE, evening(cfg, SITE, datetime(2026, 3, 1, 3, 0, tzinfo=UTC)))


def test_demo_layout_uses_the_sun_only_where_the_site_is_known():
    assert demo_config(SITE).lights[0].lit_from == "18:00"
    assert demo_config(SiteConfig(latitude=31.2, longitude=121.5)).lights[0].lit_from == "sunset"


def test_the_script_starts_just_after_the_lights_come_on():
    cfg = demo_config(SITE)
    start = evening(cfg, SITE, datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    assert start.astimezone(TZ).replace(tzinfo=None) == datetime(2026, 3, 1, 18, 5)
    assert must_be_lit(cfg.lights[0], start, SITE)


def test_the_first_ten_demo_minutes_hold_every_incident():
    s = script()
    first = s.at(0.0)
    assert first.lit == {"corridor-1": True, "street-1": True}
    assert not any(first.held.values()) and all(first.answering.values())
    assert first.levels["bin-1"] < 80 <= s.at(250.0).levels["bin-1"]  # fills past 80 % ...
    assert s.at(430.0).levels["bin-1"] < 10  # ... and is emptied
    assert [s.at(t).lit["corridor-1"] for t in (59, 61, 299, 301)] == [True, False, False, True]
    assert s.at(100.5).held == {"lobby-sos": True, "lift-call": False}
    assert s.at(202.0).held == {"lobby-sos": False, "lift-call": True}
    assert s.at(500.0).answering == {"bin-1": True, "bin-2": False}
    nxt = s.at(gpio_sim.DAY_S + 100.5)  # the next day repeats the incidents
    assert nxt.held["lobby-sos"] and nxt.lit["corridor-1"] is False


def test_bins_keep_filling_and_are_emptied_all_day():
    s = script()
    levels = [s.at(t).levels for t in range(600, int(3 * gpio_sim.DAY_S), 600)]
    assert all(0 <= v < 96 for lv in levels for v in lv.values())
    assert min(lv["bin-1"] for lv in levels) < 10 and max(lv["bin-1"] for lv in levels) > 90


def test_lamps_are_off_in_the_daytime():
    s = script()
    noon = (datetime(2026, 3, 2, 12, 0, tzinfo=TZ) - s.start).total_seconds()
    assert s.at(noon).lit == {"corridor-1": False, "street-1": False}


def test_building_drives_the_mock_pins(pins):
    cfg = demo_config(SITE)
    clock = ScaledClock(10.0, start=script().start, base=FakeClock())
    building = MockBuilding(cfg, pins, script(), clock)
    building.prepare()
    trigger = pins.pin(23)
    assert isinstance(trigger, MockTriggerPin) and isinstance(pins.pin(5), MockChargingPin)
    times = []
    for _ in range(51):
        building.apply(script().at(61.0))  # corridor-1 dark
        times.append(trigger.echo_time)
    assert pins.pin(5).charge_time == gpio_sim.DARK_CHARGE_S
    level = 62 + 0.08 * 61
    assert statistics.median(times) == pytest.approx(echo_time(1.0 - 0.85 * level / 100), rel=0.02)
    assert max(times) == pytest.approx(echo_time(3.5))  # now and then a stray echo, for the median to ignore
    pins.pin(17).function = "input"
    pins.pin(17).pull = "up"  # as the Button sets it
    building.apply(script().at(100.5))
    assert pins.pin(17).state is False  # the emergency button pulls its pin to ground
    building.apply(script().at(500.0))
    assert pins.pin(25).echo_pin is not pins.pin(12)  # bin-2's echo wire is loose
    building.apply(script().at(900.0))
    assert pins.pin(25).echo_pin is pins.pin(12)


def test_a_long_simulation_does_not_keep_every_pin_change(pins):
    cfg = demo_config(SITE)
    building = MockBuilding(cfg, pins, script(), ScaledClock(10.0, start=script().start, base=FakeClock()))
    building.prepare()
    button = pins.pin(17)
    for _ in range(50):
        button.drive_low()
        button.drive_high()
    assert len(button.states) >= 100  # gpiozero's mock records every change
    building.forget_pin_history()
    assert len(button.states) == 1 and button.state is True  # the history goes, the level stays
