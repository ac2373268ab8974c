"""Train the plate recogniser (CTC over 24 columns + a colour head) and export it to ONNX.

    python -m vision.training.plates.train_rec --data /tmp/plates/rec_synth.npz --epochs 8 \
        --out vision/models/plate_rec.onnx

Input 1x3x24x96 BGR in 0..1 (double-row plates arrive already joined into one row, see
`vision.plate_geometry.join_rows`). Outputs `probs` (N x 24 x (1 + len(CHARS)), blank first) and
`color` (N x 5 probabilities in `render.COLORS` order). Training mixes the synthetic set with the 'train'
half of the real crops (about 10 % of the samples, augmented); the 'holdout' half is only measured.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from vision.plate_geometry import REC_H, REC_W, ctc_greedy
from vision.training.plates.augment import monochrome, motion_blur, saturation
from vision.training.plates.rec_data import decode, real_crops
from vision.training.plates.render import CHARS, COLORS
from vision.training.plates.swap import Swapper, cells
from vision.training.plates.unfold import load_onnx

T = REC_W // 4
IGNORE = -100  # a colour label the colour loss skips (nn.CrossEntropyLoss's ignore_index)


def _block(i: int, o: int) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class Recogniser(nn.Module):
    """About 30 M multiply-adds per plate at width 1 (0.28 M parameters): small enough to train on two
    shared CPU cores. `width` multiplies every layer's channels (multiply-adds grow with its square)."""

    def __init__(self, n_classes: int = len(CHARS) + 1, n_colors: int = len(COLORS), width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4, c5, c6 = (round(c * width) for c in (16, 32, 64, 64, 96, 128))
        self.features = nn.Sequential(
            *_block(3, c1), nn.MaxPool2d(2),  # 12 x 48
            *_block(c1, c2), nn.MaxPool2d(2),  # 6 x 24
            *_block(c2, c3), *_block(c3, c4), *_block(c4, c5),
        )
        self.collapse = nn.Sequential(nn.Conv2d(c5, c6, (REC_H // 4, 1), bias=False), nn.BatchNorm2d(c6),
                                      nn.ReLU())
        self.context = nn.Sequential(nn.Conv2d(c6, c6, (1, 5), padding=(0, 2), bias=False),
                                     nn.BatchNorm2d(c6), nn.ReLU(), nn.Dropout(0.1))
        self.cls = nn.Conv2d(c6, n_classes, 1)
        self.color = nn.Linear(c5, n_colors)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x - 0.5)
        logits = self.cls(self.context(self.collapse(f))).squeeze(2).permute(0, 2, 1)  # N x T x C
        return logits, self.color(f.mean(dim=(2, 3)))


def widen_into(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load the weights of a narrower recogniser (`state`) into the wider `model` so that it computes
    the same reads (Net2Net-style): the old channels keep their weights, the new channels start from
    `model`'s random weights, and every weight from a new channel into an old one starts at zero, so
    the new channels add nothing until training makes them useful."""
    own = model.state_dict()
    with torch.no_grad():
        for name, old in state.items():
            new = own[name]
            if new.shape == old.shape:
                new.copy_(old)
                continue
            if new.dim() >= 2:  # conv / linear weight: out x in x ...
                new[: old.shape[0], old.shape[1]:] = 0
                new[: old.shape[0], : old.shape[1]] = old
            else:  # bias, batch-norm weight, bias and statistics
                new[: old.shape[0]] = old
    model.load_state_dict(own)


class Exported(nn.Module):
    """The recogniser with softmaxes, as shipped."""

    def __init__(self, model: Recogniser) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, color = self.model(x)
        return torch.softmax(logits, dim=2), torch.softmax(color, dim=1)


def recolour(img: np.ndarray, rng: random.Random) -> tuple[np.ndarray, int]:
    """A real light-on-blue crop redrawn as dark characters on a new-energy (or yellow) plate, and that
    colour's index: the real plate font (and real 皖) in the dark-on-light plates the real set lacks."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lo, hi = np.percentile(g, (5, 95))
    m = np.clip((g - lo) / max(hi - lo, 1.0), 0, 1)[..., None] ** rng.uniform(0.8, 1.4)
    h = img.shape[0]
    if rng.random() < 0.75:
        color = COLORS.index("green")
        top = np.float32([rng.uniform(200, 250), rng.uniform(225, 255), rng.uniform(200, 245)])
        bottom = np.float32([rng.uniform(70, 180), rng.uniform(170, 235), rng.uniform(40, 170)])
    else:
        color = COLORS.index("yellow")
        top = bottom = np.float32([rng.uniform(0, 50), rng.uniform(160, 215), rng.uniform(210, 255)])
    t = np.linspace(rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.2), h, dtype=np.float32).clip(0, 1)[:, None, None]
    bg = top * (1 - t) + bottom * t
    fg = np.float32([rng.uniform(0, 50)] * 3)
    return np.clip(bg * (1 - m) + fg * m, 0, 255).astype(np.uint8), color


def augment_real(img: np.ndarray, rng: random.Random, motion_share: float = 0.0) -> np.ndarray:
    """Light damage for real crops: shift/scale, colour cast, blur (`motion_share` of the unblurred ones
    motion blur), noise."""
    h, w = img.shape[:2]
    s = rng.uniform(0.92, 1.08)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-3, 3), s)
    m[:, 2] += (rng.uniform(-3, 3), rng.uniform(-2, 2))
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    f = img.astype(np.float32) * np.array([rng.uniform(0.75, 1.25) for _ in range(3)], np.float32)
    f = (f - 128) * rng.uniform(0.7, 1.2) + 128 + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.2))
    elif motion_share and rng.random() < motion_share:  # mostly along the plate: a car passing the gate
        f = motion_blur(f, rng, (-20, 20))
    f += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, 6), f.shape)
    return np.clip(f, 0, 255).astype(np.uint8)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def evaluate(model: Recogniser, data: dict[str, np.ndarray]) -> tuple[float, float]:
    """Exact-read share and colour accuracy."""
    model.eval()
    ok = cok = 0
    with torch.no_grad():
        for i in range(0, len(data["images"]), 256):
            logits, color = model(to_tensor(data["images"][i: i + 256]))
            probs = torch.softmax(logits, 2).numpy()
            for j, p in enumerate(probs):
                label = decode(data["labels"][i + j])
                ok += ctc_greedy(p, CHARS)[0] == label
            cok += int((color.argmax(1).numpy() == data["colors"][i: i + 256]).sum())
    model.train()
    n = len(data["images"])
    return ok / n, cok / n


