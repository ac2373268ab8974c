"""The space map of one car-park camera (`SPACES.json`, contract in design/interfaces.md), pure.

```json
{"spaces": [{"id": "A-01", "zone": "A", "polygon": [[x, y], [x, y], [x, y], [x, y]]}],
 "image": {"width": 1280, "height": 720},
 "entrances": [{"id": "north", "point": [640, 700]}],
 "distances": {"north": {"A-01": 12.5}},
 "metres_per_pixel": 0.05}
```

Only `spaces` is required. Our extensions: `image` (the frame size the polygons were drawn on; polygons must lie
inside it), `entrances` (an id and, optionally, where the entrance is in the picture), `distances` (metres from an
entrance to a space, e.g. measured driving distance), `metres_per_pixel` (turns straight-line picture distances into
metres when `distances` does not list a space). Guidance ranks a space by `distances` first, then by the straight
line from the entrance's `point`.

`parse_space_map` rejects a bad map with one `SpaceMapError` naming every problem: which space, what is wrong.
`from_pklot_xml` turns a PKLot annotation (`<space id occupied>` with a `<contour>` of 4 points) into a map.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - local annotation files written by people, not network input
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision.errors import ImageSizeError, VisionError

MAX_POINTS = 32
MAX_SPACES = 500  # one camera's: each is classified at every check (40 take 20 ms on one x86 core)
MAX_ZONES = 50  # as many as the kiosk shows (edge/web/projection.py)
MAX_ENTRANCES = 20
MAX_SIDE_PX = 16384  # no camera's frame is larger: bounds a map that does not give its `image` size
MIN_AREA_PX = 16.0  # smaller than 4x4 pixels cannot be classified
MAX_OVERLAPS_SAID = 10  # pairs of spaces drawn over each other named one by one
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")

Point = tuple[float, float]


class SpaceMapError(VisionError, ValueError):
    """A space map that is not valid JSON or breaks a rule; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Space:
    id: str
    zone: str
    polygon: tuple[Point, ...]

    @property
    def centre(self) -> Point:
        xs, ys = zip(*self.polygon, strict=True)
        return sum(xs) / len(xs), sum(ys) / len(ys)


@dataclass(frozen=True)
class Entrance:
    id: str
    point: Point | None = None


@dataclass(frozen=True)
class SpaceMap:
    spaces: tuple[Space, ...]
    entrances: tuple[Entrance, ...] = ()
    distances: dict[str, dict[str, float]] = field(default_factory=dict)
    metres_per_pixel: float | None = None
    image: tuple[int, int] | None = None  # width, height

    @property
    def zones(self) -> list[str]:
        return sorted({s.zone for s in self.spaces})

    def distance(self, entrance: Entrance, space: Space) -> tuple[float, bool] | None:
        """(distance, in metres?) from the entrance to the space, or None when the map cannot say."""
        listed = self.distances.get(entrance.id, {}).get(space.id)
        if listed is not None:
            return listed, True
        if entrance.point is None:
            return None
        (ex, ey), (sx, sy) = entrance.point, space.centre
        px = math.hypot(sx - ex, sy - ey)
        return (px * self.metres_per_pixel, True) if self.metres_per_pixel else (px, False)

    def check_frame(self, width: int, height: int) -> None:
        """ImageSizeError unless a camera picture of width x height is what the map was drawn on (its `image` size,
        when it gives one) and holds every space: read from outside the picture, a space is smeared edge pixels,
        which the classifier calls free with full confidence."""
        if self.image is not None and (width, height) != self.image:
            raise ImageSizeError(f"the image is {width}x{height} pixels, but the space map was drawn on a "
                                 f"{self.image[0]}x{self.image[1]} image")
        problem = outside_problem(self.spaces, width, height)
        if problem:
            raise ImageSizeError(problem)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spaces": [{"id": s.id, "zone": s.zone, "polygon": [list(p) for p in s.polygon]}
                                          for s in self.spaces]}
        if self.image:
            out["image"] = {"width": self.image[0], "height": self.image[1]}
        if self.entrances:
            out["entrances"] = [{"id": e.id, **({"point": list(e.point)} if e.point else {})} for e in self.entrances]
        if self.distances:
            out["distances"] = self.distances
        if self.metres_per_pixel:
            out["metres_per_pixel"] = self.metres_per_pixel
        return out


