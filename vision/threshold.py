"""Each camera's own occupied/free threshold, learnt from its own unlabelled frames.

On a camera the network never saw, its scores still separate cars from asphalt (ROC AUC 0.98-0.999 on the unseen
cameras here) but the cut between them is off, and off in either direction: one new camera's empty spaces score
high, another's cars low. A car park shows both states most of the day, so the P(occupied) of its spaces over
recent frames fall into two heaps. `fit_threshold` fits two normal distributions to their log-odds (a few lines of
EM: scikit-learn would be a 30 MB dependency for it) and puts the cut where the two are equally likely; it answers
None unless the fit looks like a car park in both states: one heap on each side of the network's own cut, each
with enough spaces, well apart. A lot that is full (or empty) all along keeps the last cut that was learnt.

`AdaptiveThreshold` keeps a camera's recent scores (one frame every `every_s`, so a day's turnover, not the last
minute, is what it learns from) and moves each P(occupied) by the learnt cut: `adjust(p)` is P(occupied) as if
the camera's cut were 0.5. Measured in vision/training/parking/README.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

MIN_SCORES = 120  # space-frames before the first fit (3 frames of 40 spaces; 200 started later, README)
MIN_SPACES = 10  # each heap at least this many space-frames ...
MIN_SHARE = 0.03  # ... and this share of them
MIN_SEPARATION = 2.5  # heaps' means apart by this many (pooled) standard deviations
MAX_SHIFT = 3.0  # the cut moves at most this far in log-odds (P 0.05 .. 0.95)
EM_ROUNDS = 60


def log_odds(p: Sequence[float] | np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, np.float64), 1e-5, 1 - 1e-5)
    return np.log(q / (1 - q))


def fit_threshold(z: np.ndarray) -> float | None:
    """The cut in log-odds between the two heaps of scores `z`, or None when they are not two clear heaps on
    either side of 0 (see the module's docstring)."""
    z = np.asarray(z, np.float64)
    if len(z) < MIN_SCORES:
        return None
    mu = np.quantile(z, [0.1, 0.9])
    sd, w = np.ones(2), np.full(2, 0.5)
    for _ in range(EM_ROUNDS):
        like = w * np.exp(-0.5 * ((z[:, None] - mu) / sd) ** 2) / sd + 1e-300
        r = like / like.sum(axis=1, keepdims=True)
        n = r.sum(axis=0) + 1e-9
        w, mu = n / len(z), (r * z[:, None]).sum(axis=0) / n
        sd = np.sqrt((r * (z[:, None] - mu) ** 2).sum(axis=0) / n) + 0.1  # + 0.1: a heap never shrinks to a point
    lo, hi = np.argsort(mu)
    if not mu[lo] < 0 < mu[hi] or w.min() < MIN_SHARE or w.min() * len(z) < MIN_SPACES:
        return None
    if (mu[hi] - mu[lo]) / np.sqrt((sd[lo] ** 2 + sd[hi] ** 2) / 2) < MIN_SEPARATION:
        return None
    xs = np.linspace(mu[lo], mu[hi], 301)
    like = w * np.exp(-0.5 * ((xs[:, None] - mu) / sd) ** 2) / sd
    cut = xs[int(np.argmax(like[:, hi] > like[:, lo]))]  # the first point where the occupied heap is likelier
    return float(np.clip(cut, -MAX_SHIFT, MAX_SHIFT))


class AdaptiveThreshold:
    """One camera's learnt cut. Not thread-safe: one camera, one worker at a time."""

    def __init__(self, capacity: int = 4000, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._scores: deque[float] = deque(maxlen=capacity)
        self._last: float | None = None
        self.shift = 0.0  # the learnt cut, log-odds (0: the network's own 0.5)
        self.learnt = False

    def observe(self, p: Sequence[float] | np.ndarray, now: float) -> None:
        """A frame's P(occupied) of every space (kept when `every_s` has passed since the last one kept)."""
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        self._scores.extend(log_odds(p).tolist())
        cut = fit_threshold(np.fromiter(self._scores, np.float64))
        if cut is not None:
            self.shift, self.learnt = cut, True

    @property
    def cut(self) -> float | None:
        """The learnt cut as P(occupied), or None before one is learnt."""
        return float(1 / (1 + np.exp(-self.shift))) if self.learnt else None

    def adjust(self, p: Sequence[float] | np.ndarray) -> np.ndarray:
        """P(occupied) measured against the camera's cut."""
        return 1 / (1 + np.exp(-(log_odds(p) - self.shift)))

    def restore(self, shift: float) -> None:
        """A cut learnt before (kept by the gateway across a restart): used until the scores give a new one."""
        self.shift, self.learnt = float(np.clip(shift, -MAX_SHIFT, MAX_SHIFT)), True

    def reset(self) -> None:
        """A new space map: what was learnt about the old polygons no longer holds."""
        self._scores.clear()
        self._last, self.shift, self.learnt = None, 0.0, False
