"""Train the occupancy network and export it to ONNX (for cv2.dnn). Training only: needs torch (see README).

    python -m vision.training.parking.train --fold all --out vision/models/parking_occ.onnx
    python -m vision.training.parking.train --fold ufpr05 --out vision/training/parking/folds/ufpr05.onnx

A fold names what the network does NOT see, so that it can be measured there (leave one camera out):
`ufpr05` (PKLot UFPR05 frames), `cnr3` (CNRPark+EXT camera 3 frames), `cnra` (the CNRPark camera A patches),
`pklot` (the PUCPR and UFPR04 patches). `all` sees everything: the shipped model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vision.occupancy import EDGES, MARGIN, PATCH, inputs
from vision.training.parking.augment import augment
from vision.training.parking.data import frame_patches, shared_patches

FOLDS = {  # fold -> (frame cameras trained on, patch cameras trained on)
    "ufpr05": (("CNR-EXT3",), ("CNRPark_A", "PUCPR", "UFPR04")),
    "cnr3": (("UFPR05",), ("CNRPark_A", "PUCPR", "UFPR04")),
    "cnra": (("UFPR05", "CNR-EXT3"), ("PUCPR", "UFPR04")),
    "pklot": (("CNR-EXT3", "UFPR05"), ("CNRPark_A",)),
    "all": (("UFPR05", "CNR-EXT3"), ("CNRPark_A", "PUCPR", "UFPR04")),
}


def make_net(channels: int = 3, width: float = 1.0) -> nn.Module:
    """Four 3x3 conv layers (16-32-64-64 times `width`) with pooling, global average, two logits: ~60k parameters
    at width 1. `channels`: 3 (the colour patch) or 4 (and its edges, vision.occupancy.edges)."""
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    a, b, c = (int(round(n * width)) for n in (16, 32, 64))
    return nn.Sequential(*block(channels, a), nn.MaxPool2d(2), *block(a, b), nn.MaxPool2d(2), *block(b, c),
                         nn.MaxPool2d(2), *block(c, c), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(c, 2))


def training_set(fold: str, jitter: int, frame_weight: float,
                 margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(patches, labels, sampling weights, camera names): a frame space (and each of its jittered copies) weighs
    `frame_weight` times a labelled crop."""
    frame_cams, patch_cams = FOLDS[fold]
    xs, ys, ws, cs = [], [], [], []
    x, y, c = shared_patches(patch_cams)
    xs.append(x), ys.append(y), ws.append(np.ones(len(y))), cs.append(c)
    for cam in frame_cams:
        x, y = frame_patches(cam, jitter=jitter, seed=sum(map(ord, cam)), margin=margin)
        xs.append(x), ys.append(y), ws.append(np.full(len(y), frame_weight)), cs.append(np.full(len(y), cam))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(cs)


def train(fold: str, out: Path, *, epochs: int, batch: int, lr: float, jitter: int, frame_weight: float,
          mild_tail: float, seed: int, mixing: float, edge_channel: bool, width: float, margin: float,
          strong: str) -> None:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y, w, cams = training_set(fold, jitter, frame_weight, margin)
    print(f"fold {fold}: {len(y)} patches, {int(y.sum())} occupied", flush=True)
    net = make_net(4 if edge_channel else 3, width)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(y) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    p = w / w.sum()
    t0 = time.time()
    for step in range(steps):
        idx = rng.choice(len(y), batch, p=p)
        mild = step >= steps * (1 - mild_tail)
        xb = torch.from_numpy(inputs(augment(x[idx], y[idx], rng, mild=mild, cams=cams[idx], mixing=mixing,
                                             strong=strong), edge_channel))
        yb = torch.from_numpy(y[idx])
        net.train()
        loss = loss_fn(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps - 1:
            print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    export(net, out, 4 if edge_channel else 3)


def export(net: nn.Module, out: Path, channels: int) -> None:
    net.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, channels, PATCH, PATCH)
    torch.onnx.export(net, dummy, str(out), input_names=["patch"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"patch": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fold", choices=sorted(FOLDS), default="all")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--jitter", type=int, default=4, help="extra copies of each frame space with moved corners")
    ap.add_argument("--frame-weight", type=float, default=1.0, help="a frame space weighs this many crops")
    ap.add_argument("--mild-tail", type=float, default=0.0, help="share of the steps, at the end, with mild "
                    "augmentation only")
    ap.add_argument("--mixing", type=float, default=0.0, help="how often cars, empty spaces and colours are "
                    "mixed across cameras (0: never, the shipped recipe; 1: the trial in the README)")
    ap.add_argument("--edges", type=int, default=int(EDGES), help="1: a fourth input channel, the patch's edges "
                    "(must match vision.occupancy.EDGES to be used by the gateway)")
    ap.add_argument("--width", type=float, default=1.0, help="channels of every layer times this")
    ap.add_argument("--margin", type=float, default=MARGIN, help="frame spaces cut with this margin")
    ap.add_argument("--strong", choices=("none", "stains", "light", "both"), default="none",
                    help="wider stains (of any size, as dark or light as paint), or light (contrast, hue, gamma per "
                    "colour), or both, in augmentation")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train(args.fold, args.out, epochs=args.epochs, batch=args.batch, lr=args.lr, jitter=args.jitter,
          frame_weight=args.frame_weight, mild_tail=args.mild_tail, seed=args.seed, mixing=args.mixing,
          edge_channel=bool(args.edges), width=args.width, margin=args.margin,
          strong=args.strong)


if __name__ == "__main__":
    main()
