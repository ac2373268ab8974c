"""The space map: a good map loads, a bad one is refused naming the space and what is wrong; PKLot import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vision.errors import ImageSizeError
from vision.spaces import SpaceMapError, dumps, from_pklot_xml, load_space_map, parse_space_map

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parking"
SQUARE = [[10, 10], [50, 10], [50, 90], [10, 90]]


def doc(*spaces: dict, **extra: object) -> dict:
    return {"spaces": list(spaces), **extra}


def test_a_good_map_loads_with_entrances_and_distances(tmp_path: Path) -> None:
    path = tmp_path / "SPACES.json"
    path.write_text(json.dumps(doc({"id": "A-01", "zone": "A", "polygon": SQUARE},
                                   {"id": "A-02", "zone": "A", "polygon": [[60, 10], [100, 10], [100, 90]]},
                                   image={"width": 200, "height": 100},
                                   entrances=[{"id": "north", "point": [0, 0]}, {"id": "lift"}],
                                   distances={"lift": {"A-02": 8}})))
    m = load_space_map(path)
    assert [s.id for s in m.spaces] == ["A-01", "A-02"] and m.zones == ["A"]
    assert m.distance(m.entrances[1], m.spaces[1]) == (8.0, True)
    assert m.distance(m.entrances[1], m.spaces[0]) is None  # no point, no listed distance
    assert m.distance(m.entrances[0], m.spaces[0])[1] is False  # pixels: no metres_per_pixel
    assert parse_space_map(json.loads(dumps(m))) == m  # what the calibration page saves reads back the same


@pytest.mark.parametrize(("polygon", "says"), [
    ([[10, 10], [50, 90], [50, 10], [10, 90]], "crosses itself"),
    ([[10, 10], [50, 10]], "3 to 32"),
    ([[10, 10], [50, 10], [90, 10], [30, 10]], "area"),
    ([[10, 10], [50, 10], "x", [10, 90]], "point 2"),
    ([[10, 10], [500, 10], [500, 90], [10, 90]], "outside the image"),
    ([[-1, 10], [50, 10], [50, 90], [10, 90]], "outside the image"),
    ([[10, 10], [50, 10], [50, float("nan")], [10, 90]], "point 2"),
])
def test_a_bad_polygon_is_refused_naming_the_space(polygon: list, says: str) -> None:
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc({"id": "A-01", "zone": "A", "polygon": SQUARE},
                            {"id": "B-07", "zone": "B", "polygon": polygon}, image={"width": 200, "height": 100}))
    assert len(e.value.problems) == 1
    assert "spaces[1] (id 'B-07')" in e.value.problems[0] and says in e.value.problems[0]


def test_a_map_without_its_image_size_still_bounds_the_points() -> None:
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc({"id": "A-01", "zone": "A", "polygon": [[0, 0], [1e308, 0], [100, 100], [0, 100]]}))
    assert e.value.problems == ["spaces[0] (id 'A-01'): polygon point 1 [1e+308, 0] is outside the image "
                                "(at most 16384 px a side)"]


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc({"id": "A-01", "zone": "A", "polygon": SQUARE}, {"id": "A-01", "zone": "A",
                                                                             "polygon": SQUARE},
                            {"id": "bad id!", "zone": "", "polygon": SQUARE}, extra_key=1,
                            distances={"gate": {"A-01": 3}}))
    text = str(e.value)
    for says in ("'A-01' is used by another space", "id 'bad id!'", "zone ''", "key 'extra_key'",
                 "entrance 'gate' is not in entrances"):
        assert says in text, says


@pytest.mark.parametrize("bad_id", [[], {}, ["A-01"], None, 7])
def test_an_id_that_is_not_text_is_a_problem_not_a_crash(bad_id: object) -> None:
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc({"id": bad_id, "zone": "A", "polygon": SQUARE}, {"id": "A-02", "zone": "A",
                                                                              "polygon": SQUARE}))
    assert e.value.problems == [f"spaces[0] (id {bad_id!r}): id {bad_id!r}: 1-40 letters, digits or _ . : - "
                                "(starting with a letter or digit)"]


def test_the_file_is_named_and_bad_json_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "SPACES.json"
    path.write_text("{\"spaces\": [")
    with pytest.raises(SpaceMapError, match=r"SPACES.json: not valid JSON"):
        load_space_map(path)
    with pytest.raises(SpaceMapError, match=r"cannot read"):
        load_space_map(tmp_path / "missing.json")
    with pytest.raises(SpaceMapError, match=r"spaces: missing or empty"):
        parse_space_map({"spaces": []})


def test_pklot_xml_becomes_a_map() -> None:
    m = from_pklot_xml(next(FIXTURES.glob("*.xml")), zone="P")
    assert len(m.spaces) == 40 and m.zones == ["P"]
    assert m.spaces[0].id == "P-01" and len(m.spaces[0].polygon) == 4


def test_import_pklot_command_prints_a_map_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from edge.cli import main

    assert main(["parking", "import-pklot", str(next(FIXTURES.glob("*.xml")))]) == 0
    path = tmp_path / "SPACES.json"
    path.write_text(capsys.readouterr().out)
    assert len(load_space_map(path).spaces) == 40
    broken = tmp_path / "broken.xml"
    broken.write_text("<parking><space id='1'>")
    assert main(["parking", "import-pklot", str(broken)]) == 1
    assert "not a readable PKLot XML" in capsys.readouterr().err


def test_a_frame_must_be_the_size_the_map_was_drawn_on_and_hold_every_space() -> None:
    sized = parse_space_map(doc({"id": "A-01", "zone": "A", "polygon": SQUARE}, image={"width": 100, "height": 100}))
    sized.check_frame(100, 100)
    for width, height in ((1, 1), (99, 100), (200, 200)):
        with pytest.raises(ImageSizeError, match=f"the image is {width}x{height} pixels, but the space map was drawn "
                                                 "on a 100x100 image"):
            sized.check_frame(width, height)
    free = parse_space_map(doc({"id": "A-01", "zone": "A", "polygon": SQUARE},
                               {"id": "B-01", "zone": "B", "polygon": [[x + 45, y] for x, y in SQUARE]},
                               {"id": "B-02", "zone": "B", "polygon": [[x + 90, y] for x, y in SQUARE]}))
    free.check_frame(140, 90)
    with pytest.raises(ImageSizeError, match=r"^space 'B-01' has a corner at \[95, 10\], outside the 60x90 image "
                                             r"\(and 1 more space\)$"):
        free.check_frame(60, 90)


@pytest.mark.parametrize(("text", "says"), [
    ("[" * 100_000 + "]" * 100_000, "not valid JSON: lists or objects nested too deep"),
    ('{"spaces": [{"id": "A-01", "zone": "A", "polygon": [[1' + "0" * 5000 + ', 0], [9, 0], [9, 9]]}]}',
     "not valid JSON: a number of more than 4300 digits"),
    ('{"spaces": [{"id": "A-01", "zone": "A", "polygon": [[1' + "0" * 400 + ', 0], [9, 0], [9, 9]]}]}',  # no float
     "spaces[0] (id 'A-01'): polygon point 0 is [100000000000000000...0000000000000000000, 0], not [x, y] numbers"),
])
def test_a_file_too_deep_or_with_too_big_a_number_is_one_clear_problem(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "SPACES.json"
    path.write_text(text)
    with pytest.raises(SpaceMapError) as e:
        load_space_map(path)
    assert e.value.problems == [f"{path}: {says}"]


def test_a_value_quoted_in_a_problem_is_short_however_deep_or_long_it_is() -> None:
    deep: list = []
    for _ in range(5000):  # deeper than repr goes (e.g. a map posted to the API, decoded by another reader)
        deep = [deep]
    with pytest.raises(SpaceMapError) as e:
        parse_space_map({"spaces": [{"id": "x" * 100_000, "zone": "A", "polygon": [deep, [9, 0], [9, 9]]}],
                         "image": deep, "metres_per_pixel": 10**4000})
    assert len(e.value.problems) == 4 and all(len(line) < 300 for line in e.value.problems)
    assert e.value.problems[0] == "image: found [[[[...]]]]; allowed: {\"width\": pixels, \"height\": pixels}"


def test_thousands_of_spaces_zones_or_entrances_are_one_clear_problem_each() -> None:
    # 100 000 spaces fit the API's 8 MB body and held the gateway's CPU checking every polygon; one camera's map
    # of more than 500 would not be classified at every check, nor fit a summary event
    many = [{"id": f"A-{i}", "zone": "A", "polygon": SQUARE} for i in range(100_000)]
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc(*many))
    assert e.value.problems == ["spaces: 100000 spaces; at most 500 for one camera"]
    zones = [{"id": f"S-{i}", "zone": f"Z{i}", "polygon": [[x + 10 * i for x in p[:1]] + p[1:] for p in
                                                            [[0, 10], [8, 10], [8, 90], [0, 90]]]} for i in range(60)]
    entrances = [{"id": f"gate-{i}"} for i in range(25)]
    with pytest.raises(SpaceMapError) as e:
        parse_space_map(doc(*zones, entrances=entrances))
    assert e.value.problems == ["spaces: 60 zones; at most 50", "entrances: 25 entrances; at most 20"]
    grid = [{"id": f"A-{i}", "zone": "A", "polygon": [[x, y], [x + 9, y], [x + 9, y + 9], [x, y + 9]]}
            for i in range(500) for x, y in [(i % 25 * 10, i // 25 * 10)]]
    assert len(parse_space_map(doc(*grid)).spaces) == 500
    with pytest.raises(SpaceMapError) as e:  # 500 copies of one space: 124,750 pairs, said in 11 lines
        parse_space_map(doc(*many[:500]))
    assert len(e.value.problems) == 11 and e.value.problems[-1] == "spaces: 124740 more pairs drawn over each other"


def test_spaces_drawn_over_each_other_are_refused_but_neighbours_that_touch_are_not() -> None:
    """A space drawn twice (or over its neighbour) would count one car twice; the real car parks' maps, whose
    rotated boxes share and slightly cross their edges, load as they are."""
    row = [{"id": f"A-{i}", "zone": "A", "polygon": [[i * 40, 0], [i * 40 + 41, 0], [i * 40 + 41, 80], [i * 40, 80]]}
           for i in range(5)]  # each overlaps the next by one pixel
    assert len(parse_space_map({"spaces": row}).spaces) == 5
    again = {"id": "B-1", "zone": "B", "polygon": [[85, 10], [118, 10], [118, 70], [85, 70]]}  # over A-2
    with pytest.raises(SpaceMapError) as e:
        parse_space_map({"spaces": [*row, again]})
    assert e.value.problems == ["spaces: A-2 and B-1 are drawn over each other (the centre of one is inside the "
                                "other); a car there would count twice"]
    for xml in FIXTURES.glob("*.xml"):  # real car parks
        pklot = from_pklot_xml(xml)
        assert parse_space_map(pklot.to_json()).spaces == pklot.spaces
