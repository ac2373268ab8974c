"""Damage that a new camera brings: other angles and framing, sun and shadow, night, rain, blur, noise, colour
casts, and a neighbour's car reaching into an empty space. Works on BASE x BASE BGR patches, gives PATCH x PATCH."""

from __future__ import annotations

import cv2
import numpy as np

from vision.occupancy import PATCH


def geometry(img: np.ndarray, rng: np.random.Generator, zooms: tuple[float, float] = (0.6, 1.6)) -> np.ndarray:
    """Dihedral turn, then a random rotation, scale, shift and perspective, cut to PATCH x PATCH."""
    k = int(rng.integers(0, 4))
    img = np.rot90(img, k)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    s = img.shape[0]
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    # below 1: more of the surroundings; above: part of the space only, as when a car close to an oblique camera is
    # larger than the box drawn for it
    zoom = float(np.exp(rng.uniform(np.log(zooms[0]), np.log(zooms[1]))))
    angle = np.deg2rad(rng.uniform(-15, 15))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    c = np.float32([s / 2, s / 2]) + rng.uniform(-0.08, 0.08, 2).astype(np.float32) * s
    quad = (src - s / 2) @ rot.T * zoom + c + rng.uniform(-0.07, 0.07, (4, 2)).astype(np.float32) * s
    dst = np.float32([[0, 0], [PATCH, 0], [PATCH, PATCH], [0, PATCH]])
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(np.ascontiguousarray(img), m, (PATCH, PATCH), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)


def photometric(img: np.ndarray, rng: np.random.Generator, strong: bool = False) -> np.ndarray:
    """Light and the camera's rendering of it. `strong`: wider contrast and brightness, hue turned, each colour
    channel its own gamma."""
    if strong and rng.random() < 0.3:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(rng.integers(0, 180))) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    x = img.astype(np.float32) / 255.0
    if rng.random() < 0.3:  # grey or a colour cast (white balance, sodium lamps)
        g = x.mean(axis=2, keepdims=True)
        x = g + (x - g) * rng.uniform(0.0, 1.3)
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    lo, hi, shift = (0.45, 1.6, 0.3) if strong else (0.6, 1.4, 0.25)
    x = (x - 0.5) * rng.uniform(lo, hi) + 0.5 + rng.uniform(-shift, shift)  # contrast, brightness
    x = np.clip(x, 0, 1) ** (rng.uniform(0.6, 1.7, 3 if strong else 1).astype(np.float32))  # gamma
    if rng.random() < 0.35:  # a shadow edge across the space (a building, a tree, the car beside)
        h, w = x.shape[:2]
        a = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        side = (np.cos(a) * (xx - w / 2) + np.sin(a) * (yy - h / 2)) > rng.uniform(-w / 3, w / 3)
        x = np.where(side[..., None], x * rng.uniform(0.35, 0.75), x)
    if rng.random() < 0.12:  # night: dark, noisy, maybe lit from one side
        x = x * rng.uniform(0.1, 0.35)
    if rng.random() < 0.15:  # rain streaks
        streaks = np.zeros(x.shape[:2], np.float32)
        for _ in range(int(rng.integers(5, 25))):
            x0, y0 = int(rng.integers(0, PATCH)), int(rng.integers(0, PATCH))
            cv2.line(streaks, (x0, y0), (x0 + int(rng.integers(-3, 4)), y0 + int(rng.integers(4, 12))),
                     float(rng.uniform(0.1, 0.35)), 1)
        x = x + streaks[..., None]
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        x = cv2.GaussianBlur(x, (k, k), 0)
    if rng.random() < 0.4:
        x = x + rng.normal(0, rng.uniform(0.01, 0.06), x.shape).astype(np.float32)
    out = (np.clip(x, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.3:  # JPEG
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 80))])
        out = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else out
    return out


