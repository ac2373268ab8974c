"""File-level plate reading for the command line: one JSON-ready dict per image file."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from vision.errors import BadImageError, VisionError
from vision.images import size_problem
from vision.plates import PlateReader


def load_image(path: str | Path) -> np.ndarray:
    """The image file as BGR, or BadImageError naming the file and what is wrong (also for a format whose size
    cannot be read before decoding, or a picture of more than MAX_IMAGE_PIXELS: vision/images.py)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BadImageError(f"cannot read {str(path)!r}: {e.strerror or e}") from e
    problem = size_problem(data) if data else "the file is empty"
    if problem:  # before decoding: a small file can claim a picture of gigabytes
        raise BadImageError(f"cannot decode {str(path)!r}: {problem}")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:  # OpenCV's own checks of the header: an error line, not a traceback
        raise BadImageError(f"cannot decode {str(path)!r}: OpenCV refused it ({e.err})") from e
    if image is None:
        raise BadImageError(f"cannot decode {str(path)!r}: empty, corrupt or not an image")
    return image


def error_text(e: VisionError | cv2.error) -> str:
    """One line for the `error` of an image: ours say what is wrong; OpenCV's carry a source path and newline."""
    return f"OpenCV failed: {e.err}" if isinstance(e, cv2.error) else str(e)


def read_files(paths: Iterable[str], reader: PlateReader | None = None) -> Iterator[dict]:
    """`{"image", "plates": [{"text", "color", "confidence", "box"}], "ms"}` per image (the contract
    of `edge plates read --json`), or `{"image", "error"}` for a file that cannot be read.

    The other files are still read after an error.
    """
    reader = reader or PlateReader()
    for path in paths:
        try:
            image = load_image(path)
        except VisionError as e:
            yield {"image": str(path), "error": str(e)}
            continue
        t0 = time.perf_counter()
        try:
            plates = reader.read(image)
        except (VisionError, cv2.error) as e:  # one picture OpenCV cannot handle must not stop the others
            yield {"image": str(path), "error": error_text(e)}
            continue
        yield {
            "image": str(path),
            "plates": [{"text": p.text, "color": p.color, "confidence": p.confidence, "box": list(p.box)}
                       for p in plates],
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
