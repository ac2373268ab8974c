"""Make vision/demo/gate_lane.mp4: the simulated building's gate camera (see vision/demo/__init__.py).

    python -m vision.demo.make_gate_clip [--out vision/demo/gate_lane.mp4] [--frames-dir DIR]

Needs what the plates renderer needs (CJK fonts: apt-get install fonts-noto-cjk; pip install pillow); run once by a
developer, never at run time. The scene is drawn with OpenCV: an entry lane seen from above the barrier, a booth,
the barrier arm, cars (front view coming in, back view going out) carrying plates from the renderer, a little sensor
noise, and the camera's own time overlay at the top (outside the gate's region of interest). `--frames-dir` also
writes a few stills (for test fixtures).

The committed clip was made with the renderer as of commit 79dd683 (seed 7); the renderer has changed since (e.g.
lighter glyphs on green plates), so running this again gives a slightly different clip: check that the shipped
models still read it (tests/edge/test_gate_run.py, tests/bench/gate.py) before committing a new one.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np

from vision.demo import CARS, FPS, GATE_CLIP, LENGTH_S, SIZE, Car
from vision.training.plates.render import PlateRenderer, PlateSpec

W, H = SIZE
BARRIER_Y = 0.84 * H  # where the arm is, and where an incoming car's bumper stops
FAR_Y, FAR_PW = 0.30 * H, 40.0  # plate centre and width when a car is first seen
STOP_Y, STOP_PW = 0.68 * H, 104.0  # at the barrier
APPROACH_S, WAIT_S, LEAVE_S = 3.5, 2.5, 2.0
PLATE_ASPECT = {7: 140 / 440, 8: 140 / 480}


def ease(u: float) -> float:
    """Slowing down towards the barrier."""
    u = min(1.0, max(0.0, u))
    return 1 - (1 - u) ** 2


def pose(car: Car, t: float) -> tuple[float, float] | None:
    """(plate centre y, plate width) at clip time t, or None when the car is not in view."""
    u = t - car.start_s
    total = APPROACH_S + WAIT_S + LEAVE_S
    if not 0 <= u <= total:
        return None
    if car.direction == "exit":
        u = total - u  # the same path backwards: from the barrier up and away
        u = min(u, total)
    if u < APPROACH_S:
        k = ease(u / APPROACH_S)
    elif u < APPROACH_S + WAIT_S:
        k = 1.0
    else:
        k = 1.0 + 1.4 * ((u - APPROACH_S - WAIT_S) / LEAVE_S) ** 1.5  # on through the gate, out of the picture
    return FAR_Y + (STOP_Y - FAR_Y) * k, FAR_PW * (STOP_PW / FAR_PW) ** k


def arm_raised(t: float) -> float:
    """0: down, 1: up. It rises a second into a car's wait and comes down after it has gone."""
    up = 0.0
    for car in CARS:
        u = t - car.start_s
        open_at = APPROACH_S + 1.0 if car.direction == "entry" else LEAVE_S * 0.2
        close_at = APPROACH_S + WAIT_S + LEAVE_S + 0.5
        if open_at <= u <= close_at:
            up = max(up, min(1.0, (u - open_at) / 0.8, (close_at - u) / 0.8))
    return up


