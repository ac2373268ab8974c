"""`edge parking detect`: the contract's JSON line per image, the error line, the exit status; and the shipped
model on a real frame and on the simulated car park."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import parking
from tests.conftest import run_command
from tests.vision.crafted import jpeg_claiming, png_claiming
from vision.demo import carpark
from vision.spaces import dumps, from_pklot_xml, parse_space_map, read_pklot_xml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parking"
FRAME = FIXTURES / "ufpr05_2013-02-22_07_15_01.jpg"


def _run(argv: list[str]) -> tuple[int, list[str]]:
    return run_command(parking, argv)


@pytest.fixture
def spaces(tmp_path: Path) -> Path:
    path = tmp_path / "SPACES.json"
    path.write_text(dumps(from_pklot_xml(FRAME.with_suffix(".xml"))))
    return path


def test_json_lines_error_line_and_exit_status(tmp_path: Path, spaces: Path) -> None:
    missing, corrupt = tmp_path / "nope.jpg", tmp_path / "corrupt.jpg"
    corrupt.write_bytes(FRAME.read_bytes()[:300])
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), "--json", str(FRAME), str(missing),
                          str(corrupt), str(FRAME)])
    assert status == 1
    first, gone, broken, again = (json.loads(line) for line in lines)
    assert set(first) == {"image", "spaces", "free", "ms"} and first["image"] == str(FRAME)
    assert isinstance(first["ms"], float) and len(first["spaces"]) == 40
    assert all(set(s) == {"id", "occupied", "confidence"} and 0.5 <= s["confidence"] <= 1 for s in first["spaces"])
    assert first["free"] == sum(not s["occupied"] for s in first["spaces"])
    assert set(gone) == {"image", "error"} and "nope.jpg" in gone["error"]
    assert set(broken) == {"image", "error"} and "corrupt.jpg" in broken["error"]
    assert again["spaces"] == first["spaces"]  # the files after an error are still read


def test_a_header_claiming_more_pixels_than_opencv_decodes_is_an_error_line(tmp_path: Path, spaces: Path) -> None:
    huge_png, huge_jpg = tmp_path / "huge.png", tmp_path / "huge.jpg"
    huge_png.write_bytes(png_claiming(100_000, 100_000))
    huge_jpg.write_bytes(jpeg_claiming(65_000, 65_000))
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), str(FRAME), str(huge_png), str(huge_jpg),
                          str(FRAME)])
    assert status == 1 and len(lines) == 4
    first, png, jpg, last = (json.loads(line) for line in lines)
    for result, name in ((png, "huge.png"), (jpg, "huge.jpg")):
        assert set(result) == {"image", "error"} and name in result["error"] and "\n" not in result["error"]
    assert len(first["spaces"]) == 40 and last["spaces"] == first["spaces"]


def test_a_photo_that_does_not_fit_the_map_is_an_error_line_not_all_free(tmp_path: Path) -> None:
    drawn_on = json.loads(dumps(from_pklot_xml(FRAME.with_suffix(".xml"))))
    drawn_on["image"] = {"width": 1280, "height": 720}  # the fixture frame's size
    sized = tmp_path / "SIZED.json"
    sized.write_text(json.dumps(drawn_on))
    dot, half = tmp_path / "dot.png", tmp_path / "half.jpg"
    cv2.imwrite(str(dot), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(half), cv2.resize(cv2.imread(str(FRAME)), (640, 360)))
    status, lines = _run(["parking", "detect", "--spaces", str(sized), str(dot), str(half), str(FRAME)])
    one, smaller, right = (json.loads(line) for line in lines)
    assert status == 1 and len(right["spaces"]) == 40
    assert one == {"image": str(dot), "error": "the image is 1x1 pixels, but the space map was drawn on a 1280x720 "
                                                "image"}
    assert smaller == {"image": str(half), "error": "the image is 640x360 pixels, but the space map was drawn on a "
                                                    "1280x720 image"}


def test_a_blank_photo_is_an_error_line_not_all_free(tmp_path: Path, spaces: Path) -> None:
    # a photo from a covered or dark camera used to read as all 40 spaces free, 12 of them taken
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), np.full((720, 1280, 3), 3, np.uint8))
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), "--no-adapt", str(dark), str(FRAME)])
    blank, right = (json.loads(line) for line in lines)
    assert status == 1 and set(blank) == {"image", "error"} and "blank" in blank["error"]
    assert len(right["spaces"]) == 40


def test_a_space_outside_the_photo_is_an_error_line_naming_it(tmp_path: Path) -> None:
    far = tmp_path / "FAR.json"  # no `image` size: only the points' own bound (16384 px)
    far.write_text(json.dumps({"spaces": [
        {"id": "A-01", "zone": "A", "polygon": [[100, 100], [200, 100], [200, 200], [100, 200]]},
        {"id": "Z-99", "zone": "Z", "polygon": [[2000, 2000], [2100, 2000], [2100, 2100], [2000, 2100]]}]}))
    status, lines = _run(["parking", "detect", "--spaces", str(far), "--no-adapt", str(FRAME)])
    assert status == 1
    assert json.loads(lines[0]) == {"image": str(FRAME), "error": "space 'Z-99' has a corner at [2000, 2000], "
                                                                 "outside the 1280x720 image"}


def test_the_shipped_model_reads_the_real_frame(spaces: Path) -> None:
    truth = {f"A-{int(sid):02d}": occ for sid, _, occ in read_pklot_xml(FRAME.with_suffix(".xml"))}
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), "--json", str(FRAME)])
    got = {s["id"]: s["occupied"] for s in json.loads(lines[0])["spaces"]}
    assert status == 0
    assert sum(got[k] == truth[k] for k in truth) >= 38  # a camera it was trained on (bench: unseen cameras)


def test_the_shipped_model_reads_the_simulated_car_park(tmp_path: Path) -> None:
    stays = carpark.schedule(7)
    rng = np.random.default_rng(1)
    ground = carpark._ground(rng)
    space_map = parse_space_map(carpark.space_map())
    path = tmp_path / "SPACES.json"
    path.write_text(dumps(space_map))
    images = []
    for t in (0, 40, 80, 120):
        image = tmp_path / f"t{t}.jpg"
        frame = carpark.render(t, stays, ground, rng)
        cv2.imwrite(str(image), cv2.resize(frame, carpark.CLIP_SIZE, interpolation=cv2.INTER_AREA))
        images.append(str(image))
    status, lines = _run(["parking", "detect", "--spaces", str(path), "--json", *images])
    assert status == 0
    right = 0
    for t, line in zip((0, 40, 80, 120), lines, strict=True):
        taken = {s.space for s in stays if s.arrive_s + 2 <= t < s.leave_s}
        got = {int(s["id"][2:]) - 1 + (10 if s["id"][0] == "B" else 0): s["occupied"]
               for s in json.loads(line)["spaces"]}
        right += sum(occ == (i in taken) for i, occ in got.items())
    assert right >= 0.9 * 80  # drawn cars are not what it was trained on; the demo needs them mostly right


def test_json_by_default_plain_lines_when_asked_and_a_bad_map(tmp_path: Path, spaces: Path) -> None:
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), str(FRAME)])
    assert status == 0 and len(json.loads(lines[0])["spaces"]) == 40  # the contract's line without --json too
    status, lines = _run(["parking", "detect", "--spaces", str(spaces), "--text", str(FRAME)])
    assert status == 0 and lines[0].startswith(f"{FRAME}: ") and "of 40 free" in lines[0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"spaces": [{"id": "A-01", "zone": "A", "polygon": [[0, 0], [1, 1]]}]}))
    status, lines = _run(["parking", "detect", "--spaces", str(bad), str(FRAME)])
    assert status == 1 and lines == []


def test_the_cut_is_learnt_from_the_photos_given_unless_told_not_to(spaces: Path) -> None:
    truth = {f"A-{int(sid):02d}": occ for sid, _, occ in read_pklot_xml(FRAME.with_suffix(".xml"))}
    alone = json.loads(_run(["parking", "detect", "--spaces", str(spaces), "--json", str(FRAME)])[1][0])
    _, fixed = _run(["parking", "detect", "--spaces", str(spaces), "--json", "--no-adapt", *[str(FRAME)] * 6])
    _, learnt = _run(["parking", "detect", "--spaces", str(spaces), "--json", *[str(FRAME)] * 6])
    assert all(json.loads(line)["spaces"] == alone["spaces"] for line in fixed)  # each photo on its own
    got = json.loads(learnt[0])
    assert got["spaces"] != alone["spaces"]  # 240 space-frames in both states: a cut of this camera's own
    assert sum(s["occupied"] == truth[s["id"]] for s in got["spaces"]) >= 38
