"""Guidance on a small hand-made map: free per zone, the nearest free space from each entrance, the sign; a camera
learning its own occupied/free cut; a camera that goes blind (dead, frozen, blank, turned) and guides nobody."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.clock import FakeClock
from edge.config import ParkingConfig
from edge.events import NewEvent, Priority
from edge.parking import ParkingSubsystem, make_lane, nearest_free, sign_text, zone_counts
from edge.store import EventStore
from vision.occupancy import Occupancy, OccupancyClassifier
from vision.smoothing import SpaceState
from vision.spaces import from_pklot_xml, parse_space_map

FRAME = Path(__file__).resolve().parents[1] / "fixtures" / "parking" / "ufpr05_2013-02-22_07_15_01.jpg"

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


def camera_on(space_map: Any, folder: Path, model: Any = None,
              emit: Callable[..., Any] | None = None) -> tuple[ParkingConfig, FakeClock, Any, ParkingSubsystem]:
    """One camera "lot" with this map, its network the OffCentre stand-in unless one is given."""
    clock = FakeClock()
    cfg = ParkingConfig(cameras=[{"name": "lot", "source": str(folder / "none.mp4"), "spaces": str(folder)}],
                        frames=1)
    lane = make_lane(cfg, cfg.cameras[0], clock, folder)
    lane.set_map(space_map)
    parking = ParkingSubsystem(cfg, [lane], emit or (lambda e: None), clock, classifier=OffCentre)
    parking._model = model or OffCentre()
    return cfg, clock, lane, parking


def picture(height: int, width: int, seed: int) -> np.ndarray:
    """A frame with something in it, another one for each seed (a live camera never sends two alike)."""
    blocks = np.random.default_rng(seed).integers(0, 255, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)


def live(image: np.ndarray, seed: int) -> np.ndarray:
    """The same view a moment later: the sensor's noise differs."""
    noise = np.random.default_rng(seed).integers(-2, 3, image.shape)
    return (image.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)


def test_a_camera_learns_its_own_cut_once_a_minute_answers_by_it_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    row = parse_space_map({"spaces": [{"id": f"A-{i:02d}", "zone": "A",
                                       "polygon": [[i * 10, 0], [i * 10 + 9, 0], [i * 10 + 9, 20], [i * 10, 20]]}
                                      for i in range(40)]})
    cfg, clock, lane, parking = camera_on(row, tmp_path)
    for i in range(2):  # 80 space-frames: not enough to learn from; the network's own cut
        parking._look(lane, picture(20, 400, i), clock.monotonic())
        clock.advance(60)
    # free by the network's cut: the 22 free spaces it is sure of (P < 0.4); 14 are taken or unsure
    assert zone_counts(row, lane.states)[0]["free"] == 22 and parking.health()["cameras"]["lot"]["cut"] is None
    for i in range(2, 4):
        parking._look(lane, picture(20, 400, i), clock.monotonic())
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
    assert parking._look(lane, picture(40, 800, 0), clock.monotonic()) == []  # a camera swapped for a larger one
    assert lane.counts["errors"] == 1 and lane.states == {}
    parking._look(lane, picture(20, 400, 1), clock.monotonic())
    assert lane.counts["errors"] == 1 and len(lane.states) == 40


def test_a_zone_seen_by_two_cameras_is_one_line_on_the_sign() -> None:
    zones = [{"zone": "B1", "free": 3, "total": 40, "camera": "west"}, {"zone": "B1", "free": 2, "total": 30,
                                                                       "camera": "east"},
             {"zone": "A", "free": 0, "total": 8, "camera": "east"}]
    assert sign_text(zones) == "B1 5/70\nA 0/8\nFREE 5\n"


def the_lot(folder: Path, emit: Callable[..., Any] | None = None) -> tuple[FakeClock, Any, ParkingSubsystem]:
    """The real UFPR05 frame's 40 spaces with an entrance, read by the shipped network."""
    doc = from_pklot_xml(FRAME.with_suffix(".xml")).to_json()
    space_map = parse_space_map({**doc, "entrances": [{"id": "north", "point": [640, 0]}]})
    _, clock, lane, parking = camera_on(space_map, folder, OccupancyClassifier(), emit)
    return clock, lane, parking


def look(parking: ParkingSubsystem, lane: Any, clock: FakeClock, image: np.ndarray) -> None:
    """One check of the camera, as the lane's loop makes it."""
    lane.last_frame = clock.monotonic()
    parking._look(lane, image, clock.monotonic())
    parking.judge(lane, clock.monotonic())


def test_a_frozen_camera_goes_blind_and_sends_nobody_to_its_spaces(tmp_path: Path) -> None:
    clock, lane, parking = the_lot(tmp_path)
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    look(parking, lane, clock, image)
    before = parking.summary(lane)
    assert 24 <= before["zones"][0]["free"] <= 32 and before["nearest"][0]["space"] is not None
    for _ in range(7):  # the stream repeats one picture for 70 s while cars come and go
        clock.advance(10)
        look(parking, lane, clock, image.copy())
    frozen = parking.summary(lane)
    assert "same picture" in frozen["error"] and frozen["spaces"] == []
    assert frozen["zones"] == [{"zone": "A", "free": 0, "total": 40}]  # not known: not offered
    assert frozen["nearest"] == [{"entrance": "north", "space": None, "zone": None}]
    view = parking.view()
    assert view["free"] == 0 and "same picture" in view["zones"][0]["error"]
    health = parking.health()
    assert not health["ok"] and "same picture" in health["cameras"]["lot"]["blind"]
    clock.advance(2)
    look(parking, lane, clock, live(image, 1))  # it sends live pictures again
    assert "error" not in parking.summary(lane) and parking.summary(lane)["zones"] == before["zones"]
    assert parking.health()["cameras"]["lot"]["blind"] is None


