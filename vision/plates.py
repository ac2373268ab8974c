"""Chinese licence-plate recognition on the CPU: detect, rectify, read.

Five small ONNX models ship in `vision/models/` (made by `vision/training/plates/`):
- `plate_det.onnx` paints plate pixels at 1/4 resolution on the photo scaled to a 576 px long side;
  each painted region becomes a quad (four corners, so tilted and sheared plates are straightened).
  A candidate not read confidently is looked at again: the detector runs on the area around it scaled
  so the plate is about ZOOM_WIDTH px wide, which gives small plates a finer outline (the whole plate
  rather than part of it, its shear, its last character) at a few ms per candidate.
- `plate_det_mono.onnx` is the same detector trained on monochrome pictures: it paints instead when the
  pixels have no colour (a gate camera at night under infrared light), where the colour one finds little.
- `plate_rec.onnx` reads a 96x24 rectified plate with CTC over 24 columns and names its colour.
  Double-row plates (lorries, buses) are cut into their two rows and laid side by side first.
  When the best CTC path is not a plate (mostly a character dropped), the best path that fits one of
  the plate layouts (province, letter, ...) is taken instead if it is nearly as likely.
- `plate_prov.onnx` names the province from the left third of the same cut; its scores are multiplied into
  the recogniser's province probabilities (`weigh_provinces`): the province was the recogniser's most
  frequent mistake.
- `plate_char.onnx` names one character after the province from a window of the same cut, where the recogniser is
  unsure of it; its scores are multiplied in the same way (`weigh_character`): it is trained with every letter as
  often as every digit, where the real plates the recogniser learnt from show Q, U or M a few times in 500.
All run in `cv2.dnn`: it reads these models and keeps the install to OpenCV alone (onnxruntime
was not needed to meet the time budget, see tests/bench/plates.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from vision import nets
from vision.errors import BadImageError, ModelError
from vision.plate_geometry import (
    DOUBLE_ROW_ASPECT,
    REC_W,
    ctc_fits,
    ctc_greedy,
    ctc_runs,
    enclosing_quad,
    expand_quad,
    order_quad,
    quad_size,
    rectify,
)

COLORS = ("blue", "yellow", "green", "white", "black")
# Long side of the detector's input. 576 rather than 512: a plate 70 px wide in a 1920x1080 frame is 21 px in it,
# not 19, and found (scenes shrunk so: 12 -> 19 of 31 read); a 1280x720 frame takes about as long (README of the
# training).
DET_SIDE = 576
DETECTORS = {False: "plate_det.onnx", True: "plate_det_mono.onnx"}  # by whether the picture is monochrome
REFINE_WIDTH = 320  # widest area (px) refine_quad looks at; larger ones are shrunk to it
MIN_AREA = 24.0  # smallest painted region (input pixels) worth reading
SPLIT_LEVELS = (0.7, 0.85, 0.95)  # mask levels at which a region of no single plate's shape is looked into
SINGLE_ROW = (2.4, 7.0)  # length for height of a single-row plate's painted region, seen at an angle
MAX_FIT_COST = 3.0  # log-likelihood (nats) a read may lose to the best path to fit a plate layout
MAX_SIDE = 2560  # photos with a longer side (not a 4 MP gate camera's) are read at 1/2, 1/3 ... of their size
MAX_CANDIDATES = 10  # regions read per photo, largest first: bounds the time on busy scenes
ZOOM_WIDTH = 128  # plate width (px) in the detector's input when a candidate is looked at again
ZOOM_ROUNDS = 2  # at most this many closer looks per candidate
CONFIDENT = 0.9  # a read at least this confident is not looked at again
# A read less sure than CONFIDENT is read again from four more cuts, each with one end of the plate moved in or out
# by this share of its width, and the five answers averaged: one character's worth of stroke at the cut's edge
# (Q or 0, 1 or T) then decides less (measured on the holdout crops: 459 -> 466 of 504, vision/training/plates).
STEADY_SHIFT = 0.016
# A picture is monochrome when under MONO_SHARE of its pixels have two neighbouring colour channels more than
# MONO_LEVELS apart (0-255): a night camera's grey frames have none, also after JPEG; of the real scene photos in
# shared/ the greyest has 20 % (8 % when padded to 1280x720 with black). The share is kept under what one small
# blue plate is of a frame (60x20 px of 1280x720: 0.13 %), so a colour camera seeing a grey car on a grey lane
# keeps the colour detector (the simulated gate clip has such frames at 0.9-1.2 %).
MONO_LEVELS = 12
MONO_SHARE = 0.0005
# HSV ranges (OpenCV hue 0-180) of blue, yellow and green plates, loose enough for tinted photos
COLOUR_RANGES = [((90, 80, 40), (130, 255, 255)), ((12, 90, 90), (35, 255, 255)),
                 ((35, 35, 90), (85, 255, 255))]
_P = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_D = "0123456789"
# A new-energy plate's energy letter (GA 36-2018): D, then A B C E, electric; F, then G H J K, not only electric.
# A car's plate has it first with four digits last, a large vehicle's last after five digits.
_E = "DABCEFGHJK"
# What the province classifier names (the first character of every plate but a few black ones'), and how many
# columns of the recogniser's 96x24 cut it looks at: the left third, wherever a loose or tight cut put the province.
PROVINCES = _P + "使"
PROVINCE_LEFT = 32
# How much the recogniser's own province probabilities count beside the classifier's (their power), chosen on the
# synthetic frames (synth_scenes): 1 read 189 of 239 plates, 0.5 194, 0.25 193; 180 without the classifier.
REC_PROVINCE_POWER = 0.5
# The character classifier names a character after the province of a seven-character read (CHAR_CLASSES) from a
# CHAR_WINDOW px wide window of the recogniser's cut, centred CHAR_LAG px right of the first CTC column the
# recogniser emits it in: the recogniser reads early (per position, measured on the real train crops against the
# plate layout, vision/training/plates/train_char.py). It looks only where the recogniser is less sure than
# CHAR_GATE in every column of the character: on the real crops 5 % of the characters, the same reads as looking at
# all of them (crops and synthetic frames), at a twentieth of the cost (6 windows take about 3 ms).
CHAR_CLASSES = _D + _L
CHAR_WINDOW = 20
CHAR_LAG = np.float32([6.8, 10.5, 10.6, 10.7, 10.5, 10.5, 10.3])
CHAR_GATE = 0.99
# How much the recogniser's own probabilities count beside the classifier's, as for the provinces; chosen on the
# synthetic frames (synth_scenes --seed 777 / --seed 4242 --n 300): 1 read 195 / 296, 0.5 195 / 298, 0.25 195 / 299,
# 194 / 295 without the classifier; 0.5 as for the provinces, the three being within a plate of each other.
REC_CHAR_POWER = 0.5
# The layouts PLATE_PATTERN allows, one set of characters per position, for constrained decoding.
TEMPLATES = [
    [_P, _L] + [_L + _D] * 4 + [_L + _D + "警学挂港澳领"],
    [_P, _L, _E, _L + _D] + [_D] * 4,
    [_P, _L] + [_D] * 5 + [_E],
    ["使"] + [_D] * 6,
]
PLATE_PATTERN = re.compile(
    rf"^(?:[{_P}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9警学挂港澳领]"  # blue, yellow, white, black
    rf"|[{_P}][A-HJ-NP-Z](?:[{_E}][A-HJ-NP-Z0-9][0-9]{{4}}|[0-9]{{5}}[{_E}])"  # green new-energy
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


def is_monochrome(image: np.ndarray) -> bool:
    """True for grey pictures (every 4th pixel looked at): those get the monochrome detector."""
    px = image[::4, ::4].astype(np.int16)
    spread = np.maximum(np.abs(px[..., 0] - px[..., 1]), np.abs(px[..., 1] - px[..., 2]))
    return bool((spread > MONO_LEVELS).mean() < MONO_SHARE)


def to_grey(image: np.ndarray) -> np.ndarray:
    """A BGR picture made exactly grey, still in three channels (what the monochrome detector saw in training)."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def grey_colour(text: str, crop: np.ndarray, double: bool) -> str:
    """A plate's colour where the picture has none: from its layout, else from which is lighter. Blue plates
    have light characters on a darker ground, yellow ones dark on light (of the 1004 real crops in grey, 945 of
    965 blue ones light-on-dark); the colour head, trained on colour, calls nearly all grey plates black."""
    if len(text) == 8:
        return "green"
    if text.endswith("警"):
        return "white"
    if text.startswith("使") or text[-1] in "港澳领":
        return "black"
    if double or text[-1] in "学挂":
        return "yellow"
    inner = crop[4:-4, 4:-4].mean(axis=2)  # inside the plate's rim; the characters are the minority of pixels
    return "blue" if inner.mean() > np.median(inner) else "yellow"


