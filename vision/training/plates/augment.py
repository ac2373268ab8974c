"""Photometric and geometric damage for synthetic plates: lighting, night, colour casts, dirt, blur, JPEG.

Also the real backgrounds: frames and patches of real car parks from ../shared/datasets/parking
(PKLot, CNRPark; CC BY 4.0 / ODbL), which contain no Chinese plates.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


def load_backgrounds(n: int, rng: random.Random, max_side: int = 800) -> list[np.ndarray]:
    """Up to n real photos without Chinese plates, scaled to at most max_side."""
    files = sorted((SHARED / "parking").rglob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no background photos under {SHARED / 'parking'}")
    frames = [f for f in files if "patches" not in f.parts]
    patches = [f for f in files if "patches" in f.parts]
    pick = rng.sample(frames, min(len(frames), n // 2)) + rng.sample(patches, min(len(patches), n - n // 2))
    out = []
    for f in pick:
        img = cv2.imread(str(f))
        if img is None:
            continue
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out.append(img)
    return out


def background(bgs: list[np.ndarray], w: int, h: int, rng: random.Random) -> np.ndarray:
    """A w x h crop of a random background (or flat noise now and then)."""
    if rng.random() < 0.08:
        c = np.array([rng.uniform(0, 255) for _ in range(3)], np.float32)
        img = c + np.random.default_rng(rng.getrandbits(32)).normal(0, 20, (h, w, 3))
        return np.clip(img, 0, 255).astype(np.uint8)
    img = rng.choice(bgs)
    ih, iw = img.shape[:2]
    cw = rng.uniform(0.1, 1.0) * iw
    ch = min(ih, cw * h / w)
    cw = ch * w / h
    x, y = rng.uniform(0, iw - cw), rng.uniform(0, ih - ch)
    crop = img[int(y): int(y + ch) + 1, int(x): int(x + cw) + 1]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)


def dirty(plate: np.ndarray, rng: random.Random) -> np.ndarray:
    """Mud, fading and stains on a flat plate."""
    img = plate.astype(np.float32)
    h, w = img.shape[:2]
    nrng = np.random.default_rng(rng.getrandbits(32))
    if rng.random() < 0.35:  # blotches of brown/grey
        mask = np.zeros((h, w), np.float32)
        for _ in range(rng.randint(1, 6)):
            cv2.ellipse(mask, (rng.randint(0, w), rng.randint(0, h)),
                        (rng.randint(2, w // 6 + 3), rng.randint(2, h // 3 + 3)), rng.uniform(0, 180), 0, 360,
                        rng.uniform(0.2, 0.7), -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1, h / 20))[..., None]
        mud = np.array([rng.uniform(40, 110), rng.uniform(60, 120), rng.uniform(70, 140)], np.float32)
        img = img * (1 - mask) + mud * mask
    if rng.random() < 0.3:  # faded / washed out
        a = rng.uniform(0.5, 0.9)
        img = img * a + img.mean() * (1 - a)
    if rng.random() < 0.3:  # grime texture
        small = nrng.normal(1, 0.15, (max(2, h // 8), max(2, w // 8), 1)).astype(np.float32)
        img = img * cv2.resize(small, (w, h))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def lighting(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Exposure (over-exposure too), contrast, gamma, colour cast, shadows, night and glare on a whole scene."""
    f = img.astype(np.float32) / 255.0
    h, w = f.shape[:2]
    if rng.random() < 0.5:  # colour cast (white balance, tinted photos)
        f = f * np.array([rng.uniform(0.7, 1.3) for _ in range(3)], np.float32)
    if rng.random() < 0.3:  # shadow across part of the scene
        pts = np.array([[rng.uniform(-w, 2 * w), rng.uniform(-h, 2 * h)] for _ in range(4)], np.int32)
        m = np.ones((h, w), np.float32)
        cv2.fillConvexPoly(m, cv2.convexHull(pts), rng.uniform(0.3, 0.75))
        f = f * cv2.GaussianBlur(m, (0, 0), max(1, min(h, w) / 30))[..., None]
    if rng.random() < 0.1:  # night: dark, warm light, noisy
        f = f * rng.uniform(0.12, 0.4) * np.array([0.8, 0.95, 1.15], np.float32)
    if rng.random() < 0.07:  # glare spot
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.6) * max(h, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        f = f + rng.uniform(0.2, 0.6) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
    if rng.random() < 0.08:  # over-exposed: washed out, little contrast left (sunlit light plates)
        f = f * rng.uniform(0.3, 0.6) + rng.uniform(0.3, 0.55)
    f = (f - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)
    f = np.clip(f, 0, 1) ** rng.uniform(0.7, 1.5)
    return (f * 255).astype(np.uint8)


def degrade(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Camera damage: blur, motion blur, sensor noise, JPEG."""
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.15:
        img = motion_blur(img, rng)
    if rng.random() < 0.6:
        sigma = rng.uniform(1, 10)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, sigma, img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 95)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def motion_blur(img: np.ndarray, rng: random.Random, angles: tuple[float, float] = (0, 180)) -> np.ndarray:
    """Blur along a line 3 to 7 px long at an angle (degrees) in `angles`: a moving car, a shaking camera."""
    k = rng.randint(3, 7)
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(*angles), 1.0)
    return cv2.filter2D(img, -1, cv2.warpAffine(kernel, m, (k, k)))


def scale_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """The image (H, W, 3 BGR uint8) with the colour saturation of every pixel times `factor`."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1].astype(np.float32) * factor, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def saturation(img: np.ndarray, rng: random.Random, low: float = 0.35, high: float = 2.2) -> np.ndarray:
    """The image with its colour saturation scaled by a log-uniform factor in [low, high]: cameras differ in
    their colour settings (vivid, pale)."""
    return scale_saturation(img, float(np.exp(rng.uniform(np.log(low), np.log(high)))))


def monochrome(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """The image (..., H, W, 3) as a monochrome camera sees it: one grey level from the three channels, mixed
    in random proportions (a night camera under infrared light weighs colours differently from the eye),
    repeated in all three. Gate cameras switch to this at night."""
    w = np.float32([rng.uniform(0.1, 1.0) for _ in range(3)])
    grey = np.clip((img.astype(np.float32) @ (w / w.sum()))[..., None], 0, 255).astype(np.uint8)
    return np.repeat(grey, 3, axis=-1)


def random_quad(w: float, h: float, rng: random.Random, tilt: float = 1.0) -> np.ndarray:
    """Corners of a w x h plate seen at an angle: rotation, shear, perspective (centred on 0,0)."""
    pts = np.float32([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    a = np.deg2rad(rng.gauss(0, 6) * tilt)
    shear = rng.gauss(0, 0.12) * tilt  # vertical edges lean (camera to the side, high camera)
    pts[:, 0] += pts[:, 1] * shear
    ys = rng.gauss(0, 0.1) * tilt  # horizontal edges slope (plate turned about the vertical axis)
    pts[:, 1] += pts[:, 0] * ys
    for i in range(4):  # perspective: one side nearer
        pts[i] += (rng.gauss(0, 0.03 * w * tilt), rng.gauss(0, 0.05 * h * tilt))
    rot = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T