def neighbour(empty: np.ndarray, car: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A strip of an occupied patch over one side of an empty one: the car next door leans into the view, the
    space is still free."""
    out = empty.copy()
    s = out.shape[0]
    depth = int(s * rng.uniform(0.1, 0.3))
    side = int(rng.integers(0, 4))
    out = np.rot90(out, side).copy()
    out[:, :depth] = np.rot90(car, side)[:, -depth:]
    return np.rot90(out, -side).copy()


def markings(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Painted lines, a kerb or paving stones: what an empty space of another car park has and a car has not
    (the classifier must not take them for a car)."""
    out = img.copy()
    s = out.shape[0]
    for _ in range(int(rng.integers(1, 4))):
        paint = tuple(float(c) for c in (rng.uniform(150, 255, 3) if rng.random() < 0.7 else
                                          (rng.uniform(0, 60), rng.uniform(150, 230), rng.uniform(180, 255))))
        edge = int(rng.integers(0, 4))
        a = rng.uniform(0.05, 0.95) * s
        b = a + rng.uniform(-0.25, 0.25) * s
        p0, p1 = ((a, 0), (b, s)) if edge % 2 else ((0, a), (s, b))
        layer = out.copy()
        cv2.line(layer, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), paint, int(rng.integers(1, 5)))
        alpha = float(rng.uniform(0.4, 1.0))
        out = cv2.addWeighted(layer, alpha, out, 1 - alpha, 0)
    if rng.random() < 0.25:  # a kerb or a strip of grass along one side
        depth = int(s * rng.uniform(0.08, 0.25))
        k = int(rng.integers(0, 4))
        band = np.rot90(out, k).copy()
        band[:, :depth] = np.clip(rng.uniform(40, 200, 3) + rng.normal(0, 12, band[:, :depth].shape), 0, 255)
        out = np.rot90(band, -k).copy()
    if rng.random() < 0.15:  # paving stones
        step = int(rng.integers(4, 10))
        grid = out.astype(np.float32)
        grid[::step] *= 0.75
        grid[:, ::step] *= 0.75
        out = np.clip(grid, 0, 255).astype(np.uint8)
    return out


