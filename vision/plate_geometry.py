"""Pure plate geometry shared by the reader and the training scripts: quads, rectification, CTC decoding."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

REC_W, REC_H = 96, 24
# Double-row plates (440x220 mm): the top row holds province and letter, the bottom row five characters.
# The rows are cut apart and laid side by side, so one single-row recogniser reads both layouts.
TOP_ROWS, TOP_COLS, BOTTOM_ROWS = (0.02, 0.38), (0.16, 0.84), (0.32, 1.0)
TOP_W = 27
DOUBLE_ROW_ASPECT = 2.1  # single-row plates are 3.1-3.4 wide per unit of height, double-row 2.0


def order_quad(pts: np.ndarray) -> np.ndarray:
    """Four points ordered top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]  # clockwise from about -180 degrees: tl, tr, br, bl in image coordinates
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def enclosing_quad(polygon: np.ndarray) -> np.ndarray | None:
    """Four corners around a convex polygon (n >= 4 points, in order): each time, the edge whose two
    neighbouring edges, extended until they meet, add the least area is replaced by their meeting
    point. A plate outline with bevelled corners gets its true corners back, shear and perspective
    included (a rotated rectangle cannot follow those). None when the edges do not close that way."""
    pts = [p.astype(np.float64) for p in np.asarray(polygon).reshape(-1, 2)]

    def cross(a: np.ndarray, b: np.ndarray) -> float:
        return float(a[0] * b[1] - a[1] * b[0])

    while len(pts) > 4:
        n, best = len(pts), None
        for i in range(n):
            a, b, c, d = pts[i - 1], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]
            u, v = b - a, c - d
            den = cross(u, v)
            if abs(den) < 1e-9:
                continue
            t, s = cross(d - a, v) / den, cross(d - a, u) / den
            if t <= 1 or s <= 1:  # the edges a-b and d-c meet only beyond b and c when extended outwards
                continue
            meet = a + t * u
            added = abs(cross(meet - b, c - b)) / 2
            if best is None or added < best[0]:
                best = (added, i, meet)
        if best is None:
            return None
        _, i, meet = best
        pts[i] = meet
        del pts[(i + 1) % n]
    return np.float32(pts)


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """Mean width and height of an ordered quad."""
    q = np.asarray(quad, np.float32)
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return float(w), float(h)


