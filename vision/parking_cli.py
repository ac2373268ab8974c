"""File-level occupancy for the command line: one JSON-ready dict per image (`edge parking detect`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import cv2

from vision.errors import VisionError
from vision.occupancy import Occupancy, OccupancyClassifier
from vision.plate_cli import error_text, load_image
from vision.spaces import SpaceMap
from vision.threshold import AdaptiveThreshold


def detect_files(paths: Iterable[str], spaces: SpaceMap, classifier: OccupancyClassifier, *,
                 adapt: bool = True) -> Iterator[dict]:
    """`{"image", "spaces": [{"id", "occupied", "confidence"}], "free", "ms"}` per image (the contract of
    `edge parking detect --json`), or `{"image", "error"}` for a file that cannot be read or does not fit the map
    (another size than the map's `image`, or a space outside the picture); the others go on.

    The images are one camera's (one space map), so with `adapt` the camera's occupied/free cut is learnt from all
    of them first (vision/threshold.py; it needs 120 space-frames, e.g. 3 frames of 40 spaces, and both states),
    as the gateway learns it from its camera's frames; `ms` is still the classification of that one image."""
    looked: list[tuple[str, list[Occupancy] | str, float]] = []
    threshold = AdaptiveThreshold(capacity=10**6, every_s=0.0)
    for path in paths:
        try:
            image = load_image(path)
            spaces.check_frame(image.shape[1], image.shape[0])
            t0 = time.perf_counter()
            result = classifier.classify(image, spaces.spaces)
        except (VisionError, cv2.error) as e:  # one picture OpenCV cannot handle must not stop the others
            looked.append((str(path), error_text(e), 0.0))
            continue
        looked.append((str(path), result, (time.perf_counter() - t0) * 1000))
        if adapt:
            threshold.observe([r.p_occupied for r in result], 0.0)
    for path, result, ms in looked:
        if isinstance(result, str):
            yield {"image": path, "error": result}
            continue
        judged = [Occupancy.of(r.space, q) for r, q in zip(result, threshold.adjust([r.p_occupied for r in result]),
                                                            strict=True)]
        yield {
            "image": path,
            "spaces": [{"id": j.space, "occupied": j.occupied, "confidence": j.confidence} for j in judged],
            "free": sum(not j.occupied for j in judged),
            "ms": round(ms, 1),
        }