def weigh_provinces(probs: np.ndarray, provinces: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The recogniser's CTC probabilities (N x T x classes) with each column's province probabilities (`columns`
    of the classes), to the power REC_PROVINCE_POWER, multiplied by the province classifier's (N x
    len(PROVINCES)) and scaled back to the column's province total. Blanks and other characters keep theirs: the
    recogniser still says where the province is, the two networks together say which it is."""
    out = probs.copy()
    out[:, :, columns] = weighed(probs[:, :, columns], provinces[:, None, :], REC_PROVINCE_POWER)
    return out


def weighed(mine: np.ndarray, scores: np.ndarray, power: float) -> np.ndarray:
    """A column's probabilities of some classes (`mine`, classes last) to the `power`, times a classifier's `scores`
    for the same classes, scaled back to the column's total for them."""
    joint = mine**power * scores
    return joint / np.maximum(joint.sum(axis=-1, keepdims=True), 1e-12) * mine.sum(axis=-1, keepdims=True)


def character_window(crop: np.ndarray, centre: float) -> np.ndarray:
    """The CHAR_WINDOW px wide window of a recogniser cut around `centre` (px), its ends repeated past the cut."""
    pad = CHAR_WINDOW
    padded = cv2.copyMakeBorder(crop, 0, 0, pad, pad, cv2.BORDER_REPLICATE)
    x0 = min(max(0, round(centre - CHAR_WINDOW / 2) + pad), padded.shape[1] - CHAR_WINDOW)
    return padded[:, x0:x0 + CHAR_WINDOW]


