"""The simulated building's gate camera: a short clip of a car-park entry lane, played in a loop by `edge demo`.

`gate_lane.mp4` was made by `python -m vision.demo.make_gate_clip` from plates drawn by the plates renderer
(vision/training/plates/render.py, which needs CJK fonts); the clip itself needs nothing but OpenCV to play.
The camera hangs above the lane looking at the cars coming in, so an entering car's plate moves down the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GATE_CLIP = Path(__file__).with_name("gate_lane.mp4")
FPS = 10
SIZE = (640, 360)
GATE_ROI = (0.0, 0.25, 1.0, 0.75)  # the lane before the barrier: the lower three quarters of the picture
GATE_INBOUND = "down"


@dataclass(frozen=True)
class Car:
    plate: str
    color: str  # plate colour
    direction: str  # entry: its front comes towards the camera; exit: its back drives away
    start_s: float  # when it appears, seconds from the start of the clip
    body: tuple[int, int, int]  # BGR


CARS = (
    Car("湘A12345", "blue", "entry", 2.0, (60, 60, 170)),  # a resident comes home: the gate opens
    Car("粤B7Q2X5", "blue", "entry", 12.0, (200, 200, 200)),  # a visitor
    Car("湘AD35871", "green", "exit", 22.0, (40, 40, 40)),  # a resident leaves
)
LENGTH_S = 33.0
RESIDENTS = ("湘A12345", "湘AD35871", "湘A88F60")
