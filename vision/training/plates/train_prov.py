"""Train the province classifier and export it to ONNX.

    python -m vision.training.plates.train_prov --data /tmp/plates/prov_synth.npz --steps 3000 \
        --out vision/models/plate_prov.onnx

The recogniser reads the province as one of 24 CTC columns of a 96x24 cut, where its glyph is about 10x20 pixels;
on synthetic frames the province alone was 27 of its 59 misses (README, "Where the synthetic frames' misses
are"). This network looks only at the left third of the same cut (`LEFT` columns: the province, the letter and
some margin, wherever a loose or tight cut put them) and names the province (`CLASSES`); the reader multiplies
its scores into the recogniser's province columns (`vision.plates.PlateReader._forward`).

Input N x 3 x 24 x 32 BGR in 0..1; output `province` (N x len(CLASSES) probabilities). Samples: the recogniser's
synthetic cuts (`rec_data.py`) topped up with the 'train' half of the real crops (other provinces than 皖 drawn
more often, a share redrawn dark-on-light as on new-energy plates), a share made grey or saturation-scaled. The
window is shifted by 0-4 columns in training. Prints the accuracy on held-out synthetic cuts and on the real
'holdout' crops (never trained on) as it goes.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vision.plate_geometry import REC_H
from vision.plates import PROVINCE_LEFT, PROVINCES
from vision.training.plates.augment import monochrome, saturation
from vision.training.plates.rec_data import decode, real_crops
from vision.training.plates.train_rec import augment_real, recolour, to_tensor

SHIFT = 4  # training windows start 0..SHIFT columns in
VALIDATION = 3000  # synthetic samples kept out of training, to measure on


def province(label: np.ndarray) -> int:
    """The class of an encoded plate's first character, or -1 when it is not one of PROVINCES."""
    text = decode(label)
    return PROVINCES.index(text[0]) if text and text[0] in PROVINCES else -1


def _block(i: int, o: int) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    """Six 3x3 convolutions, two poolings and the strongest response of each channel: 0.29 M parameters at width 1,
    about 29 M multiply-adds for the province classifier's 24x32 input; `width` multiplies the channels. The
    character classifier (`train_char.py`) has the same shape."""

    def __init__(self, classes: int, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = (round(c * width) for c in (32, 64, 128))
        self.features = nn.Sequential(*_block(3, c1), *_block(c1, c1), nn.MaxPool2d(2),
                                      *_block(c1, c2), *_block(c2, c2), nn.MaxPool2d(2),
                                      *_block(c2, c3), *_block(c3, c3))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(c3, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5).amax(dim=(2, 3)))


class Exported(nn.Module):
    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def camera_jitter(img: np.ndarray, rng: random.Random, mono_share: float, saturation_share: float) -> np.ndarray:
    """`mono_share` of the samples made grey, `saturation_share` saturation-scaled, as other cameras give them."""
    r = rng.random()
    if r < mono_share:
        return monochrome(img, rng)
    if r < mono_share + saturation_share:
        return saturation(img, rng)
    return img


def accuracy(model: Classifier, images: np.ndarray, labels: np.ndarray) -> str:
    """Share right, for 皖 and for the other provinces apart (the real crops are mostly 皖)."""
    model.eval()
    with torch.no_grad():
        got = np.concatenate([model(to_tensor(np.ascontiguousarray(images[i: i + 512, :, :PROVINCE_LEFT])))
                              .argmax(1).numpy() for i in range(0, len(images), 512)])
    model.train()
    wan = labels == PROVINCES.index("皖")
    return (f"皖 {int((got == labels)[wan].sum())}/{int(wan.sum())}, "
            f"others {int((got == labels)[~wan].sum())}/{int((~wan).sum())}")


def train(args: argparse.Namespace) -> Classifier:
    torch.manual_seed(args.seed)
    rng, pick = random.Random(args.seed), np.random.default_rng(args.seed)
    images = np.concatenate([np.load(p)["images"] for p in args.data])
    labels = np.array([province(code) for p in args.data for code in np.load(p)["labels"]])
    images, labels = images[labels >= 0], labels[labels >= 0]
    val_images, val_labels = images[:VALIDATION], labels[:VALIDATION]
    images, labels = images[VALIDATION:], labels[VALIDATION:]
    real, hold = real_crops("train"), real_crops("holdout")
    real_labels = np.array([province(code) for code in real["labels"]])
    hold_labels = np.array([province(code) for code in hold["labels"]])
    wan = PROVINCES.index("皖")
    weights = [1.0 if k == wan else args.other_weight for k in real_labels]
    model = Classifier(len(PROVINCES), args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    n_real, t0 = int(args.batch * args.real_share), time.time()
    for step in range(args.steps):
        idx = pick.integers(0, len(images), args.batch - n_real)
        ridx = rng.choices(range(len(real_labels)), weights, k=n_real)
        extra = []
        for k in ridx:
            img = real["images"][k]
            if rng.random() < args.recolour_share:
                img, _ = recolour(img, rng)
            extra.append(augment_real(img, rng, args.motion_share))
        x = np.concatenate([images[idx], np.stack(extra)]) if extra else images[idx].copy()
        for j in range(len(x)):
            x[j] = camera_jitter(x[j], rng, args.mono_share, args.saturation_share)
        y = np.concatenate([labels[idx], real_labels[ridx]])
        shift = rng.randint(0, SHIFT)
        loss = loss_fn(model(to_tensor(np.ascontiguousarray(x[:, :, shift:shift + PROVINCE_LEFT]))),
                       torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f}; synthetic {accuracy(model, val_images, val_labels)}; "
                  f"real holdout {accuracy(model, hold['images'], hold_labels)}; {time.time() - t0:.0f} s",
                  flush=True)
    return model


def export(model: Classifier, out: Path, width: int = PROVINCE_LEFT, output: str = "province") -> None:
    """The classifier as ONNX: input `image` (N x 3 x REC_H x `width`, BGR in 0..1), softmax output `output`."""
    model.eval()
    torch.onnx.export(Exported(model), torch.zeros(1, 3, REC_H, width), str(out), input_names=["image"],
                      output_names=[output], dynamic_axes={"image": {0: "n"}}, opset_version=13, dynamo=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="rec_data.py sets")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--real-share", type=float, default=0.15)
    ap.add_argument("--other-weight", type=float, default=5.0,
                    help="how much more often real crops of provinces other than 皖 are drawn")
    ap.add_argument("--recolour-share", type=float, default=0.3)
    ap.add_argument("--motion-share", type=float, default=0.2)
    ap.add_argument("--mono-share", type=float, default=0.1)
    ap.add_argument("--saturation-share", type=float, default=0.1)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("vision/models/plate_prov.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    export(train(args), args.out)


if __name__ == "__main__":
    main()