def dumps(space_map: SpaceMap) -> str:
    """The map as JSON text, one space a line (readable and diffable)."""
    doc = space_map.to_json()
    spaces = ",\n  ".join(json.dumps(s, ensure_ascii=False) for s in doc.pop("spaces"))
    rest = "".join(f',\n "{k}": {json.dumps(v, ensure_ascii=False)}' for k, v in doc.items())
    return f'{{"spaces": [\n  {spaces}\n ]{rest}\n}}\n'


def load_space_map(path: str | Path) -> SpaceMap:
    """Read and check a SPACES.json; SpaceMapError names the file and every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceMapError([f"{path}: cannot read: {getattr(e, 'strerror', None) or e}"]) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpaceMapError([f"{path}: not valid JSON: {e}"]) from None
    except RecursionError:
        raise SpaceMapError([f"{path}: not valid JSON: lists or objects nested too deep"]) from None
    except ValueError:  # Python's bound on the digits of an integer
        raise SpaceMapError([f"{path}: not valid JSON: a number of more than {sys.get_int_max_str_digits()} "
                             "digits"]) from None
    try:
        return parse_space_map(raw)
    except SpaceMapError as e:
        raise SpaceMapError([f"{path}: {p}" for p in e.problems]) from None


def parse_space_map(raw: object) -> SpaceMap:
    """Check a decoded map; every problem is one line naming the space (or key) and what is wrong."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SpaceMapError(["the map must be a JSON object with a `spaces` list"])
    unknown = set(raw) - {"spaces", "image", "entrances", "distances", "metres_per_pixel"}
    problems += [f"key {_shown(k)}: unknown key; allowed: spaces, image, entrances, distances, metres_per_pixel"
                 for k in sorted(unknown)]
    image = _image(raw.get("image"), problems)
    spaces = _spaces(raw.get("spaces"), image, problems)
    entrances = _entrances(raw.get("entrances", []), image, problems)
    distances = _distances(raw.get("distances", {}), {e.id for e in entrances}, {s.id for s in spaces}, problems)
    mpp = raw.get("metres_per_pixel")
    if mpp is not None and (not _number(mpp) or not 0 < mpp < 100):
        problems.append(f"metres_per_pixel: found {_shown(mpp)}; allowed: a number above 0")
    if problems:
        raise SpaceMapError(problems)
    return SpaceMap(tuple(spaces), tuple(entrances), distances, mpp, image)


_SHOWN = reprlib.Repr()  # a file can hold a 100-KB string, a 4000-digit number or lists nested 990 deep
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxlong, _SHOWN.maxother = 3, 60, 40, 60


def _shown(v: object) -> str:
    """A value from the file quoted in a problem line: its repr, shortened (and never recursing deep)."""
    return _SHOWN.repr(v)


