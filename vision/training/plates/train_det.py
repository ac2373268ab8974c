"""Train the plate detector (a small fully convolutional net that paints plates) and export it to ONNX.

    python -m vision.training.plates.train_det --data /tmp/plates/det.npz --epochs 12 \
        --out vision/models/plate_det.onnx

Input 1x3xHxW BGR in 0..1 with H and W multiples of 32 (any size: the reader scales a photo so its long
side is 576); output 1x1x(H/4)x(W/4), the probability that a pixel lies on a plate. The reader turns the
painted regions into quads (`vision.plates`).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vision.training.plates.augment import monochrome
from vision.training.plates.unfold import load_onnx


def _conv(i: int, o: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class Detector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.s2 = _conv(3, 16, 2)
        self.s4 = nn.Sequential(_conv(16, 24, 2), _conv(24, 24))
        self.s8 = nn.Sequential(_conv(24, 48, 2), _conv(48, 48))
        self.s16 = nn.Sequential(_conv(48, 64, 2), _conv(64, 64), _conv(64, 64, dilation=2))
        self.s32 = nn.Sequential(_conv(64, 96, 2), _conv(96, 96, dilation=2))
        self.lat16 = nn.Conv2d(64, 96, 1)
        self.up16 = _conv(96, 64)
        self.lat8 = nn.Conv2d(48, 64, 1)
        self.up8 = _conv(64, 32)
        self.lat4 = nn.Conv2d(24, 32, 1)
        self.head = nn.Sequential(_conv(32, 32), nn.Conv2d(32, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f4 = self.s4(self.s2(x - 0.5))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        u = self.up16(F.interpolate(f32, scale_factor=2.0, mode="nearest") + self.lat16(f16))
        u = self.up8(F.interpolate(u, scale_factor=2.0, mode="nearest") + self.lat8(f8))
        return self.head(F.interpolate(u, scale_factor=2.0, mode="nearest") + self.lat4(f4))


class Exported(nn.Module):
    def __init__(self, model: Detector) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(3.0))
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def train(args: argparse.Namespace) -> Detector:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = np.load(args.data)
    images, masks = data["images"], data["masks"]
    n_val = 300
    model = Detector()
    if args.init and args.init.suffix == ".onnx":  # the shipped detector
        load_onnx(model, args.init, torch.from_numpy(images[n_val: n_val + 64]).permute(0, 3, 1, 2).float() / 255)
    elif args.init:
        model.load_state_dict(torch.load(args.init))
    steps = min(args.max_steps, args.epochs * ((len(images) - n_val) // args.batch))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps + 10, pct_start=0.1)
    t0, step = time.time(), 0
    for epoch in range(args.epochs):
        order = rng.permutation(np.arange(n_val, len(images)))
        for i in range(0, len(order) - args.batch + 1, args.batch):
            if step >= steps:
                break
            idx = np.sort(order[i: i + args.batch])
            # a random crop (multiple of 32) of the stored samples: cheaper steps, same plates
            c, s = args.crop, images.shape[1]
            oy, ox = (int(v) * 4 for v in rng.integers(0, (s - c) // 4 + 1, 2))
            crops = images[idx, oy: oy + c, ox: ox + c]
            y = masks[idx, oy // 4: (oy + c) // 4, ox // 4: (ox + c) // 4]
            y = torch.from_numpy(y).float()[:, None] / 255.0
            if args.mono_share:  # (no draws when off, so that earlier runs repeat exactly)
                for j in np.flatnonzero(rng.random(len(idx)) < args.mono_share):
                    crops[j] = monochrome(crops[j], random)
            x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
            if random.random() < 0.5:
                x, y = x.flip(3), y.flip(3)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s",
                      flush=True)
        model.eval()
        with torch.no_grad():
            x = torch.from_numpy(images[:n_val]).permute(0, 3, 1, 2).float() / 255.0
            y = torch.from_numpy(masks[:n_val]).float()[:, None] / 255.0
            p = torch.sigmoid(model(x)) > 0.5
            t = y > 0.5
            iou = (p & t).sum().item() / max(1, (p | t).sum().item())
        model.train()
        print(f"epoch {epoch}: synthetic validation IoU {iou:.3f}", flush=True)
        torch.save(model.state_dict(), args.out.with_suffix(".pt"))
    return model


def export(model: Detector, out: Path) -> None:
    model.eval()
    torch.onnx.export(Exported(model), torch.zeros(1, 3, 320, 512), str(out), input_names=["image"],
                      output_names=["mask"],
                      dynamic_axes={"image": {2: "h", 3: "w"}, "mask": {2: "h4", 3: "w4"}},
                      opset_version=13, dynamo=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=160, help="train on random crops this size (multiple of 32)")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mono-share", type=float, default=0.0,
                    help="share of the samples made monochrome, as a night camera sees them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", type=Path, help="start from these weights (.pt, or a shipped .onnx)")
    ap.add_argument("--export-only", action="store_true", help="export the weights given by --init")
    ap.add_argument("--out", type=Path, default=Path("vision/models/plate_det.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.export_only:
        model = Detector()
        model.load_state_dict(torch.load(args.init))
    else:
        model = train(args)
    export(model, args.out)


if __name__ == "__main__":
    main()
