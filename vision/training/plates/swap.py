"""Character swaps on the real train crops: new real-looking plates in the real plate font.

The real crops show the plate font as it is (our synthetic plates draw it from other fonts), but their
characters are mostly digits: a letter such as Q appears 11 times in the 500 train crops, and the holdout
misreads are mostly letters read as the digit they resemble (Q as 0, U as 0, M as W). A swap replaces one to
three characters of a real crop with the same character position cut from other real crops, chosen so that
every letter and digit is drawn equally often, and relabels it. Characters are found by fitting the standard
layout to the crop (`layout`), kept only where that fit agrees with where the shipped recogniser reads each
character (`cells`); a crop that fails either is never a donor or a target.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np

from vision.plate_geometry import REC_W, ctc_greedy, ctc_runs
from vision.training.plates.rec_data import decode, encode
from vision.training.plates.render import CHARS, DIGITS, LETTERS

# GA 36-2018 blue and yellow plates: 440 mm wide, seven 45 mm characters 12 mm apart, 34 mm (with the dot)
# between the second and the third, 15.5 mm margins; the centres as shares of the width
CENTRES = np.float32([38, 95, 174, 231, 288, 345, 402]) / 440
BOX = 45 / 440
MAX_DISAGREE = 4.0  # px between the layout's centre of a character and the recogniser's, after the usual lag
MIN_FIT = 0.5  # correlation of the column profile with the layout below which a crop is not used


def layout(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Character centres (x, pixels), character width and the fit's score for a single-row crop with light
    characters: the standard layout slid and stretched over the crop's column brightness. The recogniser's
    CTC peaks were tried first: they sit a varying part of a character off the glyphs."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    profile = g[g.shape[0] // 6: -g.shape[0] // 6].mean(axis=0)
    profile = (profile - profile.mean()) / (profile.std() + 1e-3)
    xs = np.arange(len(profile)) + 0.5
    best = (-np.inf, 0.0, 0.0)
    for width in np.arange(0.86, 1.12, 0.01) * len(profile):  # crops are cut to the plate: no more slack
        for x0 in np.arange(-0.08, 0.085, 0.005) * len(profile):
            mask = (np.abs(xs[None, :] - (x0 + CENTRES[:, None] * width)) < BOX * width / 2).any(axis=0)
            t = mask.astype(np.float32)
            if t.std() == 0:
                continue
            score = float(((t - t.mean()) / t.std() * profile).mean())
            if score > best[0]:
                best = (score, x0, width)
    score, x0, width = best
    return x0 + CENTRES * width, BOX * width, score


def ctc_centres(images: np.ndarray, labels: np.ndarray, model: Path) -> list[np.ndarray | None]:
    """Per crop, the CTC columns (as pixels) where the shipped recogniser emits each character, or None when it
    does not read the crop exactly as labelled."""
    net = cv2.dnn.readNetFromONNX(str(model))
    out: list[np.ndarray | None] = []
    for i in range(0, len(images), 128):
        net.setInput(cv2.dnn.blobFromImages(list(images[i:i + 128]), 1 / 255.0))
        for p, label in zip(net.forward("probs"), labels[i:i + 128], strict=True):
            if ctc_greedy(p, CHARS)[0] != decode(label):
                out.append(None)
                continue
            out.append((np.float32([t0 for t0, _ in ctc_runs(p)]) + 0.5) * REC_W / len(p))
    return out


def cells(images: np.ndarray, labels: np.ndarray,
          model: Path) -> tuple[list[tuple[np.ndarray, float] | None], np.ndarray]:
    """Per crop, its character centres and width, or None unless the layout fits it well and agrees with
    where the recogniser reads each character (a layout slid by one character does not); and the lag, per
    character, of where the recogniser reads it behind the layout's centre (the median over the crops that fit)."""
    fits = [layout(img) for img in images]
    peaks = ctc_centres(images, labels, model)
    both = [(f, c) for f, c in zip(fits, peaks, strict=True) if c is not None and len(c) == 7 and f[2] >= MIN_FIT]
    lag = np.median([f[0] - c for f, c in both], axis=0)  # per character: the recogniser reads a little early
    out: list[tuple[np.ndarray, float] | None] = []
    for (centres, width, score), c in zip(fits, peaks, strict=True):
        agree = c is not None and len(c) == 7 and np.abs(centres - c - lag).max() < MAX_DISAGREE
        out.append((centres, width) if score >= MIN_FIT and agree else None)
    return out, lag


class Swapper:
    """`swap(rng)`: a real train crop with one to three characters replaced (see the module)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, found: list[tuple[np.ndarray, float] | None]) -> None:
        self.images, self.labels = images, labels
        self.ok = [i for i, c in enumerate(found) if c is not None and (labels[i] > 0).sum() == 7]
        self.found = found
        # donors[(position, char)] = crops that show `char` at `position`
        self.donors: dict[tuple[int, str], list[int]] = {}
        for i in self.ok:
            text = self.text(i)
            for pos in range(1, 7):
                self.donors.setdefault((pos, text[pos]), []).append(i)

    def text(self, i: int) -> str:
        return decode(self.labels[i])

    def cell(self, i: int, pos: int) -> tuple[int, int]:
        centres, width = self.found[i]
        half = width / 2 + 1  # the glyph and a pixel of plate each side
        return max(0, round(centres[pos] - half)), min(REC_W, round(centres[pos] + half))

    def swap(self, rng: random.Random) -> tuple[np.ndarray, np.ndarray, int]:
        """A swapped crop, its label (encoded as the real crops' labels are) and the crop it was made from."""
        target = rng.choice(self.ok)
        img = self.images[target].astype(np.float32)
        text = list(self.text(target))
        # the province stays: the few real crops of other provinces swapped in measured no better (holdout 469
        # against 474 of 504)
        for pos in rng.sample(range(1, 7), rng.randint(1, 3)):
            pool = LETTERS if pos == 1 else DIGITS + LETTERS
            choices = [ch for ch in pool if (pos, ch) in self.donors]
            ch = rng.choice(choices)
            donor = rng.choice(self.donors[(pos, ch)])
            tx0, tx1 = self.cell(target, pos)
            dx0, dx1 = self.cell(donor, pos)
            if tx1 - tx0 < 4 or dx1 - dx0 < 4:
                continue
            patch = cv2.resize(self.images[donor][:, dx0:dx1], (tx1 - tx0, img.shape[0]),
                               interpolation=cv2.INTER_LINEAR).astype(np.float32)
            here = img[:, tx0:tx1]
            # the donor's light and contrast made the target's, channel by channel
            patch = (patch - patch.mean((0, 1))) / (patch.std((0, 1)) + 1e-3) * here.std((0, 1)) + here.mean((0, 1))
            ramp = np.minimum(1.0, np.minimum(np.arange(tx1 - tx0) + 1, np.arange(tx1 - tx0)[::-1] + 1) / 2.0)
            img[:, tx0:tx1] = here * (1 - ramp[None, :, None]) + patch * ramp[None, :, None]
            text[pos] = ch
        return np.clip(img, 0, 255).astype(np.uint8), encode("".join(text)), target
