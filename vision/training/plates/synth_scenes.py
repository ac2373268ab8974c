"""The reader end to end on synthetic 1280x720 frames: the place to tune its settings (not the real photos).

    python -m vision.training.plates.synth_scenes --n 200 --seed 777 [--size 1920x1080]

Each frame is a real car-park background (no Chinese plates) with one or two synthetic plates of any
colour, 60-380 px wide, seen at an angle, then lit and damaged like the training data. Prints the share
of plates read exactly, the reads that are no plate in the frame, and the milliseconds per frame; `--by-kind`
also the share by plate colour and by width, and how many misses were the province alone.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from vision.plates import PlateReader
from vision.training.plates import augment
from vision.training.plates.rec_data import place_plate
from vision.training.plates.render import PlateRenderer, PlateSpec, random_spec


def frames(n: int, seed: int,
           size: tuple[int, int] = (1280, 720)) -> list[tuple[np.ndarray, list[tuple[PlateSpec, float]]]]:
    """n frames of `size` (w, h), each with its plates: (spec, width in pixels)."""
    rng = random.Random(seed)
    fw, fh = size
    renderer, bgs = PlateRenderer(), augment.load_backgrounds(60, rng, max_side=max(size))
    out = []
    for _ in range(n):
        frame = augment.background(bgs, fw, fh, rng)
        plates, centres = [], []
        for _ in range(rng.choice([1, 1, 2])):
            spec = random_spec(rng)
            plate = augment.dirty(renderer.render(spec, rng, scale=rng.uniform(0.35, 0.6)), rng)
            ph, pw = plate.shape[:2]
            w = math.exp(rng.uniform(math.log(60), math.log(380)))
            centre = np.float32([rng.uniform(w, fw - w), rng.uniform(w / 2, fh - w / 2)])
            if any(np.abs(centre - c).max() < w for c in centres):
                continue
            place_plate(frame, plate, augment.random_quad(w, w * ph / pw, rng, tilt=1.2) + centre, rng)
            plates.append((spec, w))
            centres.append(centre)
        out.append((augment.degrade(augment.lighting(frame, rng), rng), plates))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--models", type=Path, help="a folder with the model files (default: the shipped ones)")
    ap.add_argument("--monochrome", action="store_true", help="grey frames, as a night camera gives them")
    ap.add_argument("--size", default="1280x720", help="frame size WxH (the plates are 60-380 px wide whatever it is)")
    ap.add_argument("--by-kind", action="store_true", help="also by colour and width, and the province misses")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    reader = PlateReader(a.models)
    hit = total = wrong = province = 0
    times = []
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    size = tuple(int(v) for v in a.size.lower().split("x"))
    for frame, plates in frames(a.n, a.seed, size):
        if a.monochrome:
            frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        t0 = time.perf_counter()
        got = [r.text for r in reader.read(frame)]
        times.append((time.perf_counter() - t0) * 1000)
        texts = [spec.text for spec, _ in plates]
        hit += sum(t in got for t in texts)
        total += len(texts)
        wrong += sum(g not in texts for g in got)
        for spec, w in plates:
            read = spec.text in got
            province += not read and any(g[0] != spec.text[0] and g[1:] == spec.text[1:] for g in got)
            size = "under 90 px" if w < 90 else "90-150 px" if w < 150 else "150 px and wider"
            for kind in (spec.color + (" double row" if spec.double_row else ""), size):
                kinds[kind][0] += read
                kinds[kind][1] += 1
    print(f"synthetic frames: {hit}/{total} = {100 * hit / total:.1f} % plates read exactly, {wrong} other reads, "
          f"ms per frame median {statistics.median(times):.1f}, p95 {np.percentile(times, 95):.1f}")
    if a.by_kind:
        print(", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(kinds.items())))
        print(f"misses: {total - hit}, of which the province alone {province}")

if __name__ == "__main__":
    main()