def background(rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    img = (np.float32([88, 92, 95]) * (1 - y) + np.float32([70, 72, 74]) * y) * np.ones((H, W, 3), np.float32)
    img += rng.normal(0, 4, (H, W, 1)).astype(np.float32)  # asphalt grain (fixed: the scene, not noise)
    vx = W * 0.5
    for side in (-1, 1):  # lane edges converging to the far end
        cv2.line(img, (int(vx + side * 0.12 * W), int(0.12 * H)), (int(vx + side * 0.62 * W), H), (200, 200, 200), 3,
                 cv2.LINE_AA)
    cv2.rectangle(img, (int(0.86 * W), int(0.40 * H)), (W, int(0.95 * H)), (150, 160, 170), -1)  # guard booth
    cv2.rectangle(img, (int(0.88 * W), int(0.47 * H)), (int(0.97 * W), int(0.62 * H)), (110, 90, 60), -1)
    cv2.rectangle(img, (0, 0), (W, int(0.12 * H)), (150, 140, 120), -1)  # the far wall of the car park
    return img


def draw_car(img: np.ndarray, car: Car, plate: np.ndarray, cy: float, pw: float) -> None:
    """A car seen from the front (entry) or the back (exit), its plate centred at (W/2, cy), pw pixels wide."""
    cw, cx = pw * 3.8, W / 2
    ph = pw * PLATE_ASPECT[len(car.plate)]
    bottom, top = cy + pw * 0.55, cy - pw * 2.3
    body = tuple(float(c) for c in car.body)
    cv2.ellipse(img, (int(cx), int(bottom)), (int(cw * 0.55), int(pw * 0.18)), 0, 0, 360, (40, 40, 40), -1)
    cv2.rectangle(img, (int(cx - cw / 2), int(cy - pw * 1.2)), (int(cx + cw / 2), int(bottom)), body, -1)
    glass = np.int32([[cx - cw * 0.42, cy - pw * 1.2], [cx + cw * 0.42, cy - pw * 1.2],
                      [cx + cw * 0.33, top], [cx - cw * 0.33, top]])
    cv2.fillPoly(img, [glass], (70, 55, 45) if car.direction == "entry" else (60, 50, 50), cv2.LINE_AA)
    lamp = (210, 235, 245) if car.direction == "entry" else (40, 40, 200)
    for side in (-1, 1):
        cv2.ellipse(img, (int(cx + side * cw * 0.36), int(cy - pw * 0.75)), (int(pw * 0.42), int(pw * 0.16)), 0, 0,
                    360, lamp, -1, cv2.LINE_AA)
    if car.direction == "entry":  # the grille
        cv2.rectangle(img, (int(cx - pw * 0.8), int(cy - pw * 0.95)), (int(cx + pw * 0.8), int(cy - pw * 0.45)),
                      (35, 35, 35), -1)
    small = cv2.resize(plate, (max(2, round(pw)), max(2, round(ph))), interpolation=cv2.INTER_AREA)
    x0, y0 = round(cx - small.shape[1] / 2), round(cy - small.shape[0] / 2)
    y1, x1 = min(H, y0 + small.shape[0]), min(W, x0 + small.shape[1])
    if y0 < H and y1 > 0:
        img[max(0, y0):y1, x0:x1] = small[max(0, -y0):y1 - y0, : x1 - x0]


def draw_arm(img: np.ndarray, raised: float) -> None:
    pivot = (int(0.84 * W), int(BARRIER_Y))
    cv2.rectangle(img, (pivot[0] - 8, pivot[1] - 10), (pivot[0] + 8, pivot[1] + 40), (60, 60, 60), -1)
    angle = np.deg2rad(180 + 80 * raised)
    length = 0.62 * W
    end = (int(pivot[0] + length * np.cos(angle)), int(pivot[1] + length * np.sin(angle)))
    for k in range(8):  # red and white stripes
        a = (pivot[0] + (end[0] - pivot[0]) * k / 8, pivot[1] + (end[1] - pivot[1]) * k / 8)
        b = (pivot[0] + (end[0] - pivot[0]) * (k + 1) / 8, pivot[1] + (end[1] - pivot[1]) * (k + 1) / 8)
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (40, 40, 220) if k % 2 else (240, 240, 240),
                 7, cv2.LINE_AA)


def render_plates(seed: int = 7) -> dict[str, np.ndarray]:
    renderer, rng = PlateRenderer(), random.Random(seed)
    return {car.plate: renderer.render(PlateSpec(car.plate, car.color), rng, scale=0.6) for car in CARS}


def frames(seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scene, plates = background(rng), render_plates(seed)
    out = []
    for i in range(int(LENGTH_S * FPS)):
        t = i / FPS
        img = scene.copy()
        for car in CARS:
            p = pose(car, t)
            if p is not None:
                draw_car(img, car, plates[car.plate], *p)
        draw_arm(img, arm_raised(t))
        img += rng.normal(0, 0.8, (H, W, 1)).astype(np.float32)  # sensor noise: the motion gate must ignore it
        frame = np.clip(img, 0, 255).astype(np.uint8)
        stamp = f"GATE-1  2026-11-23 19:{2 + int(t) // 60:02d}:{int(t) % 60:02d}"
        cv2.putText(frame, stamp, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        out.append(frame)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=GATE_CLIP)
    ap.add_argument("--frames-dir", type=Path, help="also write stills at the moments each car is at the barrier")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    video = frames(args.seed)
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for f in video:
        writer.write(f)
    writer.release()
    print(f"{args.out}: {len(video)} frames, {args.out.stat().st_size / 1e6:.2f} MB")
    if args.frames_dir:
        args.frames_dir.mkdir(parents=True, exist_ok=True)
        for car in CARS:
            i = int((car.start_s + APPROACH_S + 0.5) * FPS)
            path = args.frames_dir / f"{car.direction}_{i:03d}.jpg"
            cv2.imwrite(str(path), video[i], [cv2.IMWRITE_JPEG_QUALITY, 90])
            print(path)


if __name__ == "__main__":
    main()
