"""ScaledClock: the simulated building's time."""

from datetime import UTC, datetime, timedelta

from edge.clock import FakeClock, ScaledClock


def test_scaled_clock_runs_speed_times_faster():
    base = FakeClock()
    start = datetime(2026, 3, 1, 18, 5, tzinfo=UTC)
    clock = ScaledClock(10.0, start=start, base=base)
    m0 = clock.monotonic()
    base.advance(6.0)
    assert clock.elapsed() == 60.0 and clock.monotonic() - m0 == 60.0
    assert clock.utcnow() == start + timedelta(seconds=60)
