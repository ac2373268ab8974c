"""Chinese licence-plate recognition on the CPU: detect, rectify, read.

Two small ONNX models ship in `vision/models/` (made by `vision/training/plates/`):
- `plate_det.onnx` paints plate pixels at 1/4 resolution on the photo scaled to a 512 px long side;
  each painted region becomes a quad (four corners, so tilted and sheared plates are straightened).
- `plate_rec.onnx` reads a 128x32 rectified plate with CTC over 32 columns and names its colour.
  Double-row plates (lorries, buses) are cut into their two rows and laid side by side first.
Both run in `cv2.dnn`: it reads these models and keeps the install to OpenCV alone (onnxruntime
was not needed to meet the time budget, see tests/bench/plates.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from vision.errors import BadImageError, ModelError
from vision.plate_geometry import (
    DOUBLE_ROW_ASPECT,
    ctc_greedy,
    expand_quad,
    order_quad,
    quad_size,
    rectify,
)

COLORS = ("blue", "yellow", "green", "white", "black")
DET_SIDE = 512  # long side of the detector's input
MIN_AREA = 24.0  # smallest painted region (input pixels) worth reading
_P = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_PATTERN = re.compile(
    rf"^(?:[{_P}][A-Z][A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9警学挂港澳领]"  # blue, yellow, white, black
    rf"|[{_P}][A-Z][A-HJ-NP-Z0-9]{{6}}"  # green new-energy
    r"|使[0-9]{6})$"  # embassy
)


@dataclass(frozen=True)
class PlateRead:
    """One plate in a photo: text, colour, confidence (0-1) and box (x, y, w, h) in image pixels."""

    text: str
    color: str
    confidence: float
    box: tuple[int, int, int, int]


def check_image(image: object) -> np.ndarray:
    """The image as a 3-channel BGR uint8 array, or BadImageError saying what is wrong with it."""
    if not isinstance(image, np.ndarray):
        raise BadImageError(f"expected a numpy image, got {type(image).__name__}")
    if image.size == 0 or image.ndim not in (2, 3) or min(image.shape[:2]) < 8:
        raise BadImageError(f"empty or too small image (shape {image.shape})")
    if image.dtype != np.uint8:
        raise BadImageError(f"expected 8-bit pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] != 3:
        raise BadImageError(f"expected 1, 3 or 4 channels, got {image.shape[2]}")
    return image


def quads_from_mask(mask: np.ndarray, sx: float, sy: float) -> list[np.ndarray]:
    """Ordered quads of the painted regions in the detector's 1/4-resolution mask, in image pixels
    (sx, sy: detector input pixels per image pixel)."""
    up = cv2.resize(mask, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    binary = (up > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for c in contours:
        if cv2.contourArea(c) < MIN_AREA:
            continue
        hull = cv2.convexHull(c)
        quad = None
        peri = cv2.arcLength(hull, True)
        for eps in (0.02, 0.04, 0.06, 0.08):
            approx = cv2.approxPolyDP(hull, eps * peri, True)
            if len(approx) == 4:
                quad = approx.reshape(4, 2).astype(np.float32)
                break
        if quad is None:
            quad = cv2.boxPoints(cv2.minAreaRect(hull))
        quads.append(order_quad((quad + 0.5) / np.float32([sx, sy])))
    return quads


def box_of(quad: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


class PlateReader:
    """Loads the shipped models once; `read(image)` returns the plates in a BGR photo."""

    def __init__(self, model_dir: Path | None = None, min_confidence: float = 0.3) -> None:
        base = Path(model_dir) if model_dir else Path(str(resources.files("vision") / "models"))
        try:
            self._det = cv2.dnn.readNetFromONNX(str(base / "plate_det.onnx"))
            self._rec = cv2.dnn.readNetFromONNX(str(base / "plate_rec.onnx"))
            self._chars = (base / "plate_chars.txt").read_text(encoding="utf-8").strip()
        except (cv2.error, OSError) as e:
            raise ModelError(f"cannot load plate models from {base}: {e}") from e
        self.min_confidence = min_confidence

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Plate quads (ordered corners, image pixels)."""
        h, w = image.shape[:2]
        scale = DET_SIDE / max(h, w)
        sw, sh = max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32)
        blob = cv2.dnn.blobFromImage(image, 1 / 255.0, (sw, sh))
        self._det.setInput(blob)
        mask = self._det.forward()[0, 0]
        return quads_from_mask(mask, sw / w, sh / h)

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float, str]]:
        """Text, confidence and colour of each rectified 128x32 crop."""
        blob = cv2.dnn.blobFromImages(crops, 1 / 255.0)
        self._rec.setInput(blob)
        probs, colors = self._rec.forward(["probs", "color"])
        out = []
        for p, c in zip(probs, colors, strict=True):
            text, conf = ctc_greedy(p, self._chars)
            out.append((text, conf, COLORS[int(np.argmax(c))]))
        return out

    def read_quad(self, image: np.ndarray, quad: np.ndarray, margin: bool = True) -> PlateRead | None:
        """The best valid read of one plate quad, trying both layouts when the shape is ambiguous."""
        w, h = quad_size(quad)
        aspect = w / max(h, 1e-3)
        layouts = [aspect < DOUBLE_ROW_ASPECT]
        if 1.8 < aspect < 2.9:
            layouts.append(not layouts[0])
        cut = expand_quad(quad, 0.02, 0.06) if margin else quad
        best = None
        for text, conf, color in self.recognise([rectify(image, cut, double) for double in layouts]):
            if PLATE_PATTERN.match(text) and (best is None or conf > best[1]):
                best = (text, conf, color)
        if best is None or best[1] < self.min_confidence:
            return None
        return PlateRead(best[0], best[2], round(best[1], 3), box_of(quad, image.shape))

    def read_plate(self, plate_bgr: np.ndarray) -> PlateRead | None:
        """Read an image that is already one cut-out, straightened plate (e.g. 94x24 crops)."""
        image = check_image(plate_bgr)
        h, w = image.shape[:2]
        return self.read_quad(image, np.float32([[0, 0], [w, 0], [w, h], [0, h]]), margin=False)

    def read(self, image_bgr: np.ndarray) -> list[PlateRead]:
        """All plates read in a BGR photo, most confident first."""
        image = check_image(image_bgr)
        reads = [r for q in self.detect(image) if (r := self.read_quad(image, q)) is not None]
        return sorted(reads, key=lambda r: -r.confidence)
