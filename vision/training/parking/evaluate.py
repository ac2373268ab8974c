"""Measure a fold model on the camera it did not see, with or without test-time augmentation (trials only; the
bench, tests/bench/parking.py, measures what ships).

    python -m vision.training.parking.evaluate --fold ufpr05 --model /tmp/ufpr05.onnx [--edges 1] [--tta flips]

Prints accuracy, false-occupied, false-free and ROC AUC for each test-time augmentation asked for.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vision.occupancy import EDGES, MARGIN, PATCH, cut_patch, inputs
from vision.training.parking import data

UNSEEN = {"ufpr05": ("UFPR05",), "cnr3": ("CNR-EXT3",), "cnra": ("CNRPark_A",), "pklot": ("PUCPR", "UFPR04")}

# each: the views of one patch whose P(occupied) are averaged
TTA: dict[str, list[Callable[[np.ndarray], np.ndarray]]] = {
    "none": [lambda p: p],
    "flips": [lambda p: p, lambda p: p[:, ::-1], lambda p: p[::-1], lambda p: p[::-1, ::-1]],
    "half-turn": [lambda p: p, lambda p: p[::-1, ::-1]],
    "mirror": [lambda p: p, lambda p: p[:, ::-1]],
    "dihedral": [lambda p, k=k, f=f: np.rot90(p[:, ::-1] if f else p, k) for k in range(4) for f in (0, 1)],
}


def unseen_patches(fold: str, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """PATCH x PATCH patches and labels of the fold's unseen camera(s), cut as the gateway cuts them (frames) or
    resized (the labelled crops)."""
    cams = UNSEEN[fold]
    if cams[0] in data.FRAME_CAMERAS:
        xs, ys = [], []
        for f in data.frames(cams[0]):
            image = cv2.imread(str(f.image), cv2.IMREAD_COLOR)
            xs += [cut_patch(image, pts, PATCH, margin) for _, pts, _ in f.spaces]
            ys += [occ for _, _, occ in f.spaces]
        return np.stack(xs), np.asarray(ys, np.int64)
    x, y, _ = data.shared_patches(cams)
    return np.stack([cv2.resize(p, (PATCH, PATCH), interpolation=cv2.INTER_AREA) for p in x]), y


def p_occupied(net: cv2.dnn.Net, patches: np.ndarray, edge_channel: bool) -> np.ndarray:
    out = []
    for i in range(0, len(patches), 512):
        net.setInput(inputs(np.ascontiguousarray(patches[i:i + 512]), edge_channel))
        logits = net.forward().reshape(-1, 2)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        out.append(e[:, 1] / e.sum(axis=1))
    return np.concatenate(out)


def auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", choices=sorted(UNSEEN), required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--edges", type=int, default=int(EDGES))
    ap.add_argument("--tta", nargs="+", choices=sorted(TTA), default=["none"])
    ap.add_argument("--margins", type=float, nargs="+", default=[MARGIN], help="averaged over (frames only)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(str(args.model))
    for tta in args.tta:
        probs = []
        for m in args.margins:
            x, y = unseen_patches(args.fold, m)
            probs += [p_occupied(net, np.stack([np.ascontiguousarray(v(p)) for p in x]), bool(args.edges))
                      for v in TTA[tta]]
        p = np.mean(probs, axis=0)
        pred = (p >= 0.5).astype(int)
        print(f"{args.model.name:<22}{args.fold:<8}tta={tta:<10}margins={args.margins} acc {(pred == y).mean():.2%}"
              f" false-occ {int(((pred == 1) & (y == 0)).sum())} false-free {int(((pred == 0) & (y == 1)).sum())}"
              f" auc {auc(p, y):.4f}", flush=True)


if __name__ == "__main__":
    main()
