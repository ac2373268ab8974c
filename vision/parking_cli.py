"""File-level occupancy for the command line: one JSON-ready dict per image (`edge parking detect`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from vision.errors import VisionError
from vision.occupancy import OccupancyClassifier
from vision.plate_cli import load_image
from vision.spaces import SpaceMap


def detect_files(paths: Iterable[str], spaces: SpaceMap, classifier: OccupancyClassifier) -> Iterator[dict]:
    """`{"image", "spaces": [{"id", "occupied", "confidence"}], "free", "ms"}` per image (the contract of
    `edge parking detect --json`), or `{"image", "error"}` for a file that cannot be read; the others go on."""
    for path in paths:
        try:
            image = load_image(path)
            t0 = time.perf_counter()
            result = classifier.classify(image, spaces.spaces)
        except VisionError as e:
            yield {"image": str(path), "error": str(e)}
            continue
        yield {
            "image": str(path),
            "spaces": [{"id": r.space, "occupied": r.occupied, "confidence": r.confidence} for r in result],
            "free": sum(not r.occupied for r in result),
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
