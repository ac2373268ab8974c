"""`edge plates read`: the JSON line per image and the error line for an unreadable file."""

from __future__ import annotations

import json
from pathlib import Path

from edge.commands import plates
from tests.conftest import run_command

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
