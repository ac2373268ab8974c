"""Whether each space of a frame is occupied: a small CNN (vision/models/parking_occ.onnx, trained by
vision/training/parking) run with cv2.dnn on every space of a frame (vision/nets.py: a few spaces at a time).

Each space's polygon, grown by MARGIN about its centre, is cut out of the frame with a perspective warp to a
PATCH x PATCH square (its long side upright), normalised per patch (mean 0, spread damped: the same space reads
alike in sun and in shade) with its edges (gradient magnitude) as a fourth channel, and the network answers
P(occupied), averaged over the patch and the patch turned half round. `confidence` is the probability of the
answer given (0.5 .. 1).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision import nets
from vision.errors import BadImageError, ImageSizeError, ModelError
from vision.spaces import Point, Space, outside_problem

MODEL = Path(__file__).with_name("models") / "parking_occ.onnx"
PATCH = 40  # pixels a side the network sees
MARGIN = 1.2  # a little of the surroundings: a car seen obliquely is larger than its box (measured, README)
EDGES = True  # the network takes the patch's edges as a fourth channel
MIN_CONTRAST = 2.0  # grey levels of spread in a 160-px-wide picture: less is a blank picture (blank_problem)


@dataclass(frozen=True)
class Occupancy:
    space: str
    occupied: bool
    confidence: float  # of the answer given, 0.5 .. 1
    p_occupied: float

    @classmethod
    def of(cls, space: str, p_occupied: float) -> Occupancy:
        """The answer for a space from its P(occupied), judged against 0.5."""
        return cls(space, bool(p_occupied >= 0.5), round(float(max(p_occupied, 1 - p_occupied)), 3),
                   float(p_occupied))


def blank_problem(frame: np.ndarray) -> str | None:
    """Why a frame shows nothing to read, or None: black, white or one grey (a covered or dead camera, the lights
    out at night) or only sensor noise. The network calls every space of such a picture free, and surely (measured
    on the UFPR05 frame: 0.93), so it is refused rather than read. The spread is taken in a small picture, where
    noise averages out but the car park's lines and cars do not (real frames 20-42, one tenth of the light 2.9)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    width = min(160, grey.shape[1])
    height = max(1, round(grey.shape[0] * width / grey.shape[1]))
    small = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
    spread = float(small.std())
    if spread >= MIN_CONTRAST:
        return None
    return (f"the picture is blank (mean grey {float(small.mean()):.0f}, contrast {spread:.1f}): a dark, covered or "
            "blinded camera; no space is read from it")


def order_quad(points: Sequence[Point]) -> np.ndarray:
    """Four corners of the space, clockwise from the one nearest the top left: any polygon becomes the smallest
    rotated rectangle around it unless it has exactly four points."""
    pts = np.asarray(points, np.float32)
    if len(pts) != 4:
        pts = cv2.boxPoints(cv2.minAreaRect(pts)).astype(np.float32)
    c = pts.mean(axis=0)
    pts = pts[np.argsort(np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0]))]  # clockwise in image coordinates
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0)


def cut_patch(frame: np.ndarray, points: Sequence[Point], size: int = PATCH, margin: float = MARGIN) -> np.ndarray:
    """The space warped to a size x size BGR square (its long side upright, so every space looks alike)."""
    quad = order_quad(points)
    c = quad.mean(axis=0)
    quad = c + (quad - c) * margin
    side = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    if side[0] + side[2] > side[1] + side[3]:  # wider than long: start one corner on, so the long side is upright
        quad = np.roll(quad, -1, axis=0)
    dst = np.float32([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]])
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(frame, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def normalise(patches: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x 3 x H x W float32, each patch to mean 0, its spread damped but kept: dividing by
    the spread alone would blow a stain on plain asphalt up into the contrast of a car (measured: many more free
    spaces called occupied on a new camera)."""
    x = patches.astype(np.float32) / 255.0
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    return np.ascontiguousarray(((x - mean) / (std + 0.15)).transpose(0, 3, 1, 2))


def edges(patches: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x 1 x H x W float32: the grey patch's gradient magnitude (Sobel), not normalised
    per patch, so that it keeps the absolute contrast that makes edge density a fair judge on a new camera."""
    out = np.empty((len(patches), 1, *patches.shape[1:3]), np.float32)
    for i, p in enumerate(patches):
        g = cv2.cvtColor(p, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        out[i, 0] = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    return out - 0.2  # about -0.2 .. 1.5 on asphalt and cars


def inputs(patches: np.ndarray, edge_channel: bool = False) -> np.ndarray:
    """What the network sees: the normalised colour patch, and (models with four input channels) its edges."""
    x = normalise(patches)
    return np.ascontiguousarray(np.concatenate([x, edges(patches)], axis=1)) if edge_channel else x


class OccupancyClassifier:
    """The packaged network; `classify(frame, spaces)` answers for every space of a frame."""

    def __init__(self, model: Path = MODEL) -> None:
        if not model.is_file():
            raise ModelError(f"parking model {model} is missing (made by vision/training/parking/train.py)")
        try:
            self._net = cv2.dnn.readNetFromONNX(str(model))
        except cv2.error as e:
            raise ModelError(f"cannot load parking model {model}: {e}") from e
        self._lock = threading.Lock()  # one network, several cameras' threads

    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """P(occupied) for N x PATCH x PATCH x 3 uint8 patches: the mean over each patch and the patch turned
        half round (test-time augmentation, measured in vision/training/parking/README.md)."""
        n = len(patches)
        if n == 0:
            return np.zeros(0, np.float32)
        views = np.concatenate([patches, patches[:, ::-1, ::-1]])
        with self._lock:
            logits = nets.forward(self._net, inputs(views, EDGES), ["logits"])[0].reshape(len(views), -1)
        if logits.shape[1] == 1:
            p = 1 / (1 + np.exp(-logits[:, 0]))
        else:
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            p = e[:, 1] / e.sum(axis=1)
        return p.reshape(-1, n).mean(axis=0).astype(np.float32)

    def classify(self, frame: np.ndarray, spaces: Sequence[Space]) -> list[Occupancy]:
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise BadImageError("frame is not a BGR picture")
        outside = outside_problem(spaces, frame.shape[1], frame.shape[0])
        if outside:  # cut_patch would fill it with the edge's pixels: "free", confidently
            raise ImageSizeError(outside)
        blank = blank_problem(frame)
        if blank:
            raise BadImageError(blank)
        patches = np.stack([cut_patch(frame, s.polygon) for s in spaces]) if spaces else np.zeros((0,))
        p = self.probabilities(patches)
        return [Occupancy.of(s.id, q) for s, q in zip(spaces, p, strict=True)]
