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


def test_rfc3339_always_writes_four_year_digits_and_parsing_never_overflows():
    from datetime import UTC, datetime

    import pytest

    from edge.clock import parse_rfc3339, rfc3339, sane_time

    assert rfc3339(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"
    with pytest.raises(ValueError, match="out of range"):
        parse_rfc3339("9999-12-31T23:59:59-14:00")
    with pytest.raises(ValueError, match="between 2000 and 2100"):
        sane_time(datetime(1999, 12, 31, tzinfo=UTC))
    assert sane_time(datetime(2026, 12, 3, 8, tzinfo=UTC)).year == 2026