def _number(v: object) -> bool:
    """A number a float holds: not a bool, NaN or infinite, nor an integer of 400 digits (float() would raise)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return math.isfinite(v) if isinstance(v, float) else abs(v) <= sys.float_info.max


def _image(v: object, problems: list[str]) -> tuple[int, int] | None:
    if v is None:
        return None
    if (isinstance(v, dict) and set(v) == {"width", "height"} and all(isinstance(v[k], int) and 8 <= v[k] <= 10000
                                                                      for k in ("width", "height"))):
        return v["width"], v["height"]
    problems.append(f"image: found {_shown(v)}; allowed: {{\"width\": pixels, \"height\": pixels}}")
    return None


def _spaces(v: object, image: tuple[int, int] | None, problems: list[str]) -> list[Space]:
    if not isinstance(v, list) or not v:
        problems.append("spaces: missing or empty; it must be a list of {\"id\", \"zone\", \"polygon\"}")
        return []
    if len(v) > MAX_SPACES:  # said at once: checking 100 000 polygons held the gateway's CPU for seconds
        problems.append(f"spaces: {len(v)} spaces; at most {MAX_SPACES} for one camera")
        return []
    out, seen = [], set()
    for i, s in enumerate(v):
        where = f"spaces[{i}]" + (f" (id {_shown(s.get('id'))})" if isinstance(s, dict) and "id" in s else "")
        if not isinstance(s, dict):
            problems.append(f"{where}: must be an object with id, zone and polygon")
            continue
        extra = set(s) - {"id", "zone", "polygon"}
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}; allowed: id, zone, polygon")
        sid, zone = s.get("id"), s.get("zone")
        if not isinstance(sid, str) or not _ID.match(sid):
            problems.append(f"{where}: id {_shown(sid)}: 1-40 letters, digits or _ . : - (starting with a letter or "
                            "digit)")
        elif sid in seen:
            problems.append(f"{where}: id {_shown(sid)} is used by another space")
        else:
            seen.add(sid)
        if not isinstance(zone, str) or not _ID.match(zone):
            problems.append(f"{where}: zone {_shown(zone)}: 1-40 letters, digits or _ . : -")
        polygon = _polygon(s.get("polygon"), image, where, problems)
        if polygon and isinstance(sid, str) and isinstance(zone, str):
            out.append(Space(sid, zone, polygon))
    zones = {s.zone for s in out}
    if len(zones) > MAX_ZONES:
        problems.append(f"spaces: {len(zones)} zones; at most {MAX_ZONES}")
    problems += _drawn_over(out)
    return out


def _drawn_over(spaces: list[Space]) -> list[str]:
    """Spaces drawn on top of each other: the centre of one inside the other (neighbours that share or slightly
    cross an edge are fine). A car there would be counted twice, and a driver sent to a space that is taken."""
    boxes = sorted((min(x for x, _ in s.polygon), max(x for x, _ in s.polygon), min(y for _, y in s.polygon),
                    max(y for _, y in s.polygon), k) for k, s in enumerate(spaces))
    out = []
    for i, (_, ax1, ay0, ay1, a) in enumerate(boxes):
        for bx0, _, by0, by1, b in boxes[i + 1:]:
            if bx0 > ax1:
                break  # sorted by left edge: no later box reaches back
            if by0 > ay1 or by1 < ay0:
                continue
            sa, sb = spaces[a], spaces[b]
            if _inside(sa.centre, sb.polygon) or _inside(sb.centre, sa.polygon):
                first, second = sorted((sa.id, sb.id))
                out.append(f"spaces: {first} and {second} are drawn over each other (the centre of one is inside "
                           "the other); a car there would count twice")
    if len(out) > MAX_OVERLAPS_SAID:  # 500 copies of one space are 124,750 pairs
        out[MAX_OVERLAPS_SAID:] = [f"spaces: {len(out) - MAX_OVERLAPS_SAID} more pairs drawn over each other"]
    return out


def _inside(p: Point, polygon: tuple[Point, ...]) -> bool:
    """Whether p is inside the polygon (even-odd rule)."""
    x, y, inside = p[0], p[1], False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def polygon_problem(points: object, image: tuple[int, int] | None = None) -> str | None:
    """Why a polygon cannot be a space, or None: 3-32 finite [x, y] points, inside the image, a simple (not
    self-crossing) outline of at least MIN_AREA_PX."""
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_POINTS:
        return f"polygon must be a list of 3 to {MAX_POINTS} [x, y] points"
    for j, p in enumerate(points):
        if not (isinstance(p, list | tuple) and len(p) == 2 and all(_number(c) for c in p)):
            return f"polygon point {j} is {_shown(p)}, not [x, y] numbers"
        width, height = image or (MAX_SIDE_PX, MAX_SIDE_PX)
        if not (0 <= p[0] <= width and 0 <= p[1] <= height):
            size = f"{image[0]}x{image[1]}" if image else f"at most {MAX_SIDE_PX} px a side"
            return f"polygon point {j} {_shown(list(p))} is outside the image ({size})"
    pts = [(float(x), float(y)) for x, y in points]
    if _crosses(pts):
        return "polygon crosses itself (give its points in order around the space)"
    area = abs(_area(pts))
    if area < MIN_AREA_PX:
        return f"polygon has an area of {area:.1f} px, less than {MIN_AREA_PX:g} (points repeated or in a line?)"
    return None


def outside_problem(spaces: Sequence[Space], width: int, height: int) -> str | None:
    """Which spaces reach outside a width x height picture, as one line, or None when every corner is inside."""
    outside = [(s, p) for s in spaces for p in s.polygon if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if not outside:
        return None
    (space, (x, y)), n = outside[0], len({s.id for s, _ in outside})
    more = f" (and {n - 1} more space{'s' if n > 2 else ''})" if n > 1 else ""
    return f"space {space.id!r} has a corner at [{x:g}, {y:g}], outside the {width}x{height} image{more}"


def _polygon(v: object, image: tuple[int, int] | None, where: str, problems: list[str]) -> tuple[Point, ...] | None:
    problem = polygon_problem(v, image)
    if problem:
        problems.append(f"{where}: {problem}")
        return None
    assert isinstance(v, list)
    return tuple((float(x), float(y)) for x, y in v)


def _area(pts: list[Point]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True)) / 2


def _crosses(pts: list[Point]) -> bool:
    """Whether two edges that do not share a corner intersect."""
    n = len(pts)
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if _intersect(*edges[i], *edges[j]):
                return True
    return False


def _intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def _entrances(v: object, image: tuple[int, int] | None, problems: list[str]) -> list[Entrance]:
    if not isinstance(v, list):
        problems.append("entrances: must be a list of {\"id\", \"point\"?}")
        return []
    if len(v) > MAX_ENTRANCES:
        problems.append(f"entrances: {len(v)} entrances; at most {MAX_ENTRANCES}")
        return []
    out: list[Entrance] = []
    for i, e in enumerate(v):
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not _ID.match(e["id"]) \
                or set(e) - {"id", "point"}:
            problems.append(f"entrances[{i}]: found {_shown(e)}; allowed: {{\"id\": name, \"point\"?: [x, y]}}")
            continue
        point = e.get("point")
        if point is not None and not (isinstance(point, list) and len(point) == 2 and all(_number(c) for c in point)):
            problems.append(f"entrances[{i}] (id {_shown(e['id'])}): point {_shown(point)} is not [x, y] numbers")
            continue
        if any(x.id == e["id"] for x in out):
            problems.append(f"entrances[{i}]: id {_shown(e['id'])} is used by another entrance")
            continue
        out.append(Entrance(e["id"], (float(point[0]), float(point[1])) if point else None))
    return out


def _distances(v: object, entrances: set[str], spaces: set[str], problems: list[str]) -> dict[str, dict[str, float]]:
    if not isinstance(v, dict):
        problems.append("distances: must be {entrance: {space: metres}}")
        return {}
    out: dict[str, dict[str, float]] = {}
    for ent, row in v.items():
        if ent not in entrances:
            problems.append(f"distances: entrance {_shown(ent)} is not in entrances")
            continue
        if not isinstance(row, dict):
            problems.append(f"distances.{ent}: must be {{space: metres}}")
            continue
        for sid, m in row.items():
            if sid not in spaces:
                problems.append(f"distances.{ent}: space {_shown(sid)} is not in spaces")
            elif not _number(m) or m < 0:
                problems.append(f"distances.{ent}.{sid}: found {_shown(m)}; allowed: metres, 0 or more")
            else:
                out.setdefault(ent, {})[sid] = float(m)
    return out


# ---- PKLot annotations ----------------------------------------------------------------------------------------

def read_pklot_xml(path: str | Path) -> list[tuple[str, list[Point], bool | None]]:
    """(id, contour, occupied or None) of every space in a PKLot-format XML file."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - see the import
    except (OSError, ET.ParseError) as e:
        raise SpaceMapError([f"{path}: not a readable PKLot XML file: {e}"]) from None
    out = []
    for i, el in enumerate(root.iter("space")):
        sid = el.get("id") or str(i + 1)
        pts = [(float(p.get("x", "nan")), float(p.get("y", "nan"))) for p in el.findall("./contour/point")]
        if not pts:  # some PKLot files carry only the rotated rectangle
            pts = _rect_points(el)
        occ = el.get("occupied")
        out.append((sid, pts, None if occ is None else occ.strip() == "1"))
    if not out:
        raise SpaceMapError([f"{path}: no <space> elements"])
    return out


