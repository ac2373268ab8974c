"""How many events the next backlog batch takes (pure).

A batch's events should take about `target_s` on the link: long enough that per-request overhead and gzip's
warm-up are small, short enough that an urgent batch never waits long behind one in flight and a lost answer costs
little. Time is modelled as fixed + per_event * events: the fixed part (latency, the server's own work per request)
is learnt from two batches of different sizes and not counted, because smaller batches would not shorten it and
would only cut the rate (on a link answering after 2 s, time proportional to size took batches down to 10 events).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BatchSizer:
    target_s: float
    max_events: int
    min_events: int = 10
    count: int = 1000
    fixed_s: float = 0.0  # the link's time per request whatever its size (0 until two sizes were seen)
    _last: tuple[int, float] | None = None  # (events, seconds) of the last batch observed

    def __post_init__(self) -> None:
        self.count = max(self.min_events, min(self.count, self.max_events))

    def observe(self, events: int, seconds: float) -> None:
        """A batch of `events` was acknowledged `seconds` after it was sent."""
        if events < self.count // 2:
            return  # a short batch (the backlog was nearly empty) says little about the link
        if self._last is not None and abs(events - self._last[0]) >= events / 5:
            n0, t0 = self._last  # two sizes: the slope is the time per event, the rest is fixed
            slope = max(0.0, (seconds - t0) / (events - n0))
            self.fixed_s = min(seconds, max(0.0, seconds - slope * events))
        self._last = (events, seconds)
        per_event = max(0.0, seconds - self.fixed_s) / events
        want = int(self.target_s / per_event) if per_event > 0 else self.max_events
        self.count = max(self.min_events, min(self.max_events, want, self.count * 4))  # grow at most 4x a step

    def shrink(self) -> None:
        """The link could not carry the last batch in time (timeout, 413): halve."""
        self.count = max(self.min_events, self.count // 2)
