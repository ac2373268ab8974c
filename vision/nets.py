"""Running a cv2.dnn network on many inputs.

OpenCV's network keeps the buffers of the largest batch it has run for as long as it lives. Measured against a
batch of one: the parking network holds 1.4 MB more after a batch of 8 patches, 6.8 MB after 40 (the demo's 20
spaces, each seen twice) and 34 MB after 200 (a car park of 100 spaces); the plate recogniser 2.6 MB after 8 crops
and 20 MB after 64. Larger batches are no faster per input on this CPU, so a long list is run BATCH at a time.
"""

from __future__ import annotations

import cv2
import numpy as np

BATCH = 8


def forward(net: cv2.dnn.Net, blob: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
    """`net`'s named outputs for an N x ... input blob (N >= 1: OpenCV fails on an empty batch), BATCH at a time."""
    parts = []
    for k in range(0, len(blob), BATCH):
        net.setInput(blob[k:k + BATCH])
        parts.append(net.forward(outputs))
    return [np.concatenate([p[i] for p in parts]) for i in range(len(outputs))]