def batches(synth: dict, real: dict, batch: int, real_share: float, rng: random.Random,
            other_weight: float = 1.0, recolour_share: float = 0.0, swapper: Swapper | None = None,
            swap_share: float = 0.0, mono_share: float = 0.0, motion_share: float = 0.0,
            saturation_share: float = 0.0):
    """Batches of synthetic samples topped up with augmented real crops; real crops of provinces other
    than 皖 (a few per cent of the real set) are drawn `other_weight` times as often as 皖 ones,
    `swap_share` of them are replaced by a real crop with characters swapped (`swap.Swapper`) and
    `recolour_share` are redrawn as new-energy or yellow plates (`recolour`). `mono_share` of all samples
    are made monochrome (`augment.monochrome`), their colour label IGNORE: a night camera shows no colour;
    before that `saturation_share` of all samples get their colour saturation scaled (`augment.saturation`)."""
    n = len(synth["images"])
    order = np.random.default_rng(rng.getrandbits(32)).permutation(n)
    n_real = int(batch * real_share)
    wan = CHARS.index("皖") + 1
    weights = [1.0 if label[0] == wan else other_weight for label in real["labels"]]
    for i in range(0, n - batch + 1, batch - n_real):
        idx = order[i: i + batch - n_real]
        ridx = rng.choices(range(len(real["images"])), weights, k=n_real)
        real_imgs, real_colors, real_labels = [], real["colors"][ridx].copy(), real["labels"][ridx].copy()
        for j, k in enumerate(ridx):
            img = real["images"][k]
            if swapper is not None and rng.random() < swap_share:
                img, real_labels[j], made_from = swapper.swap(rng)
                real_colors[j] = real["colors"][made_from]
            if rng.random() < recolour_share:
                img, real_colors[j] = recolour(img, rng)
            real_imgs.append(augment_real(img, rng, motion_share))
        imgs = np.concatenate([synth["images"][idx], np.stack(real_imgs)])
        labels = np.concatenate([synth["labels"][idx], real_labels])
        colors = np.concatenate([synth["colors"][idx], real_colors]).astype(np.int64)
        if saturation_share:  # (no draws when off, so that earlier runs repeat exactly)
            for j in range(len(imgs)):
                if rng.random() < saturation_share:
                    imgs[j] = saturation(imgs[j], rng)
        if mono_share:
            for j in range(len(imgs)):
                if rng.random() < mono_share:
                    imgs[j], colors[j] = monochrome(imgs[j], rng), IGNORE
        yield (to_tensor(imgs), torch.from_numpy(labels.astype(np.int64)),
               torch.from_numpy(colors))


