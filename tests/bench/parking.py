"""Parking benchmark: per-camera accuracy of the occupancy classifier on real photos, always also on cameras the
model never saw, beside a baseline, and the milliseconds per frame on one core.

Cameras (../shared/datasets/parking): PKLot UFPR05 (15 frames x 40 spaces) and CNRPark+EXT camera 3 (23 frames
x 21 spaces) are run as the gateway runs them (cut every space of the frame, one batched forward pass); the 8,100
labelled patches are reported per camera (CNRPark A, PKLot PUCPR, PKLot UFPR04).

For every camera three rows:
- `unseen`: the leave-one-camera-out model that was trained without that camera (vision/training/parking/folds/);
  this is the figure that says how the gateway does over a car park nobody labelled;
- `shipped`: vision/models/parking_occ.onnx, which was trained on every camera here (so: seen);
- `unseen+cut`, `shipped+cut`: the same with the camera's occupied/free cut learnt from its own unlabelled frames
  (vision/threshold.py), from all of them as `edge parking detect` does with every frame given, and in brackets
  online from a cold start (each frame judged with what it and the frames before it taught, no cut before 200
  space-frames) as the gateway starts on a new camera;
- `baseline`: edge density (share of Canny edge pixels in the polygon as drawn) with a threshold tuned on the PUCPR
  patches (seen there, unseen elsewhere), the "simple method" the issue compares against.

Accuracy is the share of spaces right; false-occupied: a free space called occupied; false-free: the reverse.
ms: median wall time per frame on one core (cv2.setNumThreads(1)), cutting and classifying every space.

    .venv/bin/python tests/bench/parking.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision.occupancy import MODEL, PATCH, OccupancyClassifier, cut_patch  # noqa: E402
from vision.spaces import Space  # noqa: E402
from vision.threshold import AdaptiveThreshold  # noqa: E402
from vision.training.parking import data  # noqa: E402

FOLDS = Path(__file__).resolve().parents[2] / "vision" / "training" / "parking" / "folds"
UNSEEN_FOLD = {"UFPR05": "ufpr05", "CNR-EXT3": "cnr3", "CNRPark_A": "cnra", "PUCPR": "pklot", "UFPR04": "pklot"}


def edge_density(patches: np.ndarray) -> np.ndarray:
    """Share of edge pixels in the middle of each patch (the baseline's one feature)."""
    out = np.empty(len(patches), np.float32)
    for i, p in enumerate(patches):
        g = cv2.cvtColor(p, cv2.COLOR_BGR2GRAY)
        h, w = g.shape
        g = g[h // 8: h - h // 8, w // 8: w - w // 8]
        out[i] = (cv2.Canny(cv2.GaussianBlur(g, (3, 3), 0), 50, 150) > 0).mean()
    return out


def tune_threshold(feature: np.ndarray, labels: np.ndarray) -> float:
    candidates = np.unique(np.round(feature, 4))
    accs = [((feature >= t) == labels).mean() for t in candidates]
    return float(candidates[int(np.argmax(accs))])


def scores(pred: np.ndarray, labels: np.ndarray) -> dict:
    return {"n": len(labels), "acc": float((pred == labels).mean()),
            "false_occ": int(((pred == 1) & (labels == 0)).sum()),
            "false_free": int(((pred == 0) & (labels == 1)).sum())}


def learnt_cut(frame_p: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Predictions with the cut learnt from every frame at once, and online (frame by frame from a cold start)."""
    whole, online = AdaptiveThreshold(capacity=10**6, every_s=0), AdaptiveThreshold(capacity=10**6, every_s=0)
    seen = []
    for p in frame_p:
        whole.observe(p, 0)
        online.observe(p, 0)
        seen.append(online.adjust(p) >= 0.5)
    return np.concatenate([whole.adjust(p) >= 0.5 for p in frame_p]), np.concatenate(seen)


def frame_camera(camera: str, classifiers: dict[str, OccupancyClassifier], baseline_t: float) -> dict[str, dict]:
    frames = data.frames(camera)
    out: dict[str, dict] = {}
    for name, clf in classifiers.items():
        frame_p, labels, ms = [], [], []
        for f in frames:
            image = cv2.imread(str(f.image), cv2.IMREAD_COLOR)
            spaces = [Space(sid, "A", tuple(pts)) for sid, pts, _ in f.spaces]
            t0 = time.perf_counter()
            result = clf.classify(image, spaces)
            ms.append((time.perf_counter() - t0) * 1000)
            frame_p.append(np.asarray([r.p_occupied for r in result]))
            labels += [occ for _, _, occ in f.spaces]
        y = np.asarray(labels, int)
        shape = {"ms": statistics.median(ms), "spaces": len(frames[0].spaces), "frames": len(frames)}
        out[name] = {**scores((np.concatenate(frame_p) >= 0.5).astype(int), y), **shape}
        whole, online = learnt_cut(frame_p)
        out[f"{name}+cut"] = {**scores(whole.astype(int), y), **shape,
                              "online": scores(online.astype(int), y)["acc"]}
    preds, labels, ms = [], [], []
    for f in frames:
        image = cv2.imread(str(f.image), cv2.IMREAD_COLOR)
        t0 = time.perf_counter()
        patches = np.stack([cut_patch(image, pts, margin=1.0) for _, pts, _ in f.spaces])  # as drawn
        preds += list(edge_density(patches) >= baseline_t)
        ms.append((time.perf_counter() - t0) * 1000)
        labels += [occ for _, _, occ in f.spaces]
    out["baseline"] = {**scores(np.asarray(preds, int), np.asarray(labels, int)), "ms": statistics.median(ms),
                       "spaces": len(frames[0].spaces), "frames": len(frames)}
    return out


def main() -> int:
    if not data.SHARED.is_dir():
        print(f"SKIP: {data.SHARED} is absent (the real car-park photos live in ../shared, not in the package)")
        return 0
    cv2.setNumThreads(1)
    shipped = OccupancyClassifier(MODEL)
    folds = {f: OccupancyClassifier(FOLDS / f"{f}.onnx") for f in sorted(set(UNSEEN_FOLD.values()))
             if (FOLDS / f"{f}.onnx").is_file()}
    px, py, pcams = data.shared_patches()
    small = np.stack([cv2.resize(p, (PATCH, PATCH), interpolation=cv2.INTER_AREA) for p in px])
    feat = edge_density(px)
    pucpr = pcams == "PUCPR"
    t = tune_threshold(feat[pucpr], py[pucpr])
    print(f"baseline: edge density >= {t:.4f} is occupied (tuned on the PUCPR patches)")
    print(f"{'camera':<11}{'method':<12}{'seen?':<8}{'spaces':>7}{'accuracy':>10}{'false-occ':>10}{'false-free':>11}"
          f"{'ms/frame':>10}")
    for camera in data.FRAME_CAMERAS:
        rows = frame_camera(camera, {"unseen": folds[UNSEEN_FOLD[camera]], "shipped": shipped}
                            if UNSEEN_FOLD[camera] in folds else {"shipped": shipped}, t)
        for method, r in rows.items():
            seen = "seen" if method.startswith("shipped") else "unseen"
            online = f"; online {r['online']:.2%}" if "online" in r else ""
            print(f"{camera:<11}{method:<12}{seen:<8}{r['n']:>7}{r['acc']:>10.2%}{r['false_occ']:>10}"
                  f"{r['false_free']:>11}{r['ms']:>10.1f}   ({r['frames']} frames x {r['spaces']} spaces{online})")
    for camera in data.PATCH_CAMERAS:
        m = pcams == camera
        rows = {}
        models = {"unseen": folds[UNSEEN_FOLD[camera]]} if UNSEEN_FOLD[camera] in folds else {}
        for method, clf in {**models, "shipped": shipped}.items():
            p = clf.probabilities(small[m])
            rows[method] = p >= 0.5
            rows[f"{method}+cut"] = learnt_cut([p])[0]  # one camera's patches from many frames: learnt at once
        rows["baseline"] = feat[m] >= t
        for method, pred in rows.items():
            r = scores(pred.astype(int), py[m])
            seen = "seen" if method.startswith("shipped") or (method == "baseline" and camera == "PUCPR") else "unseen"
            print(f"{camera:<11}{method:<12}{seen:<8}{r['n']:>7}{r['acc']:>10.2%}{r['false_occ']:>10}"
                  f"{r['false_free']:>11}{'':>10}   (patches)")
    n40 = 40
    image = cv2.imread(str(data.frames("UFPR05")[0].image), cv2.IMREAD_COLOR)
    spaces = [Space(sid, "A", tuple(pts)) for sid, pts, _ in data.frames("UFPR05")[0].spaces][:n40]
    ms = []
    for _ in range(30):
        t0 = time.perf_counter()
        shipped.classify(image, spaces)
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"shipped model, {len(spaces)} spaces of a 1280x720 frame, one core: median {statistics.median(ms):.1f} ms "
          f"(cut + classify; {MODEL.stat().st_size // 1024} KB model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
