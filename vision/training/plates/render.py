"""Synthetic Chinese licence plates: layouts, colours and glyphs after GA 36-2018.

Reusable beyond training (the demo renders gate-camera frames with it): `random_spec` draws a plate
number and colour, `PlateRenderer.render` draws the flat plate in BGR at a chosen scale (pixels per mm).
Glyphs come from CJK fonts (Debian fonts-noto-cjk, fonts-wqy-zenhei/microhei) and DejaVu, stretched
into the standard character boxes (45x90 mm) like the real plate font.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SPECIALS = "警学挂港澳使领"
DIGITS = "0123456789"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
CHARS = PROVINCES + SPECIALS + DIGITS + LETTERS
COLORS = ("blue", "yellow", "green", "white", "black")

CJK_FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, 1),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, 1),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 1),
]
LATIN_FONTS = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0, 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 0, 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 2),
]

# New-energy (green) plates use a lighter face than the others.
LIGHT_CJK_FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 0),
]
LIGHT_LATIN_FONTS = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf", 0, 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, 0),
]

# Character boxes in mm: (x, y, w, h); plate sizes in mm.
SINGLE_SIZE = (440, 140)
SINGLE_BOXES = [(15.5 + 57 * i + (34 - 12 if i >= 2 else 0), 25, 45, 90) for i in range(7)]
SINGLE_DOT = (134.5, 70)
GREEN_SIZE = (480, 140)
GREEN_BOXES = [(15.5, 25, 43, 90), (67.5, 25, 43, 90)] + [(161.5 + 52 * i, 25, 43, 90) for i in range(6)]
GREEN_DOT = (136, 70)
DOUBLE_SIZE = (440, 220)
DOUBLE_BOXES = [(110, 15, 80, 60), (250, 15, 80, 60)] + [(27.5 + 80 * i, 90, 65, 110) for i in range(5)]


@dataclass(frozen=True)
class PlateSpec:
    text: str
    color: str
    double_row: bool = False


def _alnum(rng: random.Random, n: int, p_letter: float = 0.3) -> str:
    return "".join(rng.choice(LETTERS) if rng.random() < p_letter else rng.choice(DIGITS) for _ in range(n))


def _letter(rng: random.Random) -> str:
    # Prefecture letters: A..H are the most common, every letter appears.
    return rng.choice("ABCDEFGH") if rng.random() < 0.6 else rng.choice(LETTERS)


def random_spec(rng: random.Random) -> PlateSpec:
    """A plausible plate: blue/yellow/green common, special white and black plates less so."""
    prov, letter = rng.choice(PROVINCES), _letter(rng)
    r = rng.random()
    if r < 0.38:
        return PlateSpec(prov + letter + _alnum(rng, 5), "blue")
    if r < 0.60:
        if rng.random() < 0.5:  # new-energy small car: D/F then 5 more
            tail = rng.choice("DF") + rng.choice(LETTERS + DIGITS) + _alnum(rng, 4, 0.0)
        else:  # new-energy large vehicle: 5 digits then D/F
            tail = _alnum(rng, 5, 0.0) + rng.choice("DF")
        return PlateSpec(prov + letter + tail, "green")
    if r < 0.84:
        double = rng.random() < 0.45
        tail = _alnum(rng, 5)
        if rng.random() < 0.12:
            tail = tail[:4] + rng.choice("挂学" if not double else "挂")
        return PlateSpec(prov + letter + tail, "yellow", double)
    if r < 0.92:
        return PlateSpec(prov + letter + _alnum(rng, 4, 0.1) + "警", "white")
    k = rng.random()
    if k < 0.4:
        return PlateSpec("粤Z" + _alnum(rng, 4, 0.1) + rng.choice("港澳"), "black")
    if k < 0.6:
        return PlateSpec("使" + _alnum(rng, 6, 0.0), "black")
    if k < 0.75:
        return PlateSpec(prov + letter + _alnum(rng, 4, 0.0) + "领", "black")
    return PlateSpec(prov + letter + _alnum(rng, 5), "black")


def _jitter(rng: random.Random, bgr: tuple[int, int, int], amount: int) -> np.ndarray:
    return np.clip(np.array(bgr, np.float32) + [rng.uniform(-amount, amount) for _ in range(3)], 0, 255)


def plate_colors(spec: PlateSpec, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background top, background bottom and character colour (BGR float)."""
    c = spec.color
    if c == "blue":
        top = _jitter(rng, (rng.uniform(150, 230), rng.uniform(40, 110), rng.uniform(0, 40)), 15)
        return top, top, _jitter(rng, (245, 245, 245), 10)
    if c == "yellow":
        top = _jitter(rng, (rng.uniform(0, 40), rng.uniform(170, 215), rng.uniform(220, 255)), 12)
        return top, top, _jitter(rng, (20, 20, 20), 15)
    if c == "green":
        if rng.random() < 0.3:  # large new-energy vehicle: yellow-green
            top = _jitter(rng, (60, 200, 210), 15)
            bottom = _jitter(rng, (80, 190, 90), 15)
        else:
            top = _jitter(rng, (235, 250, 235), 12)
            bottom = _jitter(rng, (rng.uniform(70, 180), rng.uniform(180, 235), rng.uniform(50, 170)), 15)
        return top, bottom, _jitter(rng, (20, 20, 20), 15)
    if c == "white":
        top = _jitter(rng, (235, 235, 235), 15)
        return top, top, _jitter(rng, (20, 20, 20), 15)
    top = _jitter(rng, (25, 25, 25), 15)
    return top, top, _jitter(rng, (240, 240, 240), 12)


