"""When to try again, and how big the next batch is (pure)."""

from __future__ import annotations

import random

from sync.backoff import RETRY_AFTER_MAX, Backoff, retry_after_seconds
from sync.sizing import BatchSizer


def test_backoff_grows_to_its_cap_with_jitter_and_resets():
    b = Backoff(0.5, 60, random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    ceilings = [min(60, 0.5 * 2**i) for i in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jitter: gateways that failed together do not retry together
    b.reset()
    assert b.next_delay() <= 0.5


def test_retry_after_is_a_floor():
    b = Backoff(0.5, 60, random.Random(1))
    assert 30 <= b.next_delay(retry_after=30) <= 31
    b = Backoff(0.5, 1, random.Random(1))
    for _ in range(5):
        b.next_delay()
    assert b.next_delay(retry_after=0) <= 1


def test_retry_after_header():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Fri, 31 Dec 1999 23:59:59 GMT") == 0.0
    assert retry_after_seconds("99999999") == RETRY_AFTER_MAX
    assert retry_after_seconds(None) is retry_after_seconds("") is retry_after_seconds("later") is None


def test_batch_size_follows_the_link_within_bounds():
    s = BatchSizer(target_s=1.0, max_events=10_000, min_events=10, count=1000)
    s.observe(1000, 0.01)  # a fast link: grow, at most 4x a step
    assert s.count == 4000
    s.observe(4000, 0.01)
    assert s.count == 10_000  # the bound
    s.observe(10_000, 5.0)  # a slow link: 2000 events a second
    assert s.count == 2000
    s.observe(100, 0.001)  # a short batch says nothing
    assert s.count == 2000
    for _ in range(20):
        s.shrink()
    assert s.count == 10


def test_a_fixed_delay_per_request_does_not_shrink_batches():
    s = BatchSizer(target_s=1.0, max_events=10_000, min_events=10, count=1000)
    for _ in range(8):  # every answer comes after 2 s, whatever the size: bigger batches cost nothing more
        s.observe(s.count, 2.0 + s.count * 1e-6)
    assert s.count == 10_000 and 1.9 < s.fixed_s < 2.01
    s = BatchSizer(target_s=1.0, max_events=100_000, min_events=10, count=1000)
    for _ in range(8):  # 0.5 s per request and 4,000 events a second: the events' part should take about 1 s
        s.observe(s.count, 0.5 + s.count / 4000)
    assert 3000 <= s.count <= 5000
