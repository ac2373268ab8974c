"""A camera's occupied/free cut learnt from its own scores: found between two heaps wherever they lie, refused
when the scores are not a car park in both states, kept while a lot stays full."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.threshold import MAX_SHIFT, MIN_SCORES, AdaptiveThreshold, fit_threshold, log_odds


def heaps(*parts: tuple[float, float, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds drawn from (mean, spread, count) heaps; labels: the heap with the highest mean is occupied."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(m, s, n) for m, s, n in parts])
    top = max(m for m, _, _ in parts)
    y = np.concatenate([np.full(n, m == top) for m, _, n in parts])
    return z, y


@pytest.mark.parametrize("parts", [
    ((-1.3, 1.2, 540), (4.9, 1.4, 60)),  # a new camera whose empty spaces score high (as PKLot UFPR05)
    ((-3.2, 1.1, 145), (3.4, 2.4, 340)),  # one whose cars score low (as CNRPark+EXT camera 3)
])
def test_the_cut_lands_between_the_heaps_and_gets_more_right(parts: tuple) -> None:
    z, y = heaps(*parts)
    cut = fit_threshold(z)
    assert cut is not None and parts[0][0] < cut < parts[1][0]
    assert ((z >= cut) == y).mean() > ((z >= 0) == y).mean() + 0.01
    assert ((z >= cut) == y).mean() >= 0.97


@pytest.mark.parametrize("parts", [
    ((4.0, 1.5, 400),),  # a full lot: one heap
    ((-4.0, 1.0, 400),),  # an empty one
    ((1.4, 0.6, 60), (5.3, 1.9, 340)),  # two heaps the network calls occupied (cars of two colours)
    ((-0.5, 1.5, 200), (0.6, 1.5, 200)),  # not apart: no clear answer
])
def test_no_cut_unless_both_states_are_clearly_there(parts: tuple) -> None:
    z, _ = heaps(*parts)
    assert fit_threshold(z) is None


def test_no_cut_from_too_few_scores() -> None:
    z, _ = heaps((-1.3, 1.2, MIN_SCORES // 2 - 10), (4.9, 1.4, 9))
    assert fit_threshold(z) is None


def odds_to_p(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_the_camera_learns_once_a_minute_keeps_its_cut_through_a_full_lot_and_forgets_on_a_new_map() -> None:
    z, _ = heaps((-1.3, 1.2, 360), (4.9, 1.4, 40))
    frames = odds_to_p(z).reshape(10, 40)
    t = AdaptiveThreshold(every_s=60)
    for i, p in enumerate(frames):
        t.observe(p, 60.0 * i)
        t.observe(p, 60.0 * i + 30)  # within the minute: not kept (consecutive frames are the same cars)
    assert t.learnt and 1.0 < t.shift < 3.5
    assert t.adjust(odds_to_p(np.array([t.shift])))[0] == pytest.approx(0.5)
    assert t.adjust([0.5])[0] < 0.5  # the network's undecided is free on this camera
    night = odds_to_p(np.linspace(3, 5, 40))  # every space taken
    full = AdaptiveThreshold(capacity=400, every_s=60)  # remembers 10 frames
    shifts = []
    for i, p in enumerate([*frames, *[night] * 20]):
        full.observe(p, 60.0 * i)
        shifts.append(full.shift)
    assert fit_threshold(np.full(400, 4.0) + np.linspace(-1, 1, 400)) is None  # what it remembers at the end
    assert full.learnt and shifts[-1] > 0.5 and len(set(shifts[-10:])) == 1  # the last cut learnt, kept
    t.reset()
    assert not t.learnt and t.shift == 0.0 and t.adjust([0.5])[0] == pytest.approx(0.5)


@given(st.lists(st.floats(0, 1), min_size=MIN_SCORES, max_size=600))
@settings(max_examples=60, deadline=None)
def test_any_scores_give_no_cut_or_a_bounded_one(ps: list[float]) -> None:
    cut = fit_threshold(log_odds(ps))
    assert cut is None or (np.isfinite(cut) and -MAX_SHIFT <= cut <= MAX_SHIFT)