def weigh_character(p: np.ndarray, run: tuple[int, int], scores: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """One read's CTC probabilities (T x classes) with the character classifier's scores (len(CHAR_CLASSES), for
    `columns` of the classes) multiplied into the columns `run` of one character, as `weigh_provinces` does."""
    out = p.copy()
    t0, t1 = run
    out[t0:t1, columns] = weighed(p[t0:t1, columns], scores[None, :], REC_CHAR_POWER)
    return out


def contour_quad(contour: np.ndarray, fine: bool = False) -> np.ndarray:
    """Four corners for a plate-shaped region: its 4-gon outline when that fits the hull, else (for a
    `fine` region, painted with the plate many mask pixels wide) the four-cornered polygon around a
    finer outline, putting back corners the mask cut off, else its smallest rotated rectangle
    (unordered, in the contour's pixels)."""
    hull = cv2.convexHull(contour)
    hull_area = max(cv2.contourArea(hull), 1e-3)
    peri = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4 and cv2.isContourConvex(approx) and cv2.contourArea(approx) > 0.9 * hull_area:
            return approx.reshape(4, 2).astype(np.float32)
    if fine:
        approx = cv2.approxPolyDP(hull, 0.01 * peri, True)
        quad = enclosing_quad(approx) if len(approx) > 4 else None
        if quad is not None and cv2.contourArea(quad) < 1.15 * hull_area:
            return quad
    return cv2.boxPoints(cv2.minAreaRect(hull))


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` resized to `size` (w, h), mostly smaller: halved while it is at least twice as large, then the rest
    bilinear. Halving is OpenCV's fast INTER_AREA path; INTER_AREA to any other size took 8-18 ms a detector input
    (1280x720 and 2000 px photos), this 1.5-2.5 ms. It averages fine detail away as INTER_AREA does, and what it
    drops of an odd side moves things by under a pixel of the result (tests)."""
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        even = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # an odd last row or column is dropped
        image = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def plate_shape(contour: np.ndarray, fill: float = 0.6) -> float:
    """How many times as long as high a region is (its rotated rectangle), or 0 when it fills no more than `fill`
    of that rectangle (too ragged to be one plate)."""
    (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
    long, short = max(rw, rh), max(min(rw, rh), 1e-3)
    return long / short if cv2.contourArea(contour) > fill * long * short else 0.0


def mask_regions(mask: np.ndarray, split: bool = True) -> list[np.ndarray]:
    """Contours (detector-input pixels) of the regions painted in the detector's 1/4-resolution mask, largest
    first. A region that is not one single-row plate's shape (the plate and the grille above it painted as one,
    or a double-row plate) is followed by the single-row plates that its more surely painted parts form, at the
    lowest of SPLIT_LEVELS where there are any (unless not `split`)."""
    up = cv2.resize(mask, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    contours, _ = cv2.findContours((up > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for c in sorted((c for c in contours if cv2.contourArea(c) >= MIN_AREA), key=cv2.contourArea, reverse=True):
        found.append(c)
        if not split or SINGLE_ROW[0] <= plate_shape(c) <= SINGLE_ROW[1]:
            continue
        x, y, w, h = cv2.boundingRect(c)
        inside = np.zeros((h, w), np.uint8)
        cv2.drawContours(inside, [c - np.int32([x, y])], -1, 1, cv2.FILLED)
        for level in SPLIT_LEVELS:
            parts, _ = cv2.findContours(((up[y:y + h, x:x + w] > level) & (inside > 0)).astype(np.uint8),
                                        cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            parts = [p + np.int32([x, y]) for p in parts
                     if cv2.contourArea(p) >= MIN_AREA and SINGLE_ROW[0] <= plate_shape(p) <= SINGLE_ROW[1]]
            if parts:
                found += sorted(parts, key=cv2.contourArea, reverse=True)[:2]  # say the plate and the grille
                break
    return found


def colour_regions(small: np.ndarray) -> list[np.ndarray]:
    """Contours of plate-shaped patches of plate colours: proposals the network may have missed."""
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3))
    found = []
    for lo, hi in COLOUR_RANGES:
        m = cv2.morphologyEx(cv2.inRange(hsv, lo, hi), cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found += [c for c in contours if cv2.contourArea(c) >= 4 * MIN_AREA and 1.6 <= plate_shape(c, 0.5) <= 6.5]
    return found


def refine_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The outline of the blue, yellow or green plate body around a candidate quad (image pixels), or None.

    The detector's quads are coarse (1/4 resolution, photo shrunk); the plate's own colour gives its
    edges at full resolution. Of a green plate's white-to-green gradient only the greener part may count: the
    outline is one more cut to read beside the candidate's own, and the better read is kept.
    """
    x, y, w, h = box_of(expand_quad(quad, 0.12, 0.3), image.shape)
    if w < 8 or h < 4:
        return None
    # A large candidate is looked at no finer than REFINE_WIDTH px across: the outline is then still finer than
    # the recogniser's 96 px, and the time stays that of a plate-sized one (whole-photo regions took 5-10 ms).
    scale = min(1.0, REFINE_WIDTH / w)
    area_image = image[y: y + h, x: x + w]
    if scale < 1:
        w, h = round(w * scale), max(1, round(h * scale))
        area_image = shrink(area_image, (w, h))
    hsv = cv2.cvtColor(area_image, cv2.COLOR_BGR2HSV)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, np.round((quad - (x, y) + 0.5) * scale - 0.5).astype(np.int32), 1)
    area = max(1, int(inside.sum()))
    masks = [cv2.inRange(hsv, lo, hi) for lo, hi in COLOUR_RANGES]
    mask = max(masks, key=lambda m: int(np.count_nonzero(m & inside)))
    if np.count_nonzero(mask & inside) < 0.35 * area:
        return None
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, w // 30), max(3, h // 8)))
    contours, _ = cv2.findContours(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    best = max(contours, key=cv2.contourArea)
    if not 0.5 * area <= cv2.contourArea(best) <= 1.8 * area:
        return None
    return order_quad((contour_quad(best) + 0.5) / scale - 0.5 + np.float32([x, y]))


def box_of(quad: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller of two (x, y, w, h) boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1, min(a[2] * a[3], b[2] * b[3]))


class PlateReader:
    """Loads the shipped models once; `read(image)` returns the plates in a BGR photo."""

    def __init__(self, model_dir: Path | None = None, min_confidence: float = 0.3) -> None:
        self._base = Path(model_dir) if model_dir else Path(str(resources.files("vision") / "models"))
        self._load(DETECTORS[True])  # loaded and let go: a broken model fails here, not at dusk
        self._det, self._det_mono = self._load(DETECTORS[False]), False  # the detector held, and which it is
        self._rec = self._load("plate_rec.onnx")
        self._prov = self._load("plate_prov.onnx")
        try:
            self._chars = (self._base / "plate_chars.txt").read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ModelError(f"cannot load plate models from {self._base}: {e}") from e
        self._province_columns = np.array([self._chars.index(c) + 1 for c in PROVINCES])
        self._char_columns = np.array([self._chars.index(c) + 1 for c in CHAR_CLASSES])
        self._char = self._load("plate_char.onnx")
        self.min_confidence = min_confidence

    def _load(self, name: str) -> cv2.dnn.Net:
        try:
            return cv2.dnn.readNetFromONNX(str(self._base / name))
        except cv2.error as e:
            raise ModelError(f"cannot load plate model {self._base / name}: {e}") from e

    def _detector(self, mono: bool) -> cv2.dnn.Net:
        """The colour or the monochrome detector. One is held at a time: each keeps about 14 MB of buffers once it
        has run (measured at a 576x320 input), a gate camera changes between them at dusk and dawn, and loading
        one takes 5-10 ms."""
        if self._det_mono != mono:
            self._det = None  # the other's buffers go first
            self._det, self._det_mono = self._load(DETECTORS[mono]), mono
        return self._det

    def detect(self, image: np.ndarray, mono: bool | None = None) -> list[np.ndarray]:
        """Candidate plate quads (ordered corners, image pixels): regions the network paints, then
        plate-coloured patches, largest first. `mono`: use the monochrome detector (default: when the
        image is monochrome)."""
        h, w = image.shape[:2]
        scale = DET_SIDE / max(h, w)
        sw, sh = max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32)
        small = shrink(image, (sw, sh))
        regions = self._paint(small, is_monochrome(image) if mono is None else mono)
        extra = sorted(colour_regions(small), key=cv2.contourArea, reverse=True)
        picked = regions[: MAX_CANDIDATES * 2 // 3]
        picked += extra[: MAX_CANDIDATES - len(picked)]
        to_image = np.float32([w / sw, h / sh])
        return [order_quad((contour_quad(c) + 0.5) * to_image) for c in picked]

    def _paint(self, small: np.ndarray, mono: bool, split: bool = True) -> list[np.ndarray]:
        """The painted regions of a detector input (sides multiples of 32), by the colour or the monochrome detector."""
        if mono:  # made exactly grey: the only kind of picture that detector has seen
            small = to_grey(small)
        net = self._detector(mono)
        net.setInput(cv2.dnn.blobFromImage(small, 1 / 255.0))
        return mask_regions(net.forward()[0, 0], split)

    def _forward(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """CTC column probabilities and colour scores of rectified REC_W x REC_H crops, by the recogniser."""
        probs, colors = nets.forward(self._rec, cv2.dnn.blobFromImages(crops, 1 / 255.0), ["probs", "color"])
        return probs, colors

    def _provinces(self, crops: list[np.ndarray]) -> np.ndarray:
        """The province classifier's scores (N x len(PROVINCES)) for rectified REC_W x REC_H crops."""
        blob = cv2.dnn.blobFromImages([c[:, :PROVINCE_LEFT] for c in crops], 1 / 255.0)
        (provinces,) = nets.forward(self._prov, blob, ["province"])
        return provinces

    def _characters(self, probs: np.ndarray, crops: list[np.ndarray]) -> np.ndarray:
        """`probs` (N x T x classes, of the N `crops`) with the character classifier's scores weighed into the
        characters after the province of every seven-character read where the recogniser is unsure (CHAR_GATE)."""
        step = REC_W / probs.shape[1]
        looks = []  # (read, run of columns, window)
        for j, p in enumerate(probs):
            runs = ctc_runs(p)
            if len(runs) == 7:
                looks += [(j, run, character_window(crops[j], (run[0] + 0.5) * step + CHAR_LAG[pos]))
                          for pos, run in enumerate(runs) if pos and p[run[0]:run[1]].max() < CHAR_GATE]
        if not looks:
            return probs
        blob = cv2.dnn.blobFromImages([w for _, _, w in looks], 1 / 255.0)
        (scores,) = nets.forward(self._char, blob, ["char"])
        out = probs.copy()
        for (j, run, _), s in zip(looks, scores, strict=True):
            out[j] = weigh_character(out[j], run, s, self._char_columns)
        return out

    def _decode(self, p: np.ndarray, c: np.ndarray) -> tuple[str, float, str]:
        text, conf = ctc_greedy(p, self._chars)
        if not PLATE_PATTERN.match(text) and len(text) >= 5:
            # the best path is no plate: take the best path that is one, if it is nearly as likely
            # (layouts at most two characters longer or one shorter; 使 only if it was read)
            layouts = [tpl for tpl in TEMPLATES
                       if len(text) - 1 <= len(tpl) <= len(text) + 2 and (tpl[0] != "使" or "使" in text)]
            fits = ctc_fits(p, self._chars, layouts) if layouts else [("", 0.0, -np.inf)]
            fit, fit_conf, fit_score = max(fits, key=lambda f: f[2])
            if len(p) * (np.log(np.maximum(p.max(axis=1), 1e-12)).mean() - fit_score) <= MAX_FIT_COST:
                text, conf = fit, fit_conf
        # eight characters are a new-energy plate's layout, and those are green (yellow-green on large vehicles)
        return text, conf, "green" if len(text) == 8 else COLORS[int(np.argmax(c))]

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float, str]]:
        """Text, confidence and colour of each rectified REC_W x REC_H crop (the province and character
        classifiers' scores weighed in)."""
        probs, colors = self._forward(crops)
        probs = self._characters(weigh_provinces(probs, self._provinces(crops), self._province_columns), crops)
        return [self._decode(p, c) for p, c in zip(probs, colors, strict=True)]

    def _steady(self, image: np.ndarray, cuts: list[tuple[np.ndarray, bool]]) -> tuple[np.ndarray, np.ndarray]:
        """CTC probabilities and colour scores of each (cut quad, double-row) as the mean of the cut and four cuts
        with one end moved in or out by STEADY_SHIFT of the width (one batch for all)."""
        crops = []
        for quad, double in cuts:
            along = (quad[1] - quad[0] + quad[2] - quad[3]) / 2  # the plate's width, left to right
            for left, right in ((0, 0), (-1, 0), (0, 1), (1, 0), (0, -1)):
                moved = quad + np.float32([left, right, right, left])[:, None] * STEADY_SHIFT * along
                crops.append(rectify(image, moved.astype(np.float32), double))
        probs, colors = self._forward(crops)
        n = len(cuts)
        return probs.reshape(n, 5, *probs.shape[1:]).mean(axis=1), colors.reshape(n, 5, -1).mean(axis=1)

    def _cuts(self, image: np.ndarray, quad: np.ndarray,
              margin: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """(quad, cut quad, double-row, recogniser input) for one candidate: its quad and the colour-refined
        quad, each in the layouts its shape allows (single row, double row, or both when ambiguous)."""
        quads = [quad]
        if margin and (refined := refine_quad(image, quad)) is not None:
            if np.abs(refined - quad).max() > 0.04 * quad_size(quad)[0]:
                quads.append(refined)
        cuts = []
        for q in quads:
            w, h = quad_size(q)
            aspect = w / max(h, 1e-3)
            cut = expand_quad(q, 0.02, 0.06) if margin else q
            layouts = [aspect < DOUBLE_ROW_ASPECT]
            if 1.6 < aspect < 2.6:  # ambiguous: a slanted single row or a double row
                layouts.append(not layouts[0])
            cuts += [(q, cut, double, rectify(image, cut, double)) for double in layouts]
        return cuts

    def zoom(self, image: np.ndarray, quad: np.ndarray, mono: bool | None = None) -> np.ndarray | None:
        """A finer quad for a candidate (image pixels), or None: the detector run again on the area
        around it (twice the plate's likely width, as tall as that width), scaled so the plate is
        about ZOOM_WIDTH px wide; the painted region that overlaps the candidate most is kept.
        `mono` as for `detect`."""
        w, h = quad_size(quad)
        width = max(w, 3.2 * h)  # a plate is about 3.2 times as wide as tall; the candidate may be part of it
        cx, cy = quad.mean(axis=0)
        x0, x1 = int(max(0, cx - width)), int(min(image.shape[1], cx + width))
        y0, y1 = int(max(0, cy - width / 2)), int(min(image.shape[0], cy + width / 2))
        scale = ZOOM_WIDTH / width
        cw, ch = round((x1 - x0) * scale), round((y1 - y0) * scale)
        if cw < 8 or ch < 8:
            return None
        area = image[y0:y1, x0:x1]
        small = shrink(area, (cw, ch))
        small = cv2.copyMakeBorder(small, 0, -ch % 32, 0, -cw % 32, cv2.BORDER_CONSTANT)
        # the region around the candidate as painted (its parts are candidates of their own already)
        regions = self._paint(small, is_monochrome(image) if mono is None else mono, split=False)
        here = box_of((quad - np.float32([x0, y0])) * scale, (ch, cw))
        scored = [(overlap(cv2.boundingRect(c), here) * cv2.contourArea(c), c) for c in regions]
        scored = [sc for sc in scored if sc[0] > 0]
        if not scored:
            return None
        best = max(scored, key=lambda sc: sc[0])[1]
        return order_quad((contour_quad(best, fine=True) + 0.5) / scale + np.float32([x0, y0]))

    def _usable(self, text: str, conf: float, color: str, mono: bool) -> bool:
        """Whether a read is a plate and sure enough to report. In a colour picture the colour head must not call
        green a read without a green plate's eight characters: of the real photos under the bench's six camera
        conditions, all 10 such reads (at 0.33-0.40) were no plate's text, mostly a car's body around a blue plate,
        and no read of a plate's text was such (in a monochrome picture the head's colour means nothing)."""
        return (bool(PLATE_PATTERN.match(text)) and conf >= self.min_confidence
                and (mono or color != "green" or len(text) == 8))

    def _read_quads(self, image: np.ndarray, quads: list[np.ndarray], margin: bool = True,
                    mono: bool = False) -> dict[int, PlateRead]:
        """The best valid read of each candidate quad, by the quad's index (one batched recogniser run);
        in a `mono` picture the colour comes from `grey_colour`."""
        owners, cuts = [], []
        for i, quad in enumerate(quads):
            for cut in self._cuts(image, quad, margin):
                owners.append(i)
                cuts.append(cut)
        if not cuts:
            return {}
        # The recogniser alone picks each candidate's cut (and reads an unsure one steadier); then the province
        # classifier looks at the picked cuts only, one batch, and the read is decoded again with its scores
        # weighed in: the classifier costs about as much a crop as the recogniser, and cuts are many.
        probs, colors = self._forward([c[3] for c in cuts])
        best: dict[int, tuple[str, float, str, int]] = {}  # by candidate: text, confidence, colour, reading index
        for k, i in enumerate(owners):
            text, conf, color = self._decode(probs[k], colors[k])
            if self._usable(text, conf, color, mono) and conf > best.get(i, ("", -1))[1]:
                best[i] = (text, conf, color, k)
        unsure = [i for i, b in best.items() if b[1] < CONFIDENT]
        if unsure:  # the steadier readings join the others, each beside the cut it was made around
            made_from = [cuts[best[i][3]] for i in unsure]
            steady_probs, steady_colors = self._steady(image, [cut[1:3] for cut in made_from])
            for j, i in enumerate(unsure):
                text, conf, color = self._decode(steady_probs[j], steady_colors[j])
                if self._usable(text, conf, color, mono):
                    best[i] = (text, conf, color, len(cuts) + j)
            probs, colors = np.concatenate([probs, steady_probs]), np.concatenate([colors, steady_colors])
            cuts = cuts + made_from
        picked = list(best)
        if picked:
            readings = [best[i][3] for i in picked]
            provinces = self._provinces([cuts[k][3] for k in readings])
            weighed = weigh_provinces(probs[readings], provinces, self._province_columns)
            weighed = self._characters(weighed, [cuts[k][3] for k in readings])
            for j, i in enumerate(picked):
                text, conf, color = self._decode(weighed[j], colors[readings[j]])
                if self._usable(text, conf, color, mono):
                    best[i] = (text, conf, color, readings[j])
        best = {i: (t, p, c, cuts[k]) for i, (t, p, c, k) in best.items()}
        if mono:
            best = {i: (t, p, grey_colour(t, cut[3], cut[2]), cut) for i, (t, p, _, cut) in best.items()}
        return {i: PlateRead(t, c, round(p, 3), box_of(cut[0], image.shape)) for i, (t, p, c, cut) in best.items()}

    def read_plate(self, plate_bgr: np.ndarray) -> PlateRead | None:
        """Read an image that is already one cut-out, straightened plate (e.g. 94x24 crops)."""
        image = check_image(plate_bgr)
        h, w = image.shape[:2]
        reads = self._read_quads(image, [np.float32([[0, 0], [w, 0], [w, h], [0, h]])], margin=False,
                                 mono=is_monochrome(image))
        return reads.get(0)

    def read(self, image_bgr: np.ndarray) -> list[PlateRead]:
        """All plates read in a BGR photo, most confident first (one read per plate)."""
        image = check_image(image_bgr)
        k = -(-max(image.shape[:2]) // MAX_SIDE)
        if k < 2:
            return self._read(image)
        # A large photo is read at 1/k size (k whole: a 4000 px photo halved) and the boxes scaled back
        small = shrink(image, (image.shape[1] // k, image.shape[0] // k))
        sx, sy = image.shape[1] / small.shape[1], image.shape[0] / small.shape[0]
        return [replace(r, box=(round(r.box[0] * sx), round(r.box[1] * sy), round(r.box[2] * sx),
                                round(r.box[3] * sy))) for r in self._read(small)]

    def _read(self, image: np.ndarray) -> list[PlateRead]:
        mono = is_monochrome(image)  # the whole picture decides, not the area around one candidate
        quads = self.detect(image, mono)
        best = self._read_quads(image, quads, mono=mono)
        todo = list(range(len(quads)))
        for _ in range(ZOOM_ROUNDS):  # look again, closer, at the candidates not read confidently
            todo = [i for i in todo if i not in best or best[i].confidence < CONFIDENT]
            finer = {i: q for i in todo if (q := self.zoom(image, quads[i], mono)) is not None
                     and np.abs(q - quads[i]).max() > 0.02 * quad_size(quads[i])[0]}
            todo = list(finer)
            reads = self._read_quads(image, list(finer.values()), mono=mono)
            for k, i in enumerate(todo):
                quads[i] = finer[i]
                if k in reads and (i not in best or reads[k].confidence > best[i].confidence):
                    best[i] = reads[k]
        kept: list[PlateRead] = []
        for r in sorted(best.values(), key=lambda r: -r.confidence):
            if all(overlap(r.box, k.box) < 0.3 for k in kept):
                kept.append(r)
        return kept
