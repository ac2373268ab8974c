"""Recogniser training data: synthetic plates on real backgrounds, cut out the way the reader cuts them.

    python -m vision.training.plates.rec_data --n 120000 --out /tmp/plates/rec_synth.npz

Each sample: the plate rendered, dirtied, warped onto a real car-park photo inside a holder frame, lit,
shrunk to a random size (40-200 px wide), blurred/noised/JPEG'd, then cut with a jittered quad (as an
imperfect detector would) through `vision.plate_geometry.rectify`, so training and inference share one path.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from vision.plate_geometry import REC_H, REC_W, order_quad, rectify
from vision.training.plates import augment
from vision.training.plates.render import CHARS, COLORS, PlateRenderer, random_spec

MAX_LEN = 8
_STATE: dict = {}


def encode(text: str) -> np.ndarray:
    """Label indices (1-based, 0 is the CTC blank), padded with 0 to MAX_LEN."""
    out = np.zeros(MAX_LEN, np.int16)
    out[: len(text)] = [CHARS.index(c) + 1 for c in text]
    return out


def decode(label: np.ndarray) -> str:
    """The text of an `encode`d label."""
    return "".join(CHARS[k - 1] for k in label if k)


def place_plate(canvas: np.ndarray, plate: np.ndarray, quad: np.ndarray, rng: random.Random) -> None:
    """Warp the flat plate onto canvas at quad, inside a holder frame (drawn first)."""
    ph, pw = plate.shape[:2]
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    if rng.random() < 0.7:
        m = rng.uniform(0.02, 0.1)
        frame_src = np.float32([[-pw * m, -ph * m * 2], [pw * (1 + m), -ph * m * 2],
                                [pw * (1 + m), ph * (1 + m * 3)], [-pw * m, ph * (1 + m * 3)]])
        h = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
        frame = cv2.perspectiveTransform(frame_src[None], h)[0]
        shade = rng.choice([(20, 20, 20), (60, 60, 60), (170, 170, 170), (200, 200, 210)])
        cv2.fillConvexPoly(canvas, frame.astype(np.int32), [s * rng.uniform(0.7, 1.2) for s in shade],
                           cv2.LINE_AA)
    h = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpPerspective(plate, h, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), h, size, flags=cv2.INTER_LINEAR)[..., None]
    canvas[:] = (canvas * (1 - mask) + warped * mask).astype(np.uint8)


def make_sample(renderer: PlateRenderer, bgs: list, rng: random.Random,
                green_share: float = 0.0) -> tuple[np.ndarray, str, int]:
    spec = random_spec(rng)
    while rng.random() < green_share and spec.color != "green":  # oversample new-energy plates
        spec = random_spec(rng)
    plate = augment.dirty(renderer.render(spec, rng, scale=rng.uniform(0.35, 0.6)), rng)
    ph, pw = plate.shape[:2]
    cw, ch = int(pw * rng.uniform(1.4, 1.9)), int(ph * rng.uniform(2.0, 3.0))
    canvas = augment.background(bgs, cw, ch, rng)
    quad = augment.random_quad(pw, ph, rng) + np.float32([cw / 2, ch / 2])
    place_plate(canvas, plate, quad, rng)
    canvas = augment.lighting(canvas, rng)
    target_w = math.exp(rng.uniform(math.log(50), math.log(220)))  # plate width in the photo
    f = target_w / pw
    small = cv2.resize(canvas, (max(8, int(cw * f)), max(8, int(ch * f))), interpolation=cv2.INTER_AREA)
    small = augment.degrade(small, rng)
    cut = order_quad(quad * f)
    qw, qh = pw * f, ph * f
    jitter = np.float32([[rng.gauss(0, 0.012 * qw), rng.gauss(0, 0.05 * qh)] for _ in range(4)])
    if spec.double_row:
        gx, gy = rng.uniform(0.0, 0.05), rng.uniform(-0.02, 0.15)
    else:  # from a loose cut to one inside the plate's margins, as tight real crops are
        gx, gy = rng.uniform(-0.03, 0.05), rng.uniform(-0.13, 0.1)
    grow = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [gx * qw, gy * qh]
    quad_cut = cut + jitter + grow
    if not spec.double_row and rng.random() < 0.25:  # an upright box around a tilted plate, as in bbox crops
        x0, y0 = quad_cut.min(axis=0)
        x1, y1 = quad_cut.max(axis=0)
        quad_cut = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    img = rectify(small, quad_cut, spec.double_row)
    return img, spec.text, COLORS.index(spec.color)


def _init(seed: int, green_share: float) -> None:
    rng = random.Random(seed)
    _STATE["green_share"] = green_share
    _STATE["renderer"] = PlateRenderer()
    _STATE["bgs"] = augment.load_backgrounds(400, rng)


def _work(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = random.Random(seed)
    img, text, color = make_sample(_STATE["renderer"], _STATE["bgs"], rng, _STATE["green_share"])
    return img, encode(text), color


def generate(n: int, seed: int, workers: int, green_share: float = 0.0) -> dict[str, np.ndarray]:
    seeds = [seed * 10_000_000 + i for i in range(n)]
    with Pool(workers, initializer=_init, initargs=(seed, green_share)) as pool:
        rows = pool.map(_work, seeds, chunksize=256)
    return {
        "images": np.stack([r[0] for r in rows]),
        "labels": np.stack([r[1] for r in rows]),
        "colors": np.array([r[2] for r in rows], np.int8),
    }


def real_crops(split: str) -> dict[str, np.ndarray]:
    """The shared real crops, 'train' (even-numbered lprnet crops) or 'holdout' (the rest).

    The split is by file number so it is stable and documented; the holdout half is never trained on.
    """
    root = augment.SHARED / "plates"
    images, labels, colors = [], [], []
    with open(root / "labels.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["image_type"] != "crop":
                continue
            name = Path(row["filename"]).stem
            is_train = name.startswith("lprnet_") and int(name.split("_")[1]) % 2 == 0
            if is_train != (split == "train"):
                continue
            img = cv2.imread(str(root / row["filename"]))
            text = row["plate_text"]
            color = row["plate_color"].split(" ")[0] or ("green" if len(text) == 8 else "blue")
            images.append(cv2.resize(img, (REC_W, REC_H), interpolation=cv2.INTER_CUBIC))
            labels.append(encode(text))
            colors.append(COLORS.index(color))
    return {"images": np.stack(images), "labels": np.stack(labels), "colors": np.array(colors, np.int8)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--green-share", type=float, default=0.0, help="extra share of new-energy plates")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--preview", type=Path, help="also write a PNG of the first 64 samples")
    a = ap.parse_args()
    data = generate(a.n, a.seed, a.workers, a.green_share)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, **data)
    if a.preview:
        ims = data["images"][:64]
        cv2.imwrite(str(a.preview), np.vstack([np.hstack(ims[i: i + 4]) for i in range(0, len(ims), 4)]))


if __name__ == "__main__":
    main()