class PlateRenderer:
    """Draws flat plates; glyph masks are cached per font, character and box size."""

    def __init__(self, cjk_fonts: list | None = None, latin_fonts: list | None = None) -> None:
        self.cjk = [f for f in (cjk_fonts or CJK_FONTS) if Path(f[0]).exists()]
        self.latin = [f for f in (latin_fonts or LATIN_FONTS) if Path(f[0]).exists()]
        self.light_cjk = [f for f in LIGHT_CJK_FONTS if Path(f[0]).exists()] or self.cjk
        self.light_latin = [f for f in LIGHT_LATIN_FONTS if Path(f[0]).exists()] or self.latin
        if not self.cjk or not self.latin:
            raise RuntimeError("install fonts-noto-cjk or fonts-wqy-zenhei, and fonts-dejavu-core")
        self._fonts: dict = {}
        self._glyphs: dict = {}

    def _font(self, path: str, index: int) -> ImageFont.FreeTypeFont:
        key = (path, index)
        if key not in self._fonts:
            self._fonts[key] = ImageFont.truetype(path, 96, index=index)
        return self._fonts[key]

    def glyph(self, ch: str, w: int, h: int, font: tuple, weight: int = 0) -> np.ndarray:
        """Alpha mask (float32, 0..1) of `ch` stretched into a w x h box; `weight` -1 thins the strokes
        by a pixel, +1 thickens them (plate fonts vary by issue year and wear)."""
        key = (ch, w, h, font, weight)
        mask = self._glyphs.get(key)
        if mask is None:
            path, index, stroke = font
            img = Image.new("L", (200, 200), 0)
            ImageDraw.Draw(img).text((20, 20), ch, font=self._font(path, index), fill=255,
                                     stroke_width=stroke, stroke_fill=255)
            a = np.asarray(img)
            ys, xs = np.nonzero(a > 40)
            a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
            if ch == "1":  # a bar: keep it narrow, centred
                bw = max(1, round(w * min(1.0, a.shape[1] / a.shape[0] * 2.0)))
                inner = cv2.resize(a, (bw, h), interpolation=cv2.INTER_AREA)
                a = np.zeros((h, w), np.uint8)
                a[:, (w - bw) // 2: (w - bw) // 2 + bw] = inner
            else:
                a = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
            if weight and min(w, h) >= 12:
                a = (cv2.dilate if weight > 0 else cv2.erode)(a, np.ones((2, 2), np.uint8))
            mask = a.astype(np.float32) / 255.0
            if len(self._glyphs) < 40000:
                self._glyphs[key] = mask
        return mask

    def render(self, spec: PlateSpec, rng: random.Random, scale: float = 0.5) -> np.ndarray:
        """The flat plate in BGR uint8, `scale` pixels per mm."""
        if spec.double_row:
            size, boxes, dot = DOUBLE_SIZE, DOUBLE_BOXES, None
        elif len(spec.text) == 8:
            size, boxes, dot = GREEN_SIZE, GREEN_BOXES, GREEN_DOT
        else:
            size, boxes, dot = SINGLE_SIZE, SINGLE_BOXES, SINGLE_DOT
        if len(spec.text) != len(boxes):
            raise ValueError(f"{spec.text!r} does not fit the layout")
        W, H = round(size[0] * scale), round(size[1] * scale)
        top, bottom, fg = plate_colors(spec, rng)
        t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
        img = (top * (1 - t) + bottom * t) * np.ones((H, W, 3), np.float32)
        img += np.random.default_rng(rng.getrandbits(32)).normal(0, 3, img.shape).astype(np.float32)
        self._rim(img, spec, fg, scale, rng)
        light = rng.random() < (0.85 if spec.color == "green" else 0.35)
        cjk = rng.choice(self.light_cjk if light else self.cjk)
        latin = rng.choice(self.light_latin if light else self.latin)
        dx, dy = rng.uniform(-3, 3), rng.uniform(-3, 3)
        weight = rng.choices((-1, 0, 1), (0.25, 0.5, 0.25))[0]
        cjk_shrink = rng.uniform(0.86, 1.0)
        for ch, (x, y, w, h) in zip(spec.text, boxes, strict=True):
            color = fg
            if ch in "警" or (ch in "使领" and rng.random() < 0.8):
                color = np.array((30, 30, 210), np.float32)
            font = cjk if ch in PROVINCES + SPECIALS else latin
            shrink = cjk_shrink if ch in PROVINCES + SPECIALS else 1.0
            gw, gh = max(2, round(w * scale * shrink)), max(2, round(h * scale * shrink))
            x0 = round((x + dx) * scale + (w * scale - gw) / 2)
            y0 = round((y + dy) * scale + (h * scale - gh) / 2)
            m = self.glyph(ch, gw, gh, font, weight)[..., None]
            roi = img[y0: y0 + gh, x0: x0 + gw]
            roi[:] = roi * (1 - m[: roi.shape[0], : roi.shape[1]]) + color * m[: roi.shape[0], : roi.shape[1]]
        if dot is not None and rng.random() < 0.85:
            cv2.circle(img, (round(dot[0] * scale), round(dot[1] * scale)), max(1, round(5 * scale)),
                       fg.tolist(), -1, cv2.LINE_AA)
        return np.clip(img, 0, 255).astype(np.uint8)

    @staticmethod
    def _rim(img: np.ndarray, spec: PlateSpec, fg: np.ndarray, scale: float, rng: random.Random) -> None:
        H, W = img.shape[:2]
        if spec.color != "green" and rng.random() < 0.85:
            inset, th = max(1, round(rng.uniform(2, 4) * scale)), max(1, round(rng.uniform(1.5, 3) * scale))
            cv2.rectangle(img, (inset, inset), (W - 1 - inset, H - 1 - inset), fg.tolist(), th, cv2.LINE_AA)
        if rng.random() < 0.7:  # rivets
            r = max(1, round(rng.uniform(3, 6) * scale))
            shade = (img[H // 2, W // 2] * rng.uniform(0.5, 1.3)).tolist()
            for x in (W * 0.2, W * 0.8):
                cv2.circle(img, (round(x), round(12 * scale)), r, shade, -1, cv2.LINE_AA)
