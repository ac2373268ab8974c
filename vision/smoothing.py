"""Temporal smoothing of per-frame occupancy, pure: a space changes state only after `frames` consistent frames.

A passer-by, a car manoeuvring past, a shadow or one misclassified frame does not flip a space: the new answer must
come `frames` times in a row, each at least `min_confidence` sure (an unsure frame neither confirms nor breaks a
streak). The first sure answer of a space sets its state at once (the gateway has to start somewhere).
A space's confidence is the mean probability of its current state over the last `frames` frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpaceState:
    space: str
    occupied: bool | None  # None until the first sure frame
    confidence: float
    changed: bool = False  # this frame changed the state (a parking.space event)


@dataclass
class _Track:
    occupied: bool | None = None
    streak: int = 0
    recent: deque[float] = field(default_factory=deque)  # P(occupied) of the last frames


class Smoother:
    def __init__(self, frames: int = 3, min_confidence: float = 0.6) -> None:
        if frames < 1:
            raise ValueError("frames must be 1 or more")
        self.frames, self.min_confidence = frames, min_confidence
        self._tracks: dict[str, _Track] = {}

    def update(self, space: str, p_occupied: float) -> SpaceState:
        """One frame's P(occupied) of a space -> its smoothed state."""
        t = self._tracks.setdefault(space, _Track())
        t.recent.append(p_occupied)
        while len(t.recent) > self.frames:
            t.recent.popleft()
        says = p_occupied >= 0.5
        sure = max(p_occupied, 1 - p_occupied) >= self.min_confidence
        changed = False
        if t.occupied is None:
            if sure:
                t.occupied, changed = says, True
        elif says != t.occupied and sure:
            t.streak += 1
            if t.streak >= self.frames:
                t.occupied, t.streak, changed = says, 0, True
        elif sure:  # a sure frame agreeing with the state breaks a streak
            t.streak = 0
        return SpaceState(space, t.occupied, self._confidence(t), changed)

    def state(self, space: str) -> SpaceState:
        t = self._tracks.get(space, _Track())
        return SpaceState(space, t.occupied, self._confidence(t))

    def forget(self, keep: set[str]) -> None:
        """Drop spaces that are no longer in the map (it was edited)."""
        for sid in set(self._tracks) - keep:
            del self._tracks[sid]

    @staticmethod
    def _confidence(t: _Track) -> float:
        if t.occupied is None or not t.recent:
            return 0.0
        ps = [p if t.occupied else 1 - p for p in t.recent]
        return round(sum(ps) / len(ps), 3)
