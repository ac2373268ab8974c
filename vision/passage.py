"""Vehicle passages at a gate: many per-frame plate reads become one passage per car. Pure: reads and times in,
passages out; no camera, clock or I/O.

A *track* gathers the reads of one plate over frames. A read joins the track whose voted text it matches exactly,
or within one character when its box is near the track's last box, or two when it is close to it (so misreads, and
the poor first reads of a distant plate, do not start a second car). A track is *confirmed* (decided once: open the
gate or log a visitor) as soon as it has `min_reads` reads and either its voted text is read at `sure_confidence`
with a known direction, or it is `settle_s` old (a car standing at the barrier), or it ends (no read for
`end_after_s`, not counting still frames: a car that nothing has moved since its plate was read has not gone, so a
car waiting at the barrier, unread because the motion gate sees nothing move, stays one passage however long).
After confirmation the track keeps absorbing reads until the car is gone; an *upgrade* is reported when its
confidence only then crosses `notice_confidence` or `sure_confidence`, or when its voted text changes (a sure
misread among the first reads is voted away later): the gate may open for a resident who was read poorly, or
misread, at first. When it ends, the whole passage is reported once more as *ended*: the vote over all
its reads, its best crop, its final direction.

A read that differs from a track's text but is read at `sure_confidence` joins it only when its box overlaps the
track's last box (a misread of that plate); elsewhere it is another car, one character off, close behind.

The same plate again within `same_plate_s` of the end of its passage is the same car (it stopped out of view for a
moment), not a new passage: the same text, or one character off where that passage's plate was last seen. Unless
that passage never reached `sure_confidence` (the gate could not open for it): then the car is reported again once
it is read surely while it waits (and not at all if it never is).

Direction comes from the trajectory of the plate's box, compared with how an entering car moves in this camera's
picture (`inbound`): up, down, left or right, or closer/farther (the box grows or shrinks).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

Inbound = Literal["up", "down", "left", "right", "closer", "farther"]
Direction = Literal["entry", "exit", "unknown"]
Box = tuple[int, int, int, int]  # x, y, w, h in image pixels
MAX_SIGHTINGS = 300
_AXES = {"down": (0.0, 1.0), "up": (0.0, -1.0), "right": (1.0, 0.0), "left": (-1.0, 0.0)}


class Read(Protocol):
    """What a recogniser returns per plate (vision.plates.PlateRead has these fields)."""

    text: str
    color: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class PassageSettings:
    inbound: Inbound = "down"
    min_reads: int = 2  # fewer reads than this in a whole track is noise, not a car
    sure_confidence: float = 0.9  # what the gate needs to open
    settle_s: float = 2.0  # confirm a track this old even if not sure or not moving
    end_after_s: float = 2.0  # a track with no read for this long is over
    same_plate_s: float = 15.0  # the same plate again this soon after its passage is the same car
    notice_confidence: float = 0.0  # a lower bar whose crossing after confirmation is reported too (visitors)
    min_move: float = 0.3  # plate widths the box must travel for a direction (up/down/left/right)
    min_growth: float = 0.15  # share the box width must grow or shrink for a direction (closer/farther)
    near: float = 3.0  # plate widths from the track's last box within which a read one character off joins it
    close: float = 1.5  # ... and within which a read two characters off joins it


@dataclass(frozen=True)
class Passage:
    """One car at the gate, reported in stages: "confirmed" once, as soon as it can be decided (the gate opens or a
    visitor is logged); "upgraded" at most once, when its confidence reached sure_confidence only after that; "ended"
    once, when it has gone, with everything its reads said (the whole-passage vote, best crop, direction).
    "upgraded" may come more than once: each time the confidence crosses a bar it had not reached, or the voted
    plate changes."""

    plate: str
    color: str
    confidence: float  # the best read of the voted text
    direction: Direction
    box: Box  # the box of that best read
    first_t: float
    last_t: float
    reads: int
    agreeing: int  # reads that said exactly `plate`
    stage: Literal["confirmed", "upgraded", "ended"] = "confirmed"
    track: int = 0  # the same number in every stage of one car

    @property
    def duration_s(self) -> float:
        return self.last_t - self.first_t


@dataclass(frozen=True)
class _Sighting:
    text: str
    color: str
    confidence: float
    box: Box
    t: float


@dataclass(frozen=True)
class _Recent:
    """A passage that has ended, remembered for same_plate_s."""

    plate: str
    at: float  # when its track ended
    box: Box  # where its plate was last seen
    sure: bool  # it was reported at sure_confidence (the gate could decide on it)


@dataclass
class _Track:
    id: int
    sightings: list[_Sighting] = field(default_factory=list)
    confirmed: Passage | None = None
    reported: Passage | None = None  # the last stage reported (confirmed or upgraded)
    sure: bool = False  # reported at sure_confidence at some point
    suppressed: bool = False  # the same car as a recent passage: never reported
    read_at: float = 0.0  # the tracker's `_live` clock at its last read

    @property
    def last(self) -> _Sighting:
        return self.sightings[-1]

    @property
    def text(self) -> str:
        return vote(self.sightings)[0]

    def add(self, s: _Sighting) -> None:
        self.sightings.append(s)
        if len(self.sightings) > MAX_SIGHTINGS:  # a car parked in view: forget its weakest middle read
            weakest = min(range(1, len(self.sightings) - 1), key=lambda i: self.sightings[i].confidence)
            del self.sightings[weakest]


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance, or `limit` when it is at least that (plates are short; this is cheap)."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return min(prev[-1], limit)


def vote(sightings: Sequence[_Sighting]) -> tuple[str, str, float]:
    """The plate the reads agree on: the length most confidence says, then per position the character with the
    most confidence behind it; the colour likewise. Returns (text, colour, share of the weakest position's vote)."""
    by_len: dict[int, float] = defaultdict(float)
    for s in sightings:
        by_len[len(s.text)] += s.confidence
    length = max(by_len, key=lambda n: (by_len[n], -n))
    same = [s for s in sightings if len(s.text) == length]
    chars, weakest = [], 1.0
    for i in range(length):
        votes: dict[str, float] = defaultdict(float)
        for s in same:
            votes[s.text[i]] += s.confidence
        best = max(votes, key=lambda c: votes[c])
        chars.append(best)
        weakest = min(weakest, votes[best] / max(sum(votes.values()), 1e-9))
    colors: dict[str, float] = defaultdict(float)
    for s in sightings:
        colors[s.color] += s.confidence
    return "".join(chars), max(colors, key=lambda c: colors[c]), weakest


def direction(sightings: Sequence[_Sighting], settings: PassageSettings) -> Direction:
    """Entry or exit from how the box moved between the first and the last reads (two of each, averaged)."""
    if len(sightings) < 2:
        return "unknown"
    ordered = sorted(sightings, key=lambda s: s.t)
    k = min(2, len(ordered) // 2)
    first, last = ordered[:k], ordered[-k:]
    if settings.inbound in ("closer", "farther"):
        w0, w1 = (sum(s.box[2] for s in g) / k for g in (first, last))
        change = math.log(max(w1, 1) / max(w0, 1))
        if abs(change) < math.log(1 + settings.min_growth):
            return "unknown"
        return "entry" if (change > 0) == (settings.inbound == "closer") else "exit"
    (x0, y0), (x1, y1) = _centre(first), _centre(last)
    width = sorted(s.box[2] for s in ordered)[len(ordered) // 2]
    ax, ay = _AXES[settings.inbound]
    along = ((x1 - x0) * ax + (y1 - y0) * ay) / max(width, 1)
    if abs(along) < settings.min_move:
        return "unknown"
    return "entry" if along > 0 else "exit"


def _centre(group: Sequence[_Sighting]) -> tuple[float, float]:
    n = len(group)
    return (sum(s.box[0] + s.box[2] / 2 for s in group) / n, sum(s.box[1] + s.box[3] / 2 for s in group) / n)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _gap(a: Box, b: Box) -> float:
    """Distance between two boxes' centres, in plate widths (the wider box's)."""
    dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2)
    dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2)
    return math.hypot(dx, dy) / max(a[2], b[2], 1)


class PassageTracker:
    """Feed it each looked-at frame's reads with the frame's time (`observe`), and the time when no frame was
    looked at (`tick`, `still=True` when that is because nothing moved); each returns the passages decided then."""

    def __init__(self, settings: PassageSettings | None = None) -> None:
        self.settings = settings or PassageSettings()
        self._tracks: list[_Track] = []
        self._recent: list[_Recent] = []
        self._ids = itertools.count(1)
        self._now: float | None = None
        self._live = 0.0  # seconds in which a car could have left: all but those of still frames

    @property
    def active(self) -> int:
        return len(self._tracks)

    def observe(self, reads: Sequence[Read], t: float) -> list[Passage]:
        self._advance(t, still=False)
        taken: set[int] = set()
        for r in sorted(reads, key=lambda r: -r.confidence):
            x, y, w, h = (int(v) for v in r.box)
            s = _Sighting(r.text, r.color, float(r.confidence), (x, y, w, h), t)
            i = self._match(s)
            if i is None:
                self._tracks.append(_Track(next(self._ids), [s], read_at=self._live))
                taken.add(len(self._tracks) - 1)
            elif i not in taken:  # one read per track and frame: a second is the same plate detected twice
                self._tracks[i].add(s)
                self._tracks[i].read_at = self._live
                taken.add(i)
        return self.tick(t)

    def tick(self, t: float, *, still: bool = False) -> list[Passage]:
        """`still`: nothing moved since the last frame, so no car can have left; that time does not end tracks."""
        self._advance(t, still=still)
        out: list[Passage] = []
        for track in list(self._tracks):
            ended = self._live - track.read_at >= self.settings.end_after_s
            out += self._decide(track, t, ended)
            if ended:
                self._tracks.remove(track)
                if track.confirmed or track.suppressed:
                    self._recent.append(_Recent(track.text, track.last.t, track.last.box, track.sure))
        self._recent = [r for r in self._recent if t - r.at < self.settings.same_plate_s]
        return out

    def _advance(self, t: float, *, still: bool) -> None:
        if self._now is not None and not still:
            self._live += max(0.0, t - self._now)
        self._now = t if self._now is None else max(self._now, t)

    def _match(self, s: _Sighting) -> int | None:
        """The track this read belongs to: the same text anywhere; one character off near the track's last box; two
        off close to it (only one plate can be there: early reads of a distant plate are often that poor). A sure read
        that differs joins only where it overlaps the track's last box: elsewhere it is another car. The closest in
        text first, then in place."""
        st = self.settings
        sure = s.confidence >= st.sure_confidence
        best: tuple[tuple[int, float], int] | None = None
        for i, track in enumerate(self._tracks):
            d = edit_distance(s.text, track.text, limit=3)
            gap = _gap(s.box, track.last.box)
            if d and sure and not _overlap(s.box, track.last.box):
                continue
            if d == 0 or (d == 1 and gap <= st.near) or (d == 2 and gap <= st.close):
                key = (d, gap)
                if best is None or key < best[0]:
                    best = (key, i)
        return None if best is None else best[1]

    def _decide(self, track: _Track, t: float, ended: bool) -> list[Passage]:
        st = self.settings
        if track.suppressed or len(track.sightings) < st.min_reads:
            return []
        passage = self._passage(track)
        out: list[Passage] = []
        sure = passage.confidence >= st.sure_confidence
        if track.confirmed is None:
            if not ((sure and passage.direction != "unknown") or ended or t - track.sightings[0].t >= st.settle_s):
                return []
            earlier = self._earlier(passage.plate, track.sightings[0].box)
            if earlier is not None and (earlier.sure or not sure):
                # the same car again: once decided surely, never again; else only once it is read surely
                track.suppressed = earlier.sure or ended
                return []
            track.confirmed = passage
            out.append(passage)
        elif self._news(track.reported, passage):
            out.append(replace(passage, stage="upgraded"))
        if out:
            track.reported, track.sure = passage, track.sure or sure
        if ended:
            out.append(replace(passage, stage="ended"))
        return out

    def _earlier(self, plate: str, box: Box) -> _Recent | None:
        """The recent passage this plate continues: the same text, or one character off where it was last seen."""
        for r in reversed(self._recent):
            if r.plate == plate or (edit_distance(plate, r.plate) == 1 and _overlap(box, r.box)):
                return r
        return None

    def _news(self, before: Passage | None, now: Passage) -> bool:
        """Whether a confirmed track's passage says something new: another plate, or a bar crossed."""
        if before is None:
            return False
        bars = (self.settings.notice_confidence, self.settings.sure_confidence)
        return now.plate != before.plate or any(before.confidence < bar <= now.confidence for bar in bars)

    def _passage(self, track: _Track) -> Passage:
        text, color, weakest = vote(track.sightings)
        agreeing = [s for s in track.sightings if s.text == text]
        if agreeing:
            best = max(agreeing, key=lambda s: s.confidence)
            confidence = best.confidence
        else:  # no single read said it: as sure as its least agreed character allows
            best = max(track.sightings, key=lambda s: s.confidence)
            confidence = best.confidence * weakest
        ss = track.sightings
        return Passage(text, color, round(confidence, 3), direction(ss, self.settings), best.box, ss[0].t,
                       ss[-1].t, len(ss), len(agreeing), track=track.id)