def test_a_camera_that_sends_nothing_or_only_blank_pictures_goes_blind(tmp_path: Path) -> None:
    clock, lane, parking = the_lot(tmp_path)
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    look(parking, lane, clock, image)
    for i in range(7):  # the lights go out: black pictures, which the network would call all free
        clock.advance(10)
        look(parking, lane, clock, live(np.zeros_like(image), i))
    assert "blank" in parking.summary(lane)["error"] and parking.view()["free"] == 0
    look(parking, lane, clock, live(image, 9))
    assert "error" not in parking.summary(lane)
    clock.advance(61)  # then no picture at all for a minute
    parking.judge(lane, clock.monotonic())
    assert "no picture from the camera" in parking.summary(lane)["error"] and parking.view()["free"] == 0


def test_a_camera_turned_since_its_map_was_drawn_is_reported_not_read(tmp_path: Path) -> None:
    clock, lane, parking = the_lot(tmp_path)
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    look(parking, lane, clock, image)  # the picture the map fits

    def turned(dx: float, seed: int) -> np.ndarray:
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        return live(cv2.warpAffine(image, m, (1280, 720), borderMode=cv2.BORDER_REPLICATE), seed)

    clock.advance(2)
    look(parking, lane, clock, turned(2, 1))  # a few pixels: wind, the light of the day
    assert lane.problem is None and lane.counts["classified"] == 2
    clock.advance(2)
    assert parking._look(lane, turned(60, 2), clock.monotonic()) == []
    assert "moved by [60, 0] px" in lane.problem and lane.counts["errors"] == 1
    for i in range(30):  # nobody turns it back: after a minute it is blind, and says why
        clock.advance(2)
        look(parking, lane, clock, turned(60, 3 + i))
    assert "moved by [60, 0] px" in parking.summary(lane)["error"] and parking.view()["free"] == 0
    _, again, restarted = the_lot(tmp_path)  # a restart remembers the picture the map fits
    look(restarted, again, clock, turned(60, 40))
    assert "moved by" in again.problem and again.states == {}
    (tmp_path / "parking-lot.scene.npz").write_bytes(b"PK\x03\x04 cut short by a power cut")
    assert the_lot(tmp_path)[1].reference is None  # a broken file: the picture is taken again
    moved = parse_space_map({"spaces": [{"id": s.id, "zone": s.zone, "polygon": [[x + 60, y] for x, y in s.polygon]}
                             for s in from_pklot_xml(FRAME.with_suffix(".xml")).spaces if
                             max(x for x, _ in s.polygon) + 60 <= 1280]})
    again.set_map(moved)  # the map drawn again on the turned camera: it fits the turned picture
    look(restarted, again, clock, turned(60, 41))
    assert again.problem is None and len(again.states) == len(moved.spaces)


def test_a_summary_of_many_spaces_with_long_ids_is_stored(tmp_path: Path, store: EventStore) -> None:
    # 500 spaces: the per-space list passes the store's 16 KB bound on an event's data, which used to raise out
    # of the camera's loop and stop parking altogether; the counts and the guidance must still go out
    grid = parse_space_map({"spaces": [
        {"id": f"level-minus-one-north-row-{i // 25:02d}-{i % 25:03d}", "zone": f"B{i // 100}",
         "polygon": [[x, y], [x + 50, y], [x + 50, y + 34], [x, y + 34]]}
        for i, (x, y) in enumerate((15 + 50 * c, 15 + 34 * r) for r in range(20) for c in range(25))]})
    clock, lane, parking = camera_on(grid, tmp_path, OccupancyClassifier(), store.emit)[1:]
    look(parking, lane, clock, cv2.imread(str(FRAME), cv2.IMREAD_COLOR))
    asyncio.run(parking.publish(lane, [], clock.monotonic()))
    [summary] = store.events(kind="parking.summary")
    assert sum(z["total"] for z in summary.data["zones"]) == 500 and summary.data["camera"] == "lot"
    assert sum(z["free"] for z in summary.data["zones"]) == parking.view()["free"]


def test_a_blind_camera_is_a_camera_fault_for_staff_until_its_spaces_are_read_again(tmp_path: Path) -> None:
    """Frames that come but cannot be read (blank, frozen, turned) are as much a fault as no frames: staff get the
    alert with the reason, and camera_ok closes it."""
    events: list[NewEvent] = []

    async def emit(e: NewEvent) -> None:
        events.append(e)

    clock, lane, parking = the_lot(tmp_path, emit)
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)

    def check(picture: np.ndarray) -> None:  # as the lane's loop: the camera's state, then the frame
        asyncio.run(parking._camera_state(lane, clock.monotonic(), lane.blind))
        look(parking, lane, clock, picture)

    check(image)
    for i in range(8):
        clock.advance(10)
        check(live(np.zeros_like(image), i))
    check(live(image, 20))  # read again: the next check closes the fault
    check(live(image, 21))
    faults = [(e.kind, e.data["error"]) for e in events if e.kind.startswith("parking.camera_")]
    assert [k for k, _ in faults] == ["parking.camera_fault", "parking.camera_ok"]
    assert "blank" in faults[0][1] and events[0].priority is Priority.HIGH
