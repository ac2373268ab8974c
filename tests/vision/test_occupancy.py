"""The occupancy classifier's input and its test-time augmentation (the model's accuracy: tests/bench/parking.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.errors import BadImageError, ImageSizeError
from vision.occupancy import PATCH, OccupancyClassifier, cut_patch, edges, inputs
from vision.spaces import Space, from_pklot_xml, read_pklot_xml

FRAME = Path(__file__).resolve().parents[1] / "fixtures" / "parking" / "ufpr05_2013-02-22_07_15_01.jpg"


def test_edges_are_zero_on_a_flat_patch_and_high_on_a_step() -> None:
    flat = np.full((1, PATCH, PATCH, 3), 120, np.uint8)
    step = flat.copy()
    step[:, :, PATCH // 2:] = 30
    assert np.allclose(edges(flat), edges(flat).flat[0])
    assert edges(step).max() > edges(flat).max() + 1.0
    assert inputs(step, edge_channel=True).shape == (1, 4, PATCH, PATCH)
    assert inputs(step, edge_channel=False).shape == (1, 3, PATCH, PATCH)


def test_a_space_reads_the_same_turned_half_round() -> None:
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    patches = np.stack([cut_patch(image, pts) for _, pts, _ in read_pklot_xml(FRAME.with_suffix(".xml"))])
    clf = OccupancyClassifier()
    p = clf.probabilities(patches)
    turned = clf.probabilities(np.ascontiguousarray(patches[:, ::-1, ::-1]))
    assert p.shape == (len(patches),)
    np.testing.assert_allclose(p, turned, atol=1e-5)  # the patch and its half turn are averaged either way
    assert not np.allclose(p, p[0])  # and the spaces are told apart


def test_each_space_reads_the_same_alone_as_among_all_forty() -> None:
    # the network runs a few views at a time (vision/nets.py); the pieces must come back in order
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    patches = np.stack([cut_patch(image, pts) for _, pts, _ in read_pklot_xml(FRAME.with_suffix(".xml"))])
    clf = OccupancyClassifier()
    together = clf.probabilities(patches)
    alone = np.concatenate([clf.probabilities(patches[i:i + 1]) for i in range(len(patches))])
    assert len(patches) == 40
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_space_outside_the_frame_is_an_error_not_free() -> None:
    inside = Space("A-01", "A", ((10.0, 10.0), (60.0, 10.0), (60.0, 90.0), (10.0, 90.0)))
    beyond = Space("A-02", "A", ((10.0, 10.0), (60.0, 10.0), (60.0, 130.0), (10.0, 130.0)))
    clf = OccupancyClassifier()
    frame = np.repeat(np.linspace(40, 200, 100, dtype=np.uint8)[None, :, None], 100, axis=0).repeat(3, axis=2)
    assert [r.space for r in clf.classify(frame, [inside])] == ["A-01"]
    with pytest.raises(ImageSizeError, match=r"space 'A-02' has a corner at \[60, 130\], outside the 100x100 image"):
        clf.classify(frame, [inside, beyond])


def test_a_blank_picture_is_an_error_not_every_space_free() -> None:
    # a covered, dead or blinded camera: the network called all 40 spaces free (0.93 sure), 12 of them taken
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    spaces = from_pklot_xml(FRAME.with_suffix(".xml")).spaces
    labels = [occupied for _, _, occupied in read_pklot_xml(FRAME.with_suffix(".xml"))]
    clf = OccupancyClassifier()
    noise = np.random.default_rng(0).normal(8, 4, image.shape).clip(0, 255).astype(np.uint8)  # night, lights out
    for blank in (np.zeros_like(image), np.full_like(image, 255), noise):
        with pytest.raises(BadImageError, match="blank"):
            clf.classify(blank, spaces)
    dusk = (image * 0.1).astype(np.uint8)  # a tenth of the light is still a picture, and read
    right = sum(r.occupied == label for r, label in zip(clf.classify(dusk, spaces), labels, strict=True))
    assert right >= 36
