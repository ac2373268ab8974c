"""Temporal smoothing: a flicker of one frame changes nothing; a change that lasts does, after `frames` frames."""

from __future__ import annotations

import pytest

from vision.smoothing import Smoother


def run(smoother: Smoother, ps: list[float]) -> list[bool | None]:
    return [smoother.update("A-01", p).occupied for p in ps]


def test_a_one_frame_flicker_is_suppressed() -> None:
    s = Smoother(frames=3)
    assert run(s, [0.1, 0.1, 0.95, 0.1, 0.1]) == [False] * 5
    assert s.state("A-01").confidence > 0.6


def test_a_lasting_change_flips_after_n_frames_and_says_so_once() -> None:
    s = Smoother(frames=3)
    states = [s.update("A-01", p) for p in (0.1, 0.9, 0.9, 0.9, 0.9)]
    assert [st.occupied for st in states] == [False, False, False, True, True]
    assert [st.changed for st in states] == [True, False, False, True, False]


def test_unsure_frames_neither_confirm_nor_break_a_change() -> None:
    s = Smoother(frames=2, min_confidence=0.7)
    assert run(s, [0.1, 0.9, 0.55, 0.9]) == [False, False, False, True]
    assert run(Smoother(frames=2, min_confidence=0.7), [0.5, 0.45]) == [None, None]  # never sure: unknown


@pytest.mark.parametrize("frames", [1, 4])
def test_frames_is_configurable(frames: int) -> None:
    s = Smoother(frames=frames)
    out = run(s, [0.0] + [1.0] * frames)
    assert out[-1] is True and (frames == 1 or out[-2] is False)


def test_forget_drops_spaces_no_longer_in_the_map() -> None:
    s = Smoother()
    s.update("A-01", 0.9)
    s.forget(set())
    assert s.state("A-01").occupied is None
