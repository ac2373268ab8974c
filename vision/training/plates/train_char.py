"""Train the character classifier and export it to ONNX.

    python -m vision.training.plates.train_char --data /tmp/plates/prov_synth.npz --steps 3000 \
        --out vision/models/plate_char.onnx

Most misreads of the real holdout crops were one character after the province read as another a stroke away
(Q as 0, N as M, X as Y, S as 8), often with confidence: in the real plate font the letters are rare (Q 11 times
in the 500 train crops, each digit 165-208 times), and CTC training sees each as often as it occurs. This network
(the province classifier's shape, `train_prov.Classifier`) names one character (`vision.plates.CHAR_CLASSES`: the
ten digits and 24 letters) from a `CHAR_WINDOW` px wide window of the recogniser's 96x24 cut, and is trained with
every class drawn equally often; the reader multiplies its scores into the columns the recogniser reads a
character in where it is unsure of it (`vision.plates.weigh_character`, `CHAR_GATE`).

Windows are cut where the reader cuts them: `CHAR_LAG` px right of the CTC column the shipped recogniser first
emits the character in. Samples: characters 2-7 of the synthetic cuts (`rec_data.py`) the shipped recogniser
reads exactly as seven characters, and of the 'train' half of the real crops, originals and character swaps
(`swap.py`; there the character centres come from the layout fit), half and half; a share grey or
saturation-scaled, the window moved up to `--jitter` px. Prints the accuracy on held-out synthetic windows and on
the windows of the real 'holdout' crops the recogniser reads (never trained on) as it goes, and the lag measured
on the real train crops beside the one the reader uses.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vision.plates import CHAR_CLASSES, CHAR_LAG, CHAR_WINDOW, character_window
from vision.training.plates import swap
from vision.training.plates.rec_data import decode, real_crops
from vision.training.plates.train_prov import Classifier, camera_jitter, export
from vision.training.plates.train_rec import augment_real, to_tensor

VALIDATION = 40  # synthetic windows a class kept out of training, to measure on
MODEL = Path(__file__).resolve().parents[2] / "models" / "plate_rec.onnx"  # whose columns the windows follow

Sample = tuple[int, float]  # (image, character centre in px)


def by_class(texts: list[str], centres: list[np.ndarray]) -> dict[int, list[Sample]]:
    """Characters 2-7 of each seven-character plate, by class."""
    out: dict[int, list[Sample]] = {k: [] for k in range(len(CHAR_CLASSES))}
    for i, (text, cs) in enumerate(zip(texts, centres, strict=True)):
        for pos in range(1, 7):
            if text[pos] in CHAR_CLASSES:
                out[CHAR_CLASSES.index(text[pos])].append((i, float(cs[pos])))
    return out


def accuracy(model: Classifier, windows: list[np.ndarray], classes: list[int]) -> str:
    model.eval()
    with torch.no_grad():
        got = model(to_tensor(np.stack(windows))).argmax(1).numpy()
    model.train()
    return f"{int((got == np.array(classes)).sum())}/{len(classes)}"


def train(args: argparse.Namespace) -> Classifier:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    # synthetic: where the shipped recogniser reads each character, as the reader will
    images = np.concatenate([np.load(p)["images"] for p in args.data])
    labels = np.concatenate([np.load(p)["labels"] for p in args.data])
    peaks = swap.ctc_centres(images, labels, MODEL)
    usable = [i for i, c in enumerate(peaks) if c is not None and len(c) == 7]
    synthetic = by_class([decode(labels[i]) for i in usable], [peaks[i] + CHAR_LAG for i in usable])
    synthetic = {k: [(usable[i], c) for i, c in v] for k, v in synthetic.items()}
    held: list[tuple[np.ndarray, int]] = []
    for k, items in synthetic.items():
        rng.shuffle(items)
        held += [(character_window(images[i], c), k) for i, c in items[:VALIDATION]]
        synthetic[k] = items[VALIDATION:]
    # real: the train crops whose layout fit agrees with the recogniser, and swaps made of them
    real = real_crops("train")
    found, lag = swap.cells(real["images"], real["labels"], MODEL)
    print(f"lag measured on the real train crops {np.round(lag, 1)}; the reader's {CHAR_LAG}", flush=True)
    swapper = swap.Swapper(real["images"], real["labels"], found)
    pool = [real["images"][i] for i in swapper.ok]
    texts, centres = [swapper.text(i) for i in swapper.ok], [found[i][0] for i in swapper.ok]
    for _ in range(args.swaps):
        img, label, target = swapper.swap(rng)
        pool.append(img)
        texts.append(decode(label))
        centres.append(found[target][0])
    real_by_class = by_class(texts, centres)
    hold = real_crops("holdout")
    hold_found, _ = swap.cells(hold["images"], hold["labels"], MODEL)
    hold_windows = [(character_window(hold["images"][i], f[0][pos]), CHAR_CLASSES.index(decode(hold["labels"][i])[pos]))
                    for i, f in enumerate(hold_found) if f is not None for pos in range(1, 7)]
    model = Classifier(len(CHAR_CLASSES))  # the province classifier's shape
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    n_real, t0 = int(args.batch * args.real_share), time.time()
    for step in range(args.steps):
        x, y = [], []
        for b in range(args.batch):
            k = rng.randrange(len(CHAR_CLASSES))  # every class equally often
            if b < n_real and real_by_class[k]:
                i, c = rng.choice(real_by_class[k])
                img = augment_real(pool[i], rng, args.motion_share)
            else:
                i, c = rng.choice(synthetic[k])
                img = images[i]
            img = camera_jitter(img, rng, args.mono_share, args.saturation_share)
            x.append(character_window(img, c + rng.uniform(-args.jitter, args.jitter)))
            y.append(k)
        loss = loss_fn(model(to_tensor(np.stack(x))), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f}; synthetic {accuracy(model, *zip(*held, strict=True))}; "
                  f"real holdout {accuracy(model, *zip(*hold_windows, strict=True))}; {time.time() - t0:.0f} s",
                  flush=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="rec_data.py sets")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--real-share", type=float, default=0.5)
    ap.add_argument("--swaps", type=int, default=20000, help="swapped real crops made up front")
    ap.add_argument("--jitter", type=float, default=2.0, help="px the window is moved either way")
    ap.add_argument("--motion-share", type=float, default=0.2)
    ap.add_argument("--mono-share", type=float, default=0.1)
    ap.add_argument("--saturation-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("vision/models/plate_char.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    export(train(args), args.out, CHAR_WINDOW, "char")


if __name__ == "__main__":
    main()
