"""Motion gating: still scenes, sensor noise and slow light are not motion; a car is; on the demo gate clip plates
are read only while a car is in view. A fixed camera stays put over days; a turned one is found."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED
from vision import demo
from vision.errors import BadImageError
from vision.motion import MotionDetector, MotionGate, MotionSettings, Roi, camera_shift, scene

PARKING = SHARED / "datasets" / "parking"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parking"


def lane(level: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, 2, (180, 320, 3)), 0, 255).astype(np.uint8)


def test_the_roi_is_cut_in_frame_pixels():
    frame = np.zeros((360, 640, 3), np.uint8)
    region, corner = Roi(0.0, 0.25, 1.0, 0.75).cut(frame)
    assert region.shape == (270, 640, 3) and corner == (0, 90)
    assert Roi(0.99, 0.99, 0.01, 0.01).pixels(frame.shape) == (633, 356, 640, 360)  # at least a few pixels


def test_noise_and_slow_light_are_not_motion_but_a_car_is():
    d = MotionDetector()
    shares = [d.changed(lane(90 + i // 10, seed=i)) for i in range(60)]  # noise, evening light 6 levels in 12 s
    assert max(shares) < 0.01
    car = lane(96, seed=99)
    car[40:140, 100:220] = 200
    assert d.changed(car) > 0.2


def test_the_gate_holds_after_the_last_motion_and_a_parked_car_becomes_background():
    gate = MotionGate(Roi(), MotionSettings(hold_s=1.0, learn=0.5))
    still, parked = lane(90), lane(90)
    parked[50:120, 50:150] = 250
    frames = [(still, 0.0), (still, 0.2), (parked, 0.4), (parked, 0.6), (parked, 0.8), (parked, 1.0), (parked, 1.7),
              (parked, 1.9)]
    assert [gate.should_read(f, t) for f, t in frames] == [False, False, True, True, True, True, True, False]
    assert gate.last_motion == 0.8  # the third frame of the parked car no longer differs from the background
    assert MotionGate(Roi(), enabled=False).should_read(still, 0.0)


def test_a_frame_that_is_not_a_picture_is_a_clear_error():
    with pytest.raises(BadImageError, match="8-bit"):
        MotionDetector().changed(np.zeros((10, 10), np.float32))


def test_on_the_demo_clip_plates_are_read_only_while_a_car_is_in_view():
    cap = cv2.VideoCapture(str(demo.GATE_CLIP))
    gate = MotionGate(Roi(*demo.GATE_ROI), MotionSettings(hold_s=1.0))
    reading: list[float] = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        t = i / demo.FPS
        if gate.should_read(frame, t):
            reading.append(t)
        i += 1
    cap.release()
    assert i == demo.LENGTH_S * demo.FPS
    in_view = [(c.start_s, c.start_s + 10.5) for c in demo.CARS]  # approach, wait, leave, the arm; and the hold
    assert all(any(a <= t <= b for a, b in in_view) for t in reading)  # never while the lane is empty
    for a, _ in in_view:  # and during each car's approach
        assert any(a <= t <= a + 3 for t in reading)
    assert len(reading) < 0.8 * i


@pytest.mark.parametrize("camera", ["ufpr05", "cnr3"])
def test_a_fixed_camera_stays_put_over_days_and_a_turned_one_is_found(camera: str) -> None:
    # camera 3 on a wet January afternoon, a van in the road, used to read as moved by [20, 8] px against December.
    # Every frame of ../shared when it is beside the checkout; else the few copied into tests/fixtures/parking.
    frames = {"ufpr05": "pklot_ufpr05/sequence*/frames/*", "cnr3": "cnrpark_ext_camera3/*.jpg"}[camera]
    found = sorted(PARKING.glob(frames)) or sorted(FIXTURES.glob(f"{camera}_*.jpg"))
    assert len(found) >= 3
    pictures = [cv2.imread(str(f)) for f in found]
    height, width = pictures[0].shape[:2]
    scenes = [scene(p) for p in pictures]
    for i, reference in enumerate(scenes):  # days, morning to evening: the light, the shadows and the cars change
        assert all(math.hypot(*camera_shift(reference, s, width)) < 8 for s in scenes), i
    for move in ((30, 0), (-40, 25), (0, 90), (150, 40)):
        turned = cv2.warpAffine(pictures[-1], np.float32([[1, 0, move[0]], [0, 1, move[1]]]), (width, height),
                                borderMode=cv2.BORDER_REPLICATE)
        dx, dy = camera_shift(scenes[0], scene(turned), width)
        assert abs(dx - move[0]) < 8 and abs(dy - move[1]) < 8, move
