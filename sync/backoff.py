"""When to try again: capped exponential backoff with jitter, never sooner than the server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

RETRY_AFTER_MAX = 3600.0  # a server asking for more than an hour is treated as asking for an hour

_PARSER = Retry(0)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return min(RETRY_AFTER_MAX, float(_PARSER.parse_retry_after(value)))
    except (InvalidHeader, ValueError, OverflowError):
        return None


@dataclass
class Backoff:
    """Delays of one lane: base, 2 base, 4 base ... up to cap, each drawn from its upper half (so a crowd of
    gateways that lost the link together spreads out), and at least what Retry-After asked for."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, retry_after: float | None = None, cap: float | None = None) -> float:
        """The next wait; `cap` replaces the lane's cap for this one (a refusal backs off further than a lost link)."""
        self.failures += 1
        ceiling = min(self.cap if cap is None else cap, self.base * 2 ** min(self.failures - 1, 30))
        delay = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after + self.rng.uniform(0, min(1.0, retry_after / 10)))
        return delay

    def reset(self) -> None:
        self.failures = 0