def warp_quad(image: np.ndarray, quad: np.ndarray, w: int, h: int) -> np.ndarray:
    """The quad's content warped into a w x h image, area-averaged when the quad is larger."""
    qw, qh = quad_size(quad)
    ww, wh = max(w, min(int(qw), 4 * w)), max(h, min(int(qh), 4 * h))
    dst = np.float32([[0, 0], [ww, 0], [ww, wh], [0, wh]])
    m = cv2.getPerspectiveTransform(np.asarray(quad, np.float32), dst)
    out = cv2.warpPerspective(image, m, (ww, wh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if (ww, wh) != (w, h):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return out


def join_rows(plate: np.ndarray) -> np.ndarray:
    """A rectified double-row plate (any size) as one REC_W x REC_H row: top row left, bottom row right."""
    h, w = plate.shape[:2]
    top = plate[int(h * TOP_ROWS[0]): int(h * TOP_ROWS[1]), int(w * TOP_COLS[0]): int(w * TOP_COLS[1])]
    bottom = plate[int(h * BOTTOM_ROWS[0]): int(h * BOTTOM_ROWS[1])]
    top = cv2.resize(top, (TOP_W, REC_H), interpolation=cv2.INTER_AREA)
    bottom = cv2.resize(bottom, (REC_W - TOP_W, REC_H), interpolation=cv2.INTER_AREA)
    return np.hstack([top, bottom])


def rectify(image: np.ndarray, quad: np.ndarray, double_row: bool) -> np.ndarray:
    """The recogniser's input (REC_H x REC_W x 3, BGR uint8) for one plate quad."""
    if double_row:
        return join_rows(warp_quad(image, quad, REC_W, REC_W // 2))
    return warp_quad(image, quad, REC_W, REC_H)


def expand_quad(quad: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """An ordered quad grown by fx of its width on each side and fy of its height on each side."""
    q = np.asarray(quad, np.float32)
    c = q.mean(axis=0)
    u = ((q[1] - q[0]) + (q[2] - q[3])) / 2  # along the plate
    v = ((q[3] - q[0]) + (q[2] - q[1])) / 2  # across the plate
    signs = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    return c + (q - c) + signs[:, :1] * u * fx + signs[:, 1:] * v * fy


def ctc_runs(probs: np.ndarray) -> list[tuple[int, int]]:
    """The columns (first, last + 1) of each character on the best path through CTC probabilities (blank first)."""
    return _runs(probs.argmax(axis=1).tolist())


def _runs(best: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for t, k in enumerate(best):
        if k and t and best[t - 1] == k:
            runs[-1] = (runs[-1][0], t + 1)
        elif k:
            runs.append((t, t + 1))
    return runs


def ctc_greedy(probs: np.ndarray, chars: str) -> tuple[str, float]:
    """Best path through CTC probabilities (T x (1 + len(chars)), blank first): text and its confidence.

    The confidence is the lowest per-character probability: one doubtful character makes a doubtful read.
    (Plain Python lists: it runs for every cut read, and numpy per character took four times as long.)
    """
    best = probs.argmax(axis=1).tolist()
    top = probs.max(axis=1).tolist()  # the best path's probability in each column
    runs = _runs(best)
    text = "".join(chars[best[t0] - 1] for t0, _ in runs)
    return text, (min(max(top[t0:t1]) for t0, t1 in runs) if runs else 0.0)


@lru_cache(maxsize=16)
def _template_indices(chars: str, template: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Each position's allowed characters as class indices (blank is 0)."""
    return tuple(np.array([chars.index(c) + 1 for c in allowed]) for allowed in template)


def ctc_fits(probs: np.ndarray, chars: str, templates: list[list[str]]) -> list[tuple[str, float, float]]:
    """For each template, the best CTC path whose i-th character is one of template[i]: text, confidence and
    the path's mean log-probability per frame (to compare templates); ("", 0.0, -inf) when none fits.

    Used when the unconstrained best path is not a valid plate (e.g. a digit where the province goes).
    Within a position the path may use different members of its set; the character read is the one with
    the highest summed probability over that position's frames. All templates run as one Viterbi pass
    over their states side by side (one numpy step per frame for all: the reader fits 3-4 templates to a
    read, and the per-frame steps, not the arithmetic, were the cost).
    """
    T = probs.shape[0]
    logp = np.log(np.maximum(probs, 1e-12))
    blocks = [2 * len(t) + 1 for t in templates]
    starts = np.cumsum([0] + blocks[:-1])
    n_states = sum(blocks)
    emit = np.empty((T, n_states), np.float64)
    top = np.zeros((T, n_states), np.int64)  # the likeliest allowed character per frame, at each character state
    first = np.zeros(n_states, bool)  # a template's first state: nothing comes before it
    best_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # by set of characters: its best per frame, and which
    for template, start, size in zip(templates, starts, blocks, strict=True):
        first[start] = True
        emit[:, start: start + size: 2] = logp[:, :1]
        for i, (allowed, ix) in enumerate(zip(template, _template_indices(chars, tuple(template)), strict=True)):
            if allowed not in best_of:
                likeliest = logp[:, ix].argmax(axis=1)
                best_of[allowed] = logp[np.arange(T), ix[likeliest]], ix[likeliest]
            emit[:, start + 2 * i + 1], top[:, start + 2 * i + 1] = best_of[allowed]
    # a character may follow the previous one without a blank only if it differs (else CTC merges them)
    jump_ok = np.zeros((T, n_states), bool)
    jump_ok[1:, 2:] = top[1:, 2:] != top[:-1, :-2]
    char_state = np.zeros(n_states, bool)
    for start, size in zip(starts, blocks, strict=True):
        char_state[start + 3: start + size: 2] = True  # the second character on: the first has no jump
    jump_ok &= char_state
    score = np.full(n_states, -np.inf)
    score[starts] = emit[0, starts]
    score[starts + 1] = emit[0, starts + 1]
    back = np.zeros((T, n_states), np.int64)
    options = np.full((3, n_states), -np.inf)  # stay, step from the state before, jump over a blank
    states = np.arange(n_states)
    for t in range(1, T):
        options[0] = score
        options[1, 1:] = score[:-1]
        options[1, first] = -np.inf
        options[2, 2:] = np.where(jump_ok[t, 2:], score[:-2], -np.inf)
        best = options.argmax(axis=0)
        score = options[best, states] + emit[t]
        back[t] = best
    steps = back.tolist()  # plain ints: the walk back is a Python loop
    fits = []
    for template, start, size in zip(templates, starts, blocks, strict=True):
        last = start + size - 1
        state = last if score[last] >= score[last - 1] else last - 1
        total = float(score[state])
        spans: list[list[int]] = [[] for _ in template]  # each position's frames (a path stays in a state in one run)
        for t in range(T - 1, -1, -1):
            if (state - start) % 2:
                spans[(state - start) // 2].append(t)
            state -= steps[t][state]
        text, confs = [], []
        for ix, span in zip(_template_indices(chars, tuple(template)), spans, strict=True):
            if not span:
                break
            run = probs[span[-1]: span[0] + 1]
            k = int(ix[run[:, ix].sum(axis=0).argmax()])
            text.append(chars[k - 1])
            confs.append(float(run[:, k].max()))
        fits.append(("".join(text), min(confs), total / T) if len(text) == len(template) else ("", 0.0, -np.inf))
    return fits
