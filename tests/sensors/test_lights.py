"""Lit hours (fixed, or sunset/sunrise with astral) and LightTracker: debounce, faults only in lit hours."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import astral
import astral.sun
import pytest

from edge.config import LightConfig, SiteConfig
from edge.events import Priority
from sensors.lights import LightTracker, judged, must_be_lit

SHANGHAI = SiteConfig(latitude=31.23, longitude=121.47, timezone="Asia/Shanghai")
TZ = ZoneInfo("Asia/Shanghai")
BEIJING = SiteConfig(latitude=39.90, longitude=116.40, timezone="Asia/Shanghai")
NIGHT = LightConfig(name="corridor-1", pin=5, lit_from="18:00", lit_until="06:00", debounce_s=5, fault_after_s=120)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.mark.parametrize(("when", "lit"), [
    (local(2026, 1, 5, 17, 59), False), (local(2026, 1, 5, 18, 0), True), (local(2026, 1, 5, 23, 30), True),
    (local(2026, 1, 6, 0, 30), True), (local(2026, 1, 6, 5, 59), True), (local(2026, 1, 6, 6, 0), False),
    (local(2026, 1, 6, 12, 0), False),
])
def test_fixed_hours_over_midnight_in_the_site_time_zone(when, lit):
    assert must_be_lit(NIGHT, when.astimezone(UTC), SHANGHAI) is lit


def test_fixed_hours_within_a_day_and_always():
    day = LightConfig(name="x", pin=5, lit_from="08:00", lit_until="10:00")
    assert must_be_lit(day, local(2026, 3, 1, 9, 0), SHANGHAI)
    assert not must_be_lit(day, local(2026, 3, 1, 10, 0), SHANGHAI)
    always = LightConfig(name="x", pin=5, lit_from="00:00", lit_until="00:00")
    assert all(must_be_lit(always, local(2026, 3, 1, h, 0), SHANGHAI) for h in range(24))


def test_sunset_to_sunrise_follows_the_seasons_at_the_site():
    sun = LightConfig(name="street-1", pin=6)  # sunset .. sunrise by default
    # Shanghai: sunset about 17:00 in December, about 19:00 in June
    assert must_be_lit(sun, local(2026, 12, 21, 17, 30), SHANGHAI)
    assert not must_be_lit(sun, local(2026, 6, 21, 17, 30), SHANGHAI)
    assert must_be_lit(sun, local(2026, 6, 21, 19, 30), SHANGHAI)
    assert must_be_lit(sun, local(2026, 6, 21, 4, 30), SHANGHAI)  # sunrise about 04:50
    assert not must_be_lit(sun, local(2026, 6, 21, 5, 30), SHANGHAI)
    assert not must_be_lit(sun, local(2026, 12, 21, 12, 0), SHANGHAI)


def test_polar_day_and_night_go_by_the_sun():
    svalbard = SiteConfig(latitude=78.2, longitude=15.6, timezone="Europe/Oslo")
    sun = LightConfig(name="street-1", pin=6)
    assert not must_be_lit(sun, datetime(2026, 6, 21, 0, 0, tzinfo=UTC), svalbard)
    assert must_be_lit(sun, datetime(2026, 12, 21, 12, 0, tzinfo=UTC), svalbard)


def feed(tracker: LightTracker, lit: bool, expected: bool, start: float, seconds: float, step: float = 1.0):
    out, t = [], start
    while t < start + seconds:
        out += tracker.feed(lit, expected, t)
        t += step
    return out


def test_first_state_is_reported_once_it_has_held():
    t = LightTracker(NIGHT, 0.0)
    events = feed(t, True, True, 0.0, 10.0)
    assert [(e.kind, e.data) for e in events] == [
        ("light.state", {"light": "corridor-1", "lit": True, "expected_lit": True})]


def test_flicker_shorter_than_debounce_is_ignored():
    t = LightTracker(NIGHT, 0.0)
    events = feed(t, True, True, 0.0, 10.0)
    for i in range(20):
        events += feed(t, False, True, 10.0 + i * 10, 3.0)
        events += feed(t, True, True, 13.0 + i * 10, 7.0)
    assert len(events) == 1 and t.lit is True and not t.faulted


def test_dark_in_lit_hours_is_a_fault_after_the_configured_time_then_restored():
    t = LightTracker(NIGHT, 0.0)
    events = feed(t, True, True, 0.0, 10.0)
    events += feed(t, False, True, 10.0, 120.0)  # dark at 10, debounced at 15: not yet 120 s
    assert [e.kind for e in events] == ["light.state", "light.state"]
    events += feed(t, False, True, 130.0, 60.0)
    fault = events[-1]
    assert fault.kind == "light.fault" and fault.priority is Priority.HIGH and fault.source == "corridor-1"
    assert fault.data == {"light": "corridor-1", "dark_for_s": 120.0, "lit_from": "18:00", "lit_until": "06:00"}
    events += feed(t, True, True, 190.0, 10.0)
    assert [e.kind for e in events[-2:]] == ["light.state", "light.restored"]
    assert events[-1].data["fault_s"] == pytest.approx(65.0)
    assert [e.kind for e in events].count("light.fault") == 1


def test_dark_in_daylight_is_never_a_fault():
    t = LightTracker(NIGHT, 0.0)
    events = feed(t, True, False, 0.0, 10.0) + feed(t, False, False, 10.0, 24 * 3600.0, step=60.0)
    assert "light.fault" not in [e.kind for e in events]


def test_lit_hours_beginning_with_the_lamp_already_dark_count_from_their_start():
    t = LightTracker(NIGHT, 0.0)
    feed(t, False, False, 0.0, 3600.0, step=10.0)  # off all afternoon: fine
    events = feed(t, False, True, 3600.0, 110.0)
    assert "light.fault" not in [e.kind for e in events]
    events = feed(t, False, True, 3710.0, 20.0)
    assert [e.kind for e in events] == ["light.fault"] and events[0].data["dark_for_s"] == pytest.approx(120.0)


def test_daylight_on_the_sensor_does_not_restore_a_broken_lamp():
    t = LightTracker(NIGHT, 0.0)
    feed(t, False, True, 0.0, 200.0)
    assert t.faulted
    events = feed(t, True, False, 200.0, 600.0)  # morning: the sensor sees the sun, not the lamp
    assert "light.restored" not in [e.kind for e in events] and t.faulted
    events = feed(t, True, True, 800.0, 2.0)  # evening: seen lit when it should be
    assert [e.kind for e in events] == ["light.restored"]


@pytest.mark.parametrize("day", [datetime(2026, 6, 21), datetime(2026, 12, 21)])
def test_a_street_lamp_is_judged_from_civil_dusk_to_civil_dawn_a_corridor_from_its_first_minute(day):
    """Beijing, astral's own times: in the half hour of twilight after sunset (and before sunrise) the street lamp's
    sensor sees the sky, so its reading says nothing about the lamp; the corridor on fixed hours is not delayed."""
    street = LightConfig(name="street-1", pin=6)  # sunset .. sunrise
    sun = astral.Observer(BEIJING.latitude, BEIJING.longitude)
    today, tomorrow = day.date(), day.date().replace(day=22)
    sunset, dusk = astral.sun.sunset(sun, today, tzinfo=TZ), astral.sun.dusk(sun, today, tzinfo=TZ)
    dawn, sunrise = astral.sun.dawn(sun, tomorrow, tzinfo=TZ), astral.sun.sunrise(sun, tomorrow, tzinfo=TZ)
    minute = timedelta(minutes=1)
    assert dusk - sunset > 25 * minute and sunrise - dawn > 25 * minute
    twilight = [sunset + minute, dusk - minute, dawn + minute, sunrise - minute]
    assert all(must_be_lit(street, t, BEIJING) and not judged(street, t, BEIJING) for t in twilight)
    assert all(judged(street, t, BEIJING) for t in (dusk + minute, dusk + 300 * minute, dawn - minute))
    assert not judged(street, sunrise + minute, BEIJING)
    corridor = NIGHT  # 18:00 .. 06:00, in June in daylight, in December after dusk
    assert judged(corridor, local(2026, day.month, 21, 18, 0), BEIJING)
    assert judged(corridor, local(2026, day.month, 22, 5, 59), BEIJING)
    always = LightConfig(name="stairs", pin=7, lit_from="00:00", lit_until="00:00")
    assert judged(always, local(2026, day.month, 21, 12, 0), BEIJING)
