"""The real labelled spaces in ../shared/datasets/parking, by camera, as BASE x BASE patches (training and bench).

- `patches/`: 8,100 single-space crops (labels.csv: CNRPark camera A, PKLot PUCPR and UFPR04), resized.
- `pklot_ufpr05/` (15 frames, 40 spaces) and `cnrpark_ext_camera3/` (23 frames, 21 spaces): every space cut out of
  its frame as the gateway cuts it (vision.occupancy.cut_patch), from the PKLot-format XML beside the frame.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.occupancy import MARGIN, cut_patch
from vision.spaces import Point, read_pklot_xml

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "parking"
BASE = 48  # stored patch size; augmentation cuts the network's PATCH from it
FRAME_CAMERAS = ("UFPR05", "CNR-EXT3")
PATCH_CAMERAS = ("CNRPark_A", "PUCPR", "UFPR04")


@dataclass(frozen=True)
class LabelledFrame:
    camera: str
    image: Path
    spaces: list[tuple[str, list[Point], bool]]


def frames(camera: str, root: Path = SHARED) -> list[LabelledFrame]:
    """The labelled frames of UFPR05 or CNR-EXT3, in a fixed order."""
    if camera == "UFPR05":
        images = [p for p in sorted((root / "pklot_ufpr05").glob("sequence*/frames/*")) if p.suffix in (".jpg", ".png")]
        pairs = [(img, img.parent.parent / "bounding_boxes" / f"{img.stem}.xml") for img in images]
    elif camera == "CNR-EXT3":
        pairs = [(img, img.with_suffix(".xml")) for img in sorted((root / "cnrpark_ext_camera3").glob("*.jpg"))]
    else:
        raise ValueError(f"no frames of camera {camera!r}")
    return [LabelledFrame(camera, img, [(sid, pts, bool(occ)) for sid, pts, occ in read_pklot_xml(xml)])
            for img, xml in pairs]


def frame_patches(camera: str, *, jitter: int = 0, seed: int = 0, margin: float = MARGIN,
                  root: Path = SHARED) -> tuple[np.ndarray, np.ndarray]:
    """(N x BASE x BASE x 3 patches, N labels) of every space in the camera's frames, cut with `margin` as the
    gateway cuts them; `jitter` more copies of each with the corners moved (up to 8 % of the space) and the margin
    up to 35 % larger, as an installer's polygons would be."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for f in frames(camera, root):
        image = cv2.imread(str(f.image), cv2.IMREAD_COLOR)
        for _, pts, occ in f.spaces:
            xs.append(cut_patch(image, pts, BASE, margin))
            ys.append(occ)
            q = np.asarray(pts, np.float32)
            span = np.linalg.norm(q.max(0) - q.min(0))
            for _ in range(jitter):
                moved = q + rng.uniform(-0.08, 0.08, q.shape) * span
                m = margin * float(rng.uniform(1.0, 1.35))
                xs.append(cut_patch(image, [tuple(p) for p in moved], BASE, margin=m))
                ys.append(occ)
    return np.stack(xs), np.asarray(ys, np.int64)


def shared_patches(cameras: tuple[str, ...] = PATCH_CAMERAS, root: Path = SHARED) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
    """(patches, labels, camera names) of the labelled single-space crops of the given cameras."""
    xs, ys, cams = [], [], []
    with open(root / "patches" / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["camera"] not in cameras:
                continue
            image = cv2.imread(str(root / "patches" / row["filename"]), cv2.IMREAD_COLOR)
            if image is None:
                continue
            xs.append(cv2.resize(image, (BASE, BASE), interpolation=cv2.INTER_AREA))
            ys.append(int(row["occupied"]))
            cams.append(row["camera"])
    return np.stack(xs), np.asarray(ys, np.int64), np.asarray(cams)
