"""Detector training data: plates composited onto real car-park photos, with their masks.

    python -m vision.training.plates.det_data --n 16000 --out /tmp/plates/det.npz

Each sample is a SIZE x SIZE crop of a real background (PKLot/CNRPark frames and patches, no Chinese
plates) with 0-3 plates pasted at an angle, 14-170 px wide: synthetic plates of every colour and layout,
and (30 %) real crops from the 'train' half of the shared crops. The target is the plate quads filled,
at a quarter of the resolution. Lighting and camera damage are applied to the whole scene.
"""

from __future__ import annotations

import argparse
import math
import random
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from vision.training.plates import augment
from vision.training.plates.rec_data import place_plate, real_crops
from vision.training.plates.render import PlateRenderer, random_spec

SIZE, STRIDE = 256, 4
_STATE: dict = {}


def _plate(rng: random.Random) -> np.ndarray:
    if rng.random() < 0.3:
        crops = _STATE["real"]
        img = crops[rng.randrange(len(crops))]
        return cv2.resize(img, (94, 24), interpolation=cv2.INTER_AREA)  # back to the real crops' size
    spec = random_spec(rng)
    while rng.random() < _STATE["green_share"] and spec.color != "green":  # oversample new-energy plates
        spec = random_spec(rng)
    return augment.dirty(_STATE["renderer"].render(spec, rng, scale=rng.uniform(0.25, 0.45)), rng)


def _free(quad: np.ndarray, placed: list[np.ndarray]) -> bool:
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    for q in placed:
        a0, b0 = q.min(0) - 6
        a1, b1 = q.max(0) + 6
        if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1:
            return False
    return True


def make_sample(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    canvas = augment.background(_STATE["bgs"], SIZE, SIZE, rng)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    placed: list[np.ndarray] = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
        plate = _plate(rng)
        ph, pw = plate.shape[:2]
        w = math.exp(rng.uniform(math.log(14), math.log(170)))
        h = w * ph / pw
        quad = augment.random_quad(w, h, rng, tilt=1.5)
        quad += np.float32([rng.uniform(w / 2, SIZE - w / 2), rng.uniform(h, SIZE - h)])
        if not _free(quad, placed):
            continue
        placed.append(quad)
        place_plate(canvas, plate, quad, rng)
        cv2.fillConvexPoly(mask, np.round(quad * 8).astype(np.int32), 255, cv2.LINE_AA, shift=3)
    canvas = augment.degrade(augment.lighting(canvas, rng), rng)
    small = cv2.resize(mask, (SIZE // STRIDE, SIZE // STRIDE), interpolation=cv2.INTER_AREA)
    return canvas, small


def _init(seed: int, green_share: float) -> None:
    rng = random.Random(seed)
    _STATE["green_share"] = green_share
    _STATE["renderer"] = PlateRenderer()
    _STATE["bgs"] = augment.load_backgrounds(600, rng)
    _STATE["real"] = list(real_crops("train")["images"])


def _work(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_sample(random.Random(seed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--green-share", type=float, default=0.0, help="extra share of new-energy plates")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--preview", type=Path)
    a = ap.parse_args()
    with Pool(a.workers, initializer=_init, initargs=(a.seed, a.green_share)) as pool:
        rows = pool.map(_work, [a.seed * 10_000_000 + i for i in range(a.n)], chunksize=64)
    images, masks = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, images=images, masks=masks)
    if a.preview:
        tiles = [np.hstack([im, cv2.cvtColor(cv2.resize(m, (SIZE, SIZE)), cv2.COLOR_GRAY2BGR)])
                 for im, m in zip(images[:6], masks[:6], strict=True)]
        cv2.imwrite(str(a.preview), np.vstack([np.hstack(tiles[i: i + 2]) for i in range(0, 6, 2)]))


if __name__ == "__main__":
    main()
