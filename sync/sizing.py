"""How many events the next backlog batch takes (pure).

A batch should take about `target_s` on the link: long enough that per-request overhead and gzip's warm-up are
small, short enough that an urgent batch never waits long behind one in flight and a lost answer costs little.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BatchSizer:
    target_s: float
    max_events: int
    min_events: int = 10
    count: int = 1000

    def __post_init__(self) -> None:
        self.count = max(self.min_events, min(self.count, self.max_events))

    def observe(self, events: int, seconds: float) -> None:
        """A batch of `events` was acknowledged `seconds` after it was sent."""
        if events < self.count // 2:
            return  # a short batch (the backlog was nearly empty) says little about the link
        want = int(events / max(seconds, 1e-3) * self.target_s)
        self.count = max(self.min_events, min(self.max_events, want, self.count * 4))  # grow at most 4x a step

    def shrink(self) -> None:
        """The link could not carry the last batch in time (timeout, 413): halve."""
        self.count = max(self.min_events, self.count // 2)
