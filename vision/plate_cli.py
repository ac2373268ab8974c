"""File-level plate reading for the command line: one JSON-ready dict per image file."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import cv2

from vision.errors import VisionError
from vision.plates import PlateReader


def read_files(paths: Iterable[str], reader: PlateReader | None = None) -> Iterator[dict]:
    """`{"image", "plates": [{"text", "color", "confidence", "box"}], "ms"}` per image (the contract
    of `edge plates read --json`), or `{"image", "error"}` for a file that cannot be read.

    The other files are still read after an error.
    """
    reader = reader or PlateReader()
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            yield {
                "image": str(path),
                "error": f"cannot read image {str(path)!r}: missing, unreadable or not an image",
            }
            continue
        t0 = time.perf_counter()
        try:
            plates = reader.read(image)
        except VisionError as e:
            yield {"image": str(path), "error": str(e)}
            continue
        yield {
            "image": str(path),
            "plates": [{"text": p.text, "color": p.color, "confidence": p.confidence, "box": list(p.box)}
                       for p in plates],
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
