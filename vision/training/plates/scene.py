"""Whole synthetic camera frames with plates on them: for the demo's gate camera and for fixtures.

    python -m vision.training.plates.scene --text 冀D5L690 --color yellow --double-row --out frame.jpg
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np

from vision.training.plates import augment
from vision.training.plates.rec_data import place_plate
from vision.training.plates.render import PlateRenderer, PlateSpec


def render_frame(
    spec: PlateSpec, rng: random.Random, size: tuple[int, int] = (1280, 720), plate_width: int = 200,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A frame (BGR) with the plate near the centre, slightly turned, and the plate's quad in the frame."""
    w, h = size
    frame = background.copy() if background is not None else augment.background(
        augment.load_backgrounds(20, rng), w, h, rng)
    plate = PlateRenderer().render(spec, rng, scale=0.8)
    ph, pw = plate.shape[:2]
    scale = plate_width / pw
    quad = augment.random_quad(pw * scale, ph * scale, rng, tilt=0.5)
    quad += np.float32([w / 2 + rng.uniform(-w / 6, w / 6), h * 0.6 + rng.uniform(-h / 10, h / 10)])
    place_plate(frame, plate, quad, rng)
    return frame, quad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", required=True)
    ap.add_argument("--color", required=True)
    ap.add_argument("--double-row", action="store_true")
    ap.add_argument("--plate-width", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    frame, _ = render_frame(PlateSpec(a.text, a.color, a.double_row), random.Random(a.seed),
                            plate_width=a.plate_width)
    cv2.imwrite(str(a.out), frame, [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