def texture(img: np.ndarray, rng: np.random.Generator, strong: bool = False) -> np.ndarray:
    """Stains, patches of repair and worn asphalt: low-frequency noise and blotches at a random scale (the empty
    spaces of another car park are seldom as clean as those of the training cameras). `strong`: blotches of any
    size up to the whole space, as light or dark as a car's paint, and irregular ones."""
    s = img.shape[0]
    noise = cv2.GaussianBlur(rng.normal(0, 1, (s, s)).astype(np.float32), (0, 0), float(rng.uniform(1, 6)))
    noise *= float(rng.uniform(6, 28)) / (noise.std() + 1e-6)
    out = img.astype(np.float32) + noise[..., None]
    big, amp = (s // 2, (-80, 80)) if strong else (s // 3, (-45, 35))
    for _ in range(int(rng.integers(0, 6 if strong else 4))):
        mask = np.zeros((s, s), np.float32)
        centre = (int(rng.integers(0, s)), int(rng.integers(0, s)))
        axes = (int(rng.integers(2, big)), int(rng.integers(2, big)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5)
        out += mask[..., None] * float(rng.uniform(*amp))
    if strong and rng.random() < 0.4:  # an irregular stain: smooth noise above a level
        blob = cv2.GaussianBlur(rng.normal(0, 1, (s, s)).astype(np.float32), (0, 0), float(rng.uniform(2, 8)))
        blob = (blob > np.quantile(blob, rng.uniform(0.4, 0.9))).astype(np.float32)
        out += cv2.GaussianBlur(blob, (0, 0), 1.0)[..., None] * float(rng.uniform(*amp))
    return np.clip(out, 0, 255).astype(np.uint8)


def resolution(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A camera farther away or of fewer pixels: down to 12-32 pixels and back up."""
    small = int(rng.integers(12, 33))
    down = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)


def branches(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bare twigs of a tree between the camera and the space: thin dark or light lines branching over it."""
    out = img.copy()
    s = out.shape[0]
    tone = tuple(float(v) for v in (rng.uniform(20, 90, 3) if rng.random() < 0.7 else rng.uniform(150, 230, 3)))
    for _ in range(int(rng.integers(3, 12))):
        x, y = float(rng.uniform(0, s)), float(rng.uniform(0, s))
        a = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(2, 6))):
            a += rng.uniform(-0.6, 0.6)
            n = (x + np.cos(a) * rng.uniform(3, 12), y + np.sin(a) * rng.uniform(3, 12))
            cv2.line(out, (int(x), int(y)), (int(n[0]), int(n[1])), tone, 1, cv2.LINE_AA)
            x, y = n
    return out


def colour_transfer(img: np.ndarray, ref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The colour statistics of another camera's patch (per-channel mean and spread in Lab, part of the way there):
    a camera's white balance, asphalt colour and contrast must not tell the network anything. The reference has
    the same label, so an empty space does not take on the contrast of a car."""
    a = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32)
    b = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).astype(np.float32)
    ma, sa = a.mean(axis=(0, 1)), a.std(axis=(0, 1)) + 1.0
    mb, sb = b.mean(axis=(0, 1)), b.std(axis=(0, 1)) + 1.0
    t = float(rng.uniform(0.4, 1.0))
    ratio = np.clip((sb / sa) ** t, 0.6, 1.6)
    out = (a - ma) * ratio + ma + (mb - ma) * t
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def soft_ellipse(s: int, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged ellipse near the middle of an s x s square, 0..1 (where a car sits in its space)."""
    mask = np.zeros((s, s), np.float32)
    centre = (int(s / 2 + rng.uniform(-0.08, 0.08) * s), int(s / 2 + rng.uniform(-0.08, 0.08) * s))
    axes = (int(s * rng.uniform(0.28, 0.5)), int(s * rng.uniform(0.34, 0.56)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(-12, 12)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1.5, 4.0)))[..., None]


def paste_car(car: np.ndarray, empty: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The car of an occupied patch (its middle, through a soft ellipse) on the empty space of another camera: the
    surroundings (kerb, lines, islands, asphalt) then say nothing about the label. Still occupied."""
    m = soft_ellipse(car.shape[0], rng)
    return (car.astype(np.float32) * m + empty.astype(np.float32) * (1 - m)).astype(np.uint8)


def mix_empty(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two empty spaces (of different cameras) joined along a soft, random straight seam: markings, kerbs and
    asphalt of several car parks in one free space. Still free."""
    s = a.shape[0]
    ang = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    d = np.cos(ang) * (xx - s / 2) + np.sin(ang) * (yy - s / 2) - rng.uniform(-s / 4, s / 4)
    m = (1 / (1 + np.exp(-d / rng.uniform(1.0, 4.0))))[..., None]
    return (a.astype(np.float32) * m + b.astype(np.float32) * (1 - m)).astype(np.uint8)


def _other(pool: np.ndarray, cams: np.ndarray | None, cam: object, rng: np.random.Generator) -> int | None:
    """An index from `pool`, of another camera than `cam` when there is one."""
    if len(pool) == 0:
        return None
    if cams is not None:
        foreign = pool[cams[pool] != cam]
        if len(foreign):
            pool = foreign
    return int(rng.choice(pool))


def augment(batch: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, mild: bool = False,
            cams: np.ndarray | None = None, mixing: float = 0.0, strong: str = "none") -> np.ndarray:
    """BASE patches -> augmented PATCH patches (labels are not changed by any of it). `mild`: only turns, a little
    zoom and the light (the end of the shipped model's training, to fit the cameras it knows closely). `cams`: the
    camera of each patch, so that cars, empty spaces and colours are mixed across cameras; `mixing` scales how
    often (0: never). `strong`: "stains", "light" or "both": the wider ones of `texture`, `photometric`."""
    occupied = np.flatnonzero(labels == 1)
    empty = np.flatnonzero(labels == 0)
    out = np.empty((len(batch), PATCH, PATCH, 3), np.uint8)
    for i, (img, y) in enumerate(zip(batch, labels, strict=True)):
        if mild:
            out[i] = photometric(geometry(img, rng, (0.9, 1.15)), rng)
            continue
        cam = cams[i] if cams is not None else None
        if y == 1 and rng.random() < 0.35 * mixing:
            j = _other(empty, cams, cam, rng)
            if j is not None:
                img = paste_car(img, batch[j], rng)
        if y == 0 and rng.random() < 0.25 * mixing:
            j = _other(empty, cams, cam, rng)
            if j is not None:
                img = mix_empty(img, batch[j], rng)
        if rng.random() < 0.35 * mixing:
            j = _other(occupied if y == 1 else empty, cams, cam, rng)
            if j is not None:
                img = colour_transfer(img, batch[j], rng)
        if rng.random() < (0.5 if y == 0 else 0.1):
            img = markings(img, rng)
        if y == 0 and len(occupied) and rng.random() < 0.15:
            img = neighbour(img, batch[rng.choice(occupied)], rng)
        if rng.random() < (0.5 if y == 0 else 0.2):
            img = texture(img, rng, strong in ("stains", "both"))
        if rng.random() < 0.15:
            img = branches(img, rng)
        patch = geometry(img, rng)
        if rng.random() < 0.3:
            patch = resolution(patch, rng)
        out[i] = photometric(patch, rng, strong in ("light", "both"))
    return out
