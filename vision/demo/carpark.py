"""The simulated building's car-park camera: a surface car park drawn with OpenCV, cars arriving and leaving.

`carpark.mp4` (one loop: LENGTH_S seconds at FPS frames a second, 640x360) was made by `python -m vision.demo.carpark`;
`prepare(folder)` writes the camera's space map there (unless the installer has already saved one from the
calibration page): two rows of ten spaces, zone A above the aisle and zone B below it, entrances west and east.
Nothing here comes from a data set: asphalt, lines, cars, their shadows and a passing cloud are drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FPS = 1.0
LENGTH_S = 150
SIZE = (960, 540)  # drawn at this size
SCALE = 2 / 3
CLIP_SIZE = (640, 360)  # and played at this one
CLIP = Path(__file__).with_name("carpark.mp4")
COLUMNS = 10
SPACE_W, SPACE_L = 76, 150  # pixels
X0, ROW_A_Y, ROW_B_Y = 100, 40, 350  # left edge of the rows, top of row A, top of row B


@dataclass(frozen=True)
class Stay:
    space: int  # 0..19: 0-9 row A left to right, 10-19 row B
    arrive_s: float
    leave_s: float  # may be past LENGTH_S: stays to the end of the loop
    colour: tuple[int, int, int]  # BGR


def space_rect(i: int) -> tuple[int, int, int, int]:
    """x, y, w, h of space i."""
    row, col = divmod(i, COLUMNS)
    return X0 + col * SPACE_W, ROW_A_Y if row == 0 else ROW_B_Y, SPACE_W, SPACE_L


def schedule(seed: int = 7) -> list[Stay]:
    """Half the spaces taken at the start; every ten seconds or so a car comes or goes."""
    rng = np.random.default_rng(seed)
    colours = [(40, 40, 40), (230, 230, 230), (60, 60, 170), (160, 90, 30), (200, 200, 205), (30, 120, 200),
               (90, 90, 95), (40, 70, 40), (20, 20, 120), (180, 180, 150)]
    stays = []
    for i in range(2 * COLUMNS):
        colour = colours[int(rng.integers(len(colours)))]
        if rng.random() < 0.55:  # parked from the start; some leave during the loop (and come back before its end)
            if rng.random() < 0.5:
                leave = float(rng.uniform(8, LENGTH_S - 40))
                stays.append(Stay(i, 0, leave, colour))
                stays.append(Stay(i, float(rng.uniform(leave + 15, LENGTH_S - 5)), LENGTH_S + 1, colour))
            else:
                stays.append(Stay(i, 0, LENGTH_S + 1, colour))
        elif rng.random() < 0.6:  # comes and goes within the loop
            arrive = float(rng.uniform(5, LENGTH_S - 50))
            stays.append(Stay(i, arrive, float(rng.uniform(arrive + 20, LENGTH_S - 5)), colour))
    return stays


def _ground(rng: np.random.Generator) -> np.ndarray:
    w, h = SIZE
    base = rng.normal(100, 7, (h, w)).astype(np.float32)
    base = cv2.GaussianBlur(base, (0, 0), 1.2) + np.linspace(-12, 12, w, dtype=np.float32)[None, :]
    img = np.clip(np.dstack([base, base + 2, base + 4]), 0, 255).astype(np.uint8)
    for i in range(2 * COLUMNS):
        x, y, sw, sl = space_rect(i)
        cv2.line(img, (x, y), (x, y + sl), (225, 225, 225), 3)
        cv2.line(img, (x + sw, y), (x + sw, y + sl), (225, 225, 225), 3)
        yy = y if i < COLUMNS else y + sl
        cv2.line(img, (x, yy), (x + sw, yy), (225, 225, 225), 3)
    cv2.putText(img, "A", (30, ROW_A_Y + 90), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (225, 225, 225), 3)
    cv2.putText(img, "B", (30, ROW_B_Y + 90), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (225, 225, 225), 3)
    cv2.arrowedLine(img, (20, 270), (85, 270), (225, 225, 225), 3, tipLength=0.3)
    cv2.arrowedLine(img, (940, 270), (875, 270), (225, 225, 225), 3, tipLength=0.3)
    return img


def _car(img: np.ndarray, cx: float, cy: float, colour: tuple[int, int, int], facing_up: bool) -> None:
    """A car seen from above: shadow, body, windscreen, rear and side windows, roof, light on its ends."""
    w, length = 56, 124
    x0, y0 = int(cx - w / 2), int(cy - length / 2)
    shadow = img.copy()
    cv2.rectangle(shadow, (x0 + 6, y0 + 8), (x0 + w + 6, y0 + length + 8), (40, 40, 40), -1)
    img[:] = cv2.addWeighted(shadow, 0.5, img, 0.5, 0)
    body = tuple(float(c) for c in colour)
    r = 12
    cv2.rectangle(img, (x0 + r, y0), (x0 + w - r, y0 + length), body, -1)
    cv2.rectangle(img, (x0, y0 + r), (x0 + w, y0 + length - r), body, -1)
    for px, py in ((x0 + r, y0 + r), (x0 + w - r, y0 + r), (x0 + r, y0 + length - r), (x0 + w - r, y0 + length - r)):
        cv2.circle(img, (px, py), r, body, -1)
    glass = (45.0, 40.0, 35.0)
    front, back = (y0 + 22, y0 + 46), (y0 + length - 30, y0 + length - 14)
    if not facing_up:
        front, back = (y0 + length - 46, y0 + length - 22), (y0 + 14, y0 + 30)
    cv2.rectangle(img, (x0 + 6, front[0]), (x0 + w - 6, front[1]), glass, -1)
    cv2.rectangle(img, (x0 + 8, back[0]), (x0 + w - 8, back[1]), glass, -1)
    cabin = (min(front[1], back[1]) + 2, max(front[0], back[0]) - 2)
    cv2.rectangle(img, (x0 + 3, cabin[0]), (x0 + 7, cabin[1]), glass, -1)  # side windows
    cv2.rectangle(img, (x0 + w - 7, cabin[0]), (x0 + w - 3, cabin[1]), glass, -1)
    roof = tuple(min(255.0, c * 1.15 + 12) for c in body)
    cv2.rectangle(img, (x0 + 8, min(front[1], back[1]) + 4), (x0 + w - 8, max(front[0], back[0]) - 4), roof, -1)
    shine = tuple(min(255.0, c * 1.3 + 40) for c in body)  # light caught by the body's rounded edge
    cv2.line(img, (x0 + r, y0 + 1), (x0 + w - r, y0 + 1), shine, 2)
    cv2.line(img, (x0 + r, y0 + length - 2), (x0 + w - r, y0 + length - 2), shine, 2)
    cv2.line(img, (x0 - 3, int(cy - 18)), (x0 + w + 3, int(cy - 18)), glass, 3)  # mirrors


def render(t: float, stays: list[Stay], ground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = ground.copy()
    for s in stays:
        x, y, sw, sl = space_rect(s.space)
        cx, cy = x + sw / 2, y + sl / 2
        aisle_y = (ROW_A_Y + SPACE_L + ROW_B_Y) / 2
        if s.arrive_s <= t < s.leave_s:
            into = t - s.arrive_s
            if into < 2:  # still turning in: half in the aisle, across the line
                cx, cy = cx + (2 - into) * 20, cy + (aisle_y - cy) * (2 - into) / 3
            _car(img, cx, cy, s.colour, facing_up=s.space < COLUMNS)
    cloud = 0.75 + 0.25 * np.cos(2 * np.pi * t / LENGTH_S)  # a cloud passes once a loop
    img = img * cloud + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def space_map() -> dict:
    """The clip's map (in the clip's pixels: the drawing scaled by SCALE)."""
    spaces = []
    for i in range(2 * COLUMNS):
        x, y, sw, sl = (round(v * SCALE, 1) for v in space_rect(i))
        zone = "A" if i < COLUMNS else "B"
        spaces.append({"id": f"{zone}-{i % COLUMNS + 1:02d}", "zone": zone,
                       "polygon": [[x, y], [x + sw, y], [x + sw, y + sl], [x, y + sl]]})
    return {"spaces": spaces, "image": {"width": CLIP_SIZE[0], "height": CLIP_SIZE[1]},
            "entrances": [{"id": "west", "point": [0, 180]}, {"id": "east", "point": [CLIP_SIZE[0], 180]}],
            "metres_per_pixel": 0.05}


def frames(seed: int = 7) -> list[np.ndarray]:
    """The loop, one frame a second, in the clip's size."""
    rng = np.random.default_rng(seed)
    stays, ground = schedule(seed), _ground(rng)
    return [cv2.resize(render(n / FPS, stays, ground, rng), CLIP_SIZE, interpolation=cv2.INTER_AREA)
            for n in range(int(LENGTH_S * FPS))]


def prepare(folder: Path) -> Path:
    """The simulated camera's map in folder (written once: the installer may redraw it on the calibration page)."""
    folder.mkdir(parents=True, exist_ok=True)
    spaces = folder / "SPACES.json"
    if not spaces.exists():
        spaces.write_text(json.dumps(space_map(), indent=1))
    return spaces


def main() -> None:
    """Render the clip: python -m vision.demo.carpark [OUT]."""
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else CLIP
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, CLIP_SIZE)
    for f in frames():
        writer.write(f)
    writer.release()
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
