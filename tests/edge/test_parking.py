"""Guidance on a small hand-made map: free per zone, the nearest free space from each entrance, the sign; a camera
learning its own occupied/free cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.clock import FakeClock
from edge.config import ParkingConfig
from edge.parking import ParkingSubsystem, make_lane, nearest_free, sign_text, zone_counts
from vision.occupancy import Occupancy
from vision.smoothing import SpaceState
from vision.spaces import parse_space_map

# A row of three spaces in zone A and two in zone B; the gate is at the left, the lift at the right.
MAP = parse_space_map({
    "spaces": [{"id": f"A-0{i}", "zone": "A", "polygon": [[x, 0], [x + 10, 0], [x + 10, 20], [x, 20]]}
               for i, x in ((1, 0), (2, 10), (3, 20))]
    + [{"id": f"B-0{i}", "zone": "B", "polygon": [[x, 50], [x + 10, 50], [x + 10, 70], [x, 70]]}
       for i, x in ((1, 0), (2, 40))],
    "entrances": [{"id": "gate", "point": [0, 30]}, {"id": "lift", "point": [50, 30]}, {"id": "stairs"}],
    "distances": {"stairs": {"A-01": 40, "B-02": 5}},
    "metres_per_pixel": 0.5,
})


def states(**occupied: bool | None) -> dict[str, SpaceState]:
    return {k.replace("_", "-"): SpaceState(k.replace("_", "-"), v, 0.9) for k, v in occupied.items()}


def test_free_and_total_per_zone_count_unknown_spaces_as_taken() -> None:
    st = states(A_01=False, A_02=True, A_03=None, B_01=False)
    assert zone_counts(MAP, st) == [{"zone": "A", "free": 1, "total": 3}, {"zone": "B", "free": 1, "total": 2}]


def test_the_nearest_free_space_from_each_entrance() -> None:
    st = states(A_01=True, A_02=False, A_03=False, B_01=False, B_02=True)
    got = {n["entrance"]: n for n in nearest_free(MAP, st)}
    assert got["gate"]["space"] == "A-02" and got["gate"]["zone"] == "A"
    assert got["gate"]["distance_m"] == round(((15 - 0) ** 2 + (10 - 30) ** 2) ** 0.5 * 0.5, 1)
    assert got["lift"]["space"] == "A-03"  # (25, 10) is nearer (50, 30) than B-01 at (5, 60)
    assert got["stairs"] == {"entrance": "stairs", "space": None, "zone": None}  # only taken spaces are listed


def test_a_listed_distance_wins_over_the_picture_and_none_when_all_are_taken() -> None:
    st = states(A_01=False, A_02=True, A_03=True, B_01=True, B_02=False)
    got = {n["entrance"]: n for n in nearest_free(MAP, st)}
    assert got["stairs"] == {"entrance": "stairs", "space": "B-02", "zone": "B", "distance_m": 5.0}
    full = states(A_01=True, A_02=True, A_03=True, B_01=True, B_02=True)
    assert all(n["space"] is None for n in nearest_free(MAP, full))


def test_sign_text() -> None:
    assert sign_text([{"zone": "A", "free": 3, "total": 40}, {"zone": "B", "free": 0, "total": 8}]) == \
        "A 3/40\nB 0/8\nFREE 3\n"


class OffCentre:
    """A stand-in for the network on a camera whose empty spaces score too high (as PKLot UFPR05 does for a model
    that never saw it): the first four spaces are taken (0.99), the other 36 free but scored 0.08-0.71."""

    def classify(self, frame: Any, spaces: Any) -> list[Occupancy]:
        free = 1 / (1 + np.exp(-np.linspace(-2.5, 0.9, 36)))
        return [Occupancy(s.id, p >= 0.5, max(p, 1 - p), p)
                for s, p in zip(spaces, [0.99] * 4 + list(free), strict=True)]


def camera_on(space_map: Any, folder: Path) -> tuple[ParkingConfig, FakeClock, Any, ParkingSubsystem]:
    """One camera "lot" with this map, its network the OffCentre stand-in."""
    clock = FakeClock()
    cfg = ParkingConfig(cameras=[{"name": "lot", "source": str(folder / "none.mp4"), "spaces": str(folder)}],
                        frames=1)
    lane = make_lane(cfg, cfg.cameras[0], clock, folder)
    lane.set_map(space_map)
    parking = ParkingSubsystem(cfg, [lane], lambda e: None, clock, classifier=OffCentre)
    parking._model = OffCentre()
    return cfg, clock, lane, parking


def test_a_camera_learns_its_own_cut_once_a_minute_answers_by_it_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    row = parse_space_map({"spaces": [{"id": f"A-{i:02d}", "zone": "A",
                                       "polygon": [[i * 10, 0], [i * 10 + 9, 0], [i * 10 + 9, 20], [i * 10, 20]]}
                                      for i in range(40)]})
    cfg, clock, lane, parking = camera_on(row, tmp_path)
    frame = np.zeros((20, 400, 3), np.uint8)
    for _ in range(2):  # 80 space-frames: not enough to learn from; the network's own cut
        parking._look(lane, frame)
        clock.advance(60)
    # free by the network's cut: the 22 free spaces it is sure of (P < 0.4); 14 are taken or unsure
    assert zone_counts(row, lane.states)[0]["free"] == 22 and parking.health()["cameras"]["lot"]["cut"] is None
    for _ in range(2):
        parking._look(lane, frame)
        clock.advance(60)
    assert zone_counts(row, lane.states)[0]["free"] == 36  # the camera's own cut: only the four cars are taken
    assert 0.7 < parking.health()["cameras"]["lot"]["cut"] < 0.99
    learnt = lane.threshold.shift if lane.threshold else None
    assert json.loads((tmp_path / "parking-lot.cut.json").read_text())["cut"] == learnt
    again = make_lane(cfg, cfg.cameras[0], clock, tmp_path)  # a restart: the cut is kept for the same polygons
    again.set_map(row)
    assert again.threshold is not None and again.threshold.learnt and again.threshold.shift == learnt
    moved = parse_space_map({"spaces": [{"id": s.id, "zone": s.zone, "polygon": [[x + 1, y] for x, y in s.polygon]}
                                        for s in row.spaces]})
    lane.set_map(moved)  # new polygons: learnt again from the start, also after a restart
    assert lane.threshold is not None and not lane.threshold.learnt
    again = make_lane(cfg, cfg.cameras[0], clock, tmp_path)
    again.set_map(moved)
    assert again.threshold is not None and not again.threshold.learnt


def test_a_frame_of_another_size_than_the_map_was_drawn_on_is_an_error_not_a_state(tmp_path: Path) -> None:
    row = parse_space_map({"image": {"width": 400, "height": 20},
                           "spaces": [{"id": f"A-{i:02d}", "zone": "A",
                                       "polygon": [[i * 10, 0], [i * 10 + 9, 0], [i * 10 + 9, 19], [i * 10, 19]]}
                                      for i in range(40)]})
    cfg, clock, lane, parking = camera_on(row, tmp_path)
    assert parking._look(lane, np.zeros((40, 800, 3), np.uint8)) == []  # a camera swapped for a larger one
    assert lane.counts["errors"] == 1 and lane.states == {}
    parking._look(lane, np.zeros((20, 400, 3), np.uint8))
    assert lane.counts["errors"] == 1 and len(lane.states) == 40
