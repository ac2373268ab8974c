"""`edge plates read`: the JSON line per image and the error line for an unreadable file."""

from __future__ import annotations

import json
from pathlib import Path

from edge.commands import plates
from tests.conftest import run_command
from tests.vision.crafted import jpeg_claiming, png_claiming

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plates"


def _run(argv: list[str]) -> tuple[int, list[str]]:
    return run_command(plates, argv)


def test_json_lines_and_error_line(tmp_path: Path) -> None:
    scene = str(next(FIXTURES.glob("ccpd_*.jpg")))
    missing = str(tmp_path / "nope.jpg")
    status, lines = _run(["plates", "read", "--json", scene, missing])
    assert status == 1
    first, second = (json.loads(line) for line in lines)
    assert first["image"] == scene and isinstance(first["ms"], float) and first["plates"]
    assert {"text", "color", "confidence", "box"} == set(first["plates"][0])
    assert second == {"image": missing, "error": second["error"]} and "nope.jpg" in second["error"]


def test_json_is_the_default_and_text_is_asked_for() -> None:
    scene = str(next(FIXTURES.glob("ccpd_*.jpg")))
    status, lines = _run(["plates", "read", scene])
    assert status == 0 and len(lines) == 1 and json.loads(lines[0])["image"] == scene  # the contract's line
    status, lines = _run(["plates", "read", "--text", scene])
    assert status == 0 and len(lines) == 1 and lines[0].startswith(scene + ": ")


def test_registered_in_edge_cli(capsys) -> None:
    from edge.cli import main

    scene = str(next(FIXTURES.glob("ccpd_*.jpg")))
    assert main(["plates", "read", "--json", scene]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["image"] == scene and result["plates"]


def test_a_header_claiming_more_pixels_than_opencv_decodes_is_an_error_line(tmp_path: Path) -> None:
    scene = str(next(FIXTURES.glob("ccpd_*.jpg")))
    huge_png, huge_jpg = tmp_path / "huge.png", tmp_path / "huge.jpg"
    huge_png.write_bytes(png_claiming(100_000, 100_000))
    huge_jpg.write_bytes(jpeg_claiming(65_000, 65_000))
    status, lines = _run(["plates", "read", "--json", scene, str(huge_png), str(huge_jpg), scene])
    assert status == 1 and len(lines) == 4
    first, png, jpg, last = (json.loads(line) for line in lines)
    for result, name in ((png, "huge.png"), (jpg, "huge.jpg")):
        assert set(result) == {"image", "error"} and name in result["error"] and "\n" not in result["error"]
    assert last["plates"] == first["plates"] and last["plates"]  # the image after them is still read


def test_a_picture_over_the_pixel_bound_is_refused_before_decoding(tmp_path: Path) -> None:
    scene = str(next(FIXTURES.glob("ccpd_*.jpg")))
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_claiming(12_000, 12_000))  # 1 KB claiming 144 MP: OpenCV's own bound lets it through
    status, lines = _run(["plates", "read", str(big), scene])
    refused, read = (json.loads(line) for line in lines)
    assert status == 1 and read["plates"]
    assert set(refused) == {"image", "error"} and "big.jpg" in refused["error"]
    assert "12000x12000 pixels" in refused["error"] and "50 megapixels" in refused["error"]
