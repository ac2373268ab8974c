"""BinTracker: fill level, bin.full once per filling, bin.emptied, sensor faults (pure: readings + time)."""

import pytest

from edge.config import BinConfig
from edge.events import Priority
from sensors.bins import BinTracker, judge, level_pct

CFG = BinConfig(name="bin-1", trigger_pin=23, echo_pin=24, empty_depth_m=1.0, full_distance_m=0.1, full_pct=80,
                emptied_pct=30, full_after_s=60, emptied_after_s=30, interval_s=300, fault_after_s=120)


def at_level(pct: float) -> float:
    return 1.0 - pct / 100 * 0.9


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def run(tracker: BinTracker, start: float, seconds: float, pct: float | None, step: float = 5.0) -> list:
    """Feed three readings (or missed echoes, for None) every `step` seconds; all the events."""
    out, t = [], start
    while t < start + seconds:
        out += tracker.feed([None if pct is None else at_level(pct)] * 3, t)
        t += step
    return out


@pytest.mark.parametrize(("distance", "pct"), [(1.0, 0.0), (0.1, 100.0), (0.55, 50.0), (1.04, 0.0), (0.05, 100.0)])
def test_level_from_distance(distance, pct):
    assert level_pct(distance, CFG) == pytest.approx(pct)


@pytest.mark.parametrize(("distance", "verdict"), [
    (None, "no_echo"), (0.01, "out_of_range"), (1.2, "out_of_range"), (3.99999, "out_of_range"),
    (0.5, "ok"), (1.04, "ok"),
])
def test_impossible_echoes_are_rejected(distance, verdict):
    assert judge(distance, CFG) == verdict


def test_a_short_dip_is_smoothed_away_by_the_median():
    t = BinTracker(CFG, 0.0)
    events = run(t, 0.0, 40.0, 85) + run(t, 40.0, 5.0, 10) + run(t, 45.0, 30.0, 85)
    assert kinds(events).count("bin.full") == 1


def test_level_is_the_median_so_stray_echoes_do_not_move_it():
    t = BinTracker(CFG, 0.0)
    [ev] = t.feed([at_level(50)] * 6 + [0.15, 0.2, 3.9, None, 0.01], 0.0)
    assert ev.kind == "bin.level" and ev.data == {"bin": "bin-1", "level_pct": 50.0, "distance_m": 0.55}
    assert ev.priority is Priority.NORMAL


def test_level_reported_every_interval():
    t = BinTracker(CFG, 0.0)
    events = run(t, 0.0, 1000.0, 40)
    assert kinds(events) == ["bin.level"] * 4  # at 0, 300, 600, 900


def test_full_needs_the_level_to_stay_above_threshold():
    t = BinTracker(CFG, 0.0)
    assert "bin.full" not in kinds(run(t, 0.0, 45.0, 85))
    assert "bin.full" not in kinds(run(t, 45.0, 30.0, 70))  # dipped below: the wait starts again
    assert "bin.full" not in kinds(run(t, 75.0, 55.0, 85))
    [full] = [e for e in run(t, 130.0, 30.0, 85) if e.kind == "bin.full"]
    assert full.priority is Priority.HIGH and full.source == "bin-1"
    assert full.data == {"bin": "bin-1", "level_pct": 85.0, "threshold_pct": 80}


def test_full_raised_once_per_filling_with_hysteresis():
    t = BinTracker(CFG, 0.0)
    events = run(t, 0.0, 100.0, 85)
    for i in range(10):  # the level hovers around the threshold and between the two marks
        events += run(t, 100.0 + 100 * i, 100.0, 78 if i % 2 else 82)
        events += run(t, 150.0 + 100 * i, 50.0, 40)
    assert kinds(events).count("bin.full") == 1
    assert "bin.emptied" not in kinds(events)


def test_emptied_then_the_next_filling_raises_full_again():
    t = BinTracker(CFG, 0.0)
    events = run(t, 0.0, 100.0, 90)
    events += run(t, 100.0, 20.0, 5)  # a lid opened for 20 s is not an emptying
    assert "bin.emptied" not in kinds(events)
    events += run(t, 120.0, 10.0, 90)
    events += run(t, 130.0, 40.0, 5)
    [emptied] = [e for e in events if e.kind == "bin.emptied"]
    assert emptied.data == {"bin": "bin-1", "level_pct": 5.0} and emptied.priority is Priority.NORMAL
    events += run(t, 170.0, 100.0, 95)
    assert kinds(events).count("bin.full") == 2


def test_dead_sensor_is_one_fault_not_a_stream_of_levels():
    t = BinTracker(CFG, 0.0)
    run(t, 0.0, 10.0, 50)
    events = run(t, 10.0, 600.0, None)
    assert kinds(events) == ["bin.sensor_fault"]
    fault = events[0]
    assert fault.priority is Priority.HIGH
    assert fault.data["reason"] == "no_echo" and fault.data["silent_s"] >= 120 and fault.data["rejected"] > 0
    assert t.level is None


def test_sensor_that_never_answers_is_a_fault():
    t = BinTracker(CFG, 0.0)
    assert kinds(run(t, 0.0, 200.0, None)) == ["bin.sensor_fault"]


def test_out_of_range_readings_fault_with_their_reason_and_recovery_resolves():
    t = BinTracker(CFG, 0.0)
    run(t, 0.0, 10.0, 50)
    events = []
    for s in range(10, 200, 5):
        events += t.feed([2.5, 3.9], float(s))
    assert [e.data.get("reason") for e in events] == ["out_of_range"]
    back = t.feed([at_level(60)] * 3, 200.0)
    assert kinds(back) == ["bin.sensor_ok", "bin.level"] or kinds(back) == ["bin.sensor_ok"]
    assert back[0].data["level_pct"] == 60.0 and back[0].data["fault_s"] > 0


def test_short_gaps_are_not_faults():
    t = BinTracker(CFG, 0.0)
    events = []
    for cycle in range(10):
        events += run(t, cycle * 150.0, 100.0, None)
        events += run(t, cycle * 150.0 + 100, 50.0, 40)
    assert "bin.sensor_fault" not in kinds(events)