def _rect_points(el: ET.Element) -> list[Point]:
    c, s, a = el.find("./rotatedRect/center"), el.find("./rotatedRect/size"), el.find("./rotatedRect/angle")
    if c is None or s is None:
        return []
    cx, cy, w, h = (float(v.get(k, "nan")) for v, k in ((c, "x"), (c, "y"), (s, "w"), (s, "h")))
    t = math.radians(float(a.get("d", "0")) if a is not None else 0.0)
    dx, dy = (w / 2 * math.cos(t), w / 2 * math.sin(t)), (-h / 2 * math.sin(t), h / 2 * math.cos(t))
    return [(cx + sx * dx[0] + sy * dy[0], cy + sx * dx[1] + sy * dy[1]) for sx, sy in
            ((-1, -1), (1, -1), (1, 1), (-1, 1))]


def from_pklot_xml(path: str | Path, zone: str = "A") -> SpaceMap:
    """A map from a PKLot annotation: ids as in the file (prefixed with the zone when numeric), one zone."""
    spaces = [{"id": f"{zone}-{int(sid):02d}" if sid.isdigit() else sid, "zone": zone,
               "polygon": [[round(x, 1), round(y, 1)] for x, y in pts]} for sid, pts, _ in read_pklot_xml(path)]
    return parse_space_map({"spaces": spaces})
