"""The one clock of the gateway.

Intervals use the monotonic clock: a Raspberry Pi has no battery-backed clock, so wall time jumps when NTP
synchronises. Timestamps use UTC wall time. Tests pass a FakeClock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def monotonic(self) -> float:
        return self._mono

    def utcnow(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    def set_wall(self, wall: datetime) -> None:
        """Step the wall clock only, as NTP does when it first sets a clock that had no battery."""
        self._wall = wall


class ScaledClock(Clock):
    """Simulated time for the simulated building: `speed` times real time, from a chosen wall-clock start.

    Decisions that wait (a bin full for a minute, a light dark for two) then happen `speed` times sooner.
    """

    def __init__(self, speed: float, start: datetime | None = None, base: Clock | None = None) -> None:
        self.speed = speed
        self._base = base or Clock()
        self._mono0 = self._base.monotonic()
        self._wall0 = start or self._base.utcnow()

    def elapsed(self) -> float:
        """Simulated seconds since this clock was made."""
        return (self._base.monotonic() - self._mono0) * self.speed

    def monotonic(self) -> float:
        return self._mono0 + self.elapsed()

    def utcnow(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.elapsed())


EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)  # times taken from input


def rfc3339(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-23T17:01:43.123Z."""
    ts = ts.astimezone(UTC)
    return f"{ts.year:04d}" + ts.strftime("-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; naive timestamps are rejected."""
    ts = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past the last datetime in UTC
        raise ValueError(f"timestamp {text!r} is out of range") from None


def sane_time(ts: datetime) -> datetime:
    """An aware time from a request, in UTC, between 2000 and 2100 (ValueError otherwise): a year-1 or year-9999
    time is a client's mistake, and one that cannot even be written in UTC would fail every reader after it."""
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range: give one between 2000 and 2100") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"time {rfc3339(utc)} out of range: give one between 2000 and 2100")
    return utc