def train(args: argparse.Namespace) -> Recogniser:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    parts = [dict(np.load(path)) for path in args.data]
    for part in parts:
        if part["images"].shape[1:3] != (REC_H, REC_W):  # made at a larger size: shrink as rectify would
            part["images"] = np.stack([cv2.resize(im, (REC_W, REC_H), interpolation=cv2.INTER_AREA)
                                       for im in part["images"]])
    synth = {k: np.concatenate([p[k] for p in parts]) for k in ("images", "labels", "colors")}
    real, holdout = real_crops("train"), real_crops("holdout")
    print(f"synthetic {len(synth['images'])}, real train {len(real['images'])}, "
          f"holdout {len(holdout['images'])}")
    swapper = None
    if args.swap_share > 0:
        swapper = Swapper(real["images"], real["labels"], cells(real["images"], real["labels"], args.swap_model)[0])
        print(f"character swaps from {len(swapper.ok)} real train crops")
    model = Recogniser(width=args.width)
    if args.init and args.init.suffix == ".onnx":
        pick = np.random.default_rng(args.seed).choice(len(synth["images"]), 448, replace=False)
        load_onnx(model, args.init, to_tensor(np.concatenate([synth["images"][pick], real["images"][:64]])))
    elif args.init:
        widen_into(model, torch.load(args.init))
    steps = args.epochs * (len(synth["images"]) // int(args.batch * (1 - args.real_share)))
    steps = min(steps, args.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps + 10, pct_start=0.15)
    ctc, ce = nn.CTCLoss(blank=0, zero_infinity=True), nn.CrossEntropyLoss()
    t0, step = time.time(), 0
    for epoch in range(args.epochs):
        for x, labels, colors in batches(synth, real, args.batch, args.real_share, rng, args.other_weight,
                                           args.recolour_share, swapper, args.swap_share, args.mono_share,
                                           args.motion_share, args.saturation_share):
            if step >= steps:
                break
            logits, color = model(x)
            lengths = (labels > 0).sum(1)
            targets = labels[labels > 0]
            logp = torch.log_softmax(logits, 2).permute(1, 0, 2)
            loss = ctc(logp, targets, torch.full((len(x),), T, dtype=torch.long), lengths)
            loss = loss + 0.2 * ce(color, colors)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s",
                      flush=True)
        acc, cacc = evaluate(model, holdout)
        print(f"epoch {epoch}: real holdout exact {acc:.3f} colour {cacc:.3f}", flush=True)
        torch.save(model.state_dict(), args.out.with_suffix(".pt"))
    return model


def export(model: Recogniser, out: Path) -> None:
    model.eval()
    torch.onnx.export(Exported(model), torch.zeros(1, 3, REC_H, REC_W), str(out), input_names=["image"],
                      output_names=["probs", "color"], dynamic_axes={"image": {0: "n"}}, opset_version=13,
                      dynamo=False)
    (out.parent / "plate_chars.txt").write_text(CHARS + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--real-share", type=float, default=0.1)
    ap.add_argument("--other-weight", type=float, default=1.0,
                    help="how much more often real crops of provinces other than 皖 are drawn")
    ap.add_argument("--recolour-share", type=float, default=0.0,
                    help="share of real crops redrawn as dark-on-light (new-energy, yellow) plates")
    ap.add_argument("--swap-share", type=float, default=0.0,
                    help="share of the real crops replaced by real crops with characters swapped (swap.py)")
    ap.add_argument("--swap-model", type=Path, default=Path("vision/models/plate_rec.onnx"),
                    help="the recogniser whose reads check where the characters of a real crop are")
    ap.add_argument("--mono-share", type=float, default=0.0,
                    help="share of all samples made monochrome, as a night camera sees them")
    ap.add_argument("--motion-share", type=float, default=0.0,
                    help="share of the real crops given motion blur along the plate")
    ap.add_argument("--saturation-share", type=float, default=0.0,
                    help="share of all samples with their colour saturation scaled 0.35x-2.2x (cameras' settings)")
    ap.add_argument("--width", type=float, default=1.0,
                    help="channel multiplier; --init from a narrower .pt widens it (see widen_into)")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", type=Path, help="start from these weights (.pt, or a shipped .onnx)")
    ap.add_argument("--out", type=Path, default=Path("vision/models/plate_rec.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = train(args)
    export(model, args.out)


if __name__ == "__main__":
    main()
