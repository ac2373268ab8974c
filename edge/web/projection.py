"""The kiosk's state, projected from events: what each kind of event does to what residents see.

Pure: events in, state out; no store, clock or I/O. Unknown fields are ignored, and an event whose fields have the
wrong type changes nothing. Bins and lights are keyed by the event's source, as alerts are.

| kind | data it reads | effect |
|---|---|---|
| `bin.level` | `level_pct` | the bin's fill level (below 40 % it also counts as emptied) |
| `bin.full` | `level_pct`? | the bin is nearly full |
| `bin.emptying` | - | the bin is being emptied |
| `bin.emptied` | `level_pct`? | the bin is back to normal |
| `alert.acked` | `kind`, `alert_source` | staff took a `bin.full` (being emptied) or a `light.fault` (being repaired) |
| `light.fault` | - | a light fault, shown from the event's time |
| `light.restored` | - | the fault is gone |
| `parking.summary` | `zones`, `nearest`, `spaces`?, `error`? | free/total per zone, the nearest free space (*) |
| `parking.space` | `space`, `zone`, `occupied` | its zone's free count, until the next summary |
| `gate.opened` | `plate`, `direction`? | a resident's car came in: kept only masked, e.g. 湘A·***45 |
| `kiosk.notice` | `id`, `zh`, `en`?, `until`? | a community notice |
| `kiosk.notice_removed` | `id` | the notice is gone |

Every other kind (wristbands, heart rates, visitors' plates, ...) is ignored: it never reaches the public page.

(*) Each source (camera) reports its own zones: a summary replaces what its source said before, a zone that several
sources see shows their sum, and the nearest free space from an entrance is the closest that any source offers. A
summary with an `error` (a blind camera: nothing known of its spaces) takes its source's counts and guidance off the
screen: not known is not "full"; its zones that no other source counts are listed as not known (`unknown_zones`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.clock import parse_rfc3339
from edge.events import Event

MAX_ZONES = 50
MAX_ENTRANCES = 10
MAX_SPACES = 5000
MAX_NOTICES = 50
MAX_ID = 40  # a space map's ids, zones and entrances (vision/spaces.py): cut shorter, labels were not found
CLEARS_BELOW_PCT = 40.0  # a level this low means the bin was emptied, even if bin.emptied was missed
PLATE_RE = re.compile(r"^([\u4e00-\u9fff])([A-Z])[·•.\- ]?([A-Z0-9\u4e00-\u9fff]{4,7})$")


@dataclass
class Bin:
    level_pct: float | None = None
    full: bool = False
    emptying: bool = False


@dataclass
class LightFault:
    since: datetime
    repairing: bool = False


@dataclass(frozen=True)
class Nearest:
    entrance: str
    space: str | None  # None: nothing free that this entrance reaches
    zone: str | None
    distance_m: float | None


@dataclass(frozen=True)
class Notice:
    id: str
    zh: str
    en: str | None
    until: datetime | None
    ts: datetime


@dataclass
class Parking:
    zones: dict[str, list[int]] = field(default_factory=dict)  # zone -> [free, total], in order of appearance
    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (source, zone) -> its summary's
    guidance: dict[tuple[str, str], Nearest] = field(default_factory=dict)  # (source, entrance) -> its nearest
    blind: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> the zones it cannot see now: total
    spaces: dict[str, tuple[str | None, bool]] = field(default_factory=dict)  # space -> (zone, occupied)
    from_summary: bool = False
    ts: datetime | None = None


@dataclass
class KioskState:
    seq: int = 0
    bins: dict[str, Bin] = field(default_factory=dict)
    lights: dict[str, LightFault] = field(default_factory=dict)
    parking: Parking = field(default_factory=Parking)
    entry: tuple[str, datetime] | None = None  # the last resident car in: masked plate, when
    notices: dict[str, Notice] = field(default_factory=dict)

    def apply(self, event: Event) -> bool:
        """Apply one event; True when what the kiosk shows may have changed."""
        self.seq = max(self.seq, event.seq)
        handler = HANDLERS.get(event.kind)
        return bool(handler and handler(self, event))


# ---- reading fields defensively ---------------------------------------------------------------------------------

def _num(data: Mapping[str, Any], key: str, lo: float = 0, hi: float = 100) -> float | None:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        return None
    return float(v)


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SPACES else None


def _text(data: Mapping[str, Any], key: str, limit: int = 300) -> str | None:
    v = data.get(key)
    return v.strip()[:limit] if isinstance(v, str) and v.strip() else None


def mask_plate(text: object) -> str | None:
    """湘A12345 -> 湘A·***45: province and city letter, then only the last two characters. None if not a plate."""
    if not isinstance(text, str):
        return None
    m = PLATE_RE.match(text.strip().upper())
    return f"{m[1]}{m[2]}·***{m[3][-2:]}" if m else None


# ---- bins and lights --------------------------------------------------------------------------------------------

def _bin(state: KioskState, e: Event) -> Bin:
    return state.bins.setdefault(e.source, Bin())


def _bin_level(state: KioskState, e: Event) -> bool:
    level = _num(e.data, "level_pct")
    if level is None:
        return False
    b = _bin(state, e)
    b.level_pct = level
    if level < CLEARS_BELOW_PCT:
        b.full = b.emptying = False
    return True


def _bin_full(state: KioskState, e: Event) -> bool:
    b = _bin(state, e)
    b.full = True
    level = _num(e.data, "level_pct")
    b.level_pct = level if level is not None else b.level_pct
    return True


def _bin_emptying(state: KioskState, e: Event) -> bool:
    _bin(state, e).emptying = True
    return True


def _bin_emptied(state: KioskState, e: Event) -> bool:
    b = _bin(state, e)
    b.full = b.emptying = False
    level = _num(e.data, "level_pct")
    b.level_pct = level if level is not None else b.level_pct
    return True


def _light_fault(state: KioskState, e: Event) -> bool:
    if e.source in state.lights:
        return False  # the same fault reported again: keep its first time
    state.lights[e.source] = LightFault(e.ts)
    return True


def _light_restored(state: KioskState, e: Event) -> bool:
    return state.lights.pop(e.source, None) is not None


def _acked(state: KioskState, e: Event) -> bool:
    kind, source = e.data.get("kind"), e.data.get("alert_source")
    if kind == "bin.full" and source in state.bins and state.bins[source].full:
        state.bins[source].emptying = True
        return True
    if kind == "light.fault" and source in state.lights:
        state.lights[source].repairing = True
        return True
    return False


# ---- parking ----------------------------------------------------------------------------------------------------

def parse_zones(raw: Any) -> dict[str, list[int]] | None:
    """Zones as a list of {"zone", "free", "total"} or a mapping zone -> {"free", "total"}."""
    if isinstance(raw, Mapping):
        raw = [{"zone": k, **v} for k, v in raw.items() if isinstance(v, Mapping)]
    if not isinstance(raw, list):
        return None
    zones: dict[str, list[int]] = {}
    for z in raw[:MAX_ZONES]:
        if not isinstance(z, Mapping):
            continue
        name = z.get("zone", z.get("id"))
        free, total = _count(z.get("free")), _count(z.get("total"))
        if isinstance(name, str) and free is not None and total is not None and free <= total:
            zones[name[:MAX_ID]] = [free, total]
    return zones


def _parse_nearest(raw: Any) -> list[Nearest]:
    if isinstance(raw, Mapping):
        raw = [{"entrance": k, **v} for k, v in raw.items() if isinstance(v, Mapping)]
    out = []
    for n in raw[:MAX_ENTRANCES] if isinstance(raw, list) else []:
        if isinstance(n, Mapping) and isinstance(n.get("entrance"), str):
            space, zone = _text(n, "space", MAX_ID), _text(n, "zone", MAX_ID)
            out.append(Nearest(n["entrance"][:MAX_ID], space, zone if space else None,
                               _num(n, "distance_m", 0, 10_000) if space else None))
    return out


def _parse_spaces(raw: Any) -> dict[str, tuple[str | None, bool]]:
    if isinstance(raw, Mapping):
        raw = [{"space": k, "occupied": v} if isinstance(v, bool) else {"space": k, **v}
               for k, v in raw.items() if isinstance(v, (bool, Mapping))]
    out: dict[str, tuple[str | None, bool]] = {}
    for s in raw[:MAX_SPACES] if isinstance(raw, list) else []:
        if isinstance(s, Mapping) and isinstance(s.get("occupied"), bool):
            sid = _text(s, "space", MAX_ID) or _text(s, "id", MAX_ID)
            if sid:
                out[sid] = (_text(s, "zone", MAX_ID), s["occupied"])
    return out


def _summary(state: KioskState, e: Event) -> bool:
    zones = parse_zones(e.data.get("zones"))
    if zones is None:
        return False
    blind = _text(e.data, "error") is not None  # the camera sees nothing: its zones are unknown, and guide nobody
    p = state.parking
    p.blind.pop(e.source, None)
    if blind:
        p.blind[e.source], zones = {z: total for z, (_, total) in zones.items()}, {}
    for gone in [k for k in p.counts if k[0] == e.source and k[1] not in zones]:
        del p.counts[gone]
    for z, counts in zones.items():  # a zone already counted keeps its place on the screen
        p.counts[(e.source, z)] = counts
    p.zones = _sum_zones(p.counts)  # before any summary they were counted from space events
    p.guidance = {k: n for k, n in p.guidance.items() if k[0] != e.source}
    if not blind:
        p.guidance.update({(e.source, n.entrance): n for n in _parse_nearest(e.data.get("nearest"))})
    p.spaces.update(_parse_spaces(e.data.get("spaces")))
    p.from_summary, p.ts = True, e.ts
    return True


def unknown_zones(p: Parking) -> dict[str, int]:
    """Zones that only blind sources see, with their total: shown as not counted rather than left off (residents
    looked for them)."""
    out: dict[str, int] = {}
    for zones in p.blind.values():
        for z, total in zones.items():
            if z not in p.zones:
                out[z] = out.get(z, 0) + total
    return out


def _sum_zones(counts: Mapping[tuple[str, str], list[int]]) -> dict[str, list[int]]:
    """zone -> [free, total] over every source that counts it."""
    zones: dict[str, list[int]] = {}
    for (_, zone), (free, total) in counts.items():
        z = zones.setdefault(zone, [0, 0])
        z[0], z[1] = z[0] + free, z[1] + total
    return zones


def nearest(p: Parking) -> list[Nearest]:
    """Per entrance, the closest free space any source offers (one without a distance counts as far)."""
    best: dict[str, Nearest] = {}
    for n in p.guidance.values():
        old = best.get(n.entrance)
        if old is None or (n.space and (not old.space or _far(n) < _far(old))):
            best[n.entrance] = n
    return list(best.values())


def _far(n: Nearest) -> float:
    return n.distance_m if n.distance_m is not None else float("inf")


def _space(state: KioskState, e: Event) -> bool:
    sid = _text(e.data, "space", MAX_ID) or _text(e.data, "id", MAX_ID)
    occupied = e.data.get("occupied")
    if sid is None or not isinstance(occupied, bool):
        return False
    p = state.parking
    zone = _text(e.data, "zone", MAX_ID)
    before = p.spaces.get(sid)
    if before is None and len(p.spaces) >= MAX_SPACES:
        return False
    p.spaces[sid] = (zone, occupied)
    p.ts = e.ts
    if not p.from_summary:  # no summary yet: count what the space events have told
        p.zones = _zones_from_spaces(p.spaces)
        return True
    counted = p.counts.get((e.source, zone or ""))
    if before is not None and before[1] != occupied and counted is not None:
        free, total = counted
        counted[0] = min(total, max(0, free + (-1 if occupied else 1)))
        p.zones = _sum_zones(p.counts)
    if occupied:  # guidance to a space that was just taken is wrong: drop it until the next summary
        p.guidance = {k: n if n.space != sid else Nearest(n.entrance, None, None, None)
                      for k, n in p.guidance.items()}
    return True


def _zones_from_spaces(spaces: Mapping[str, tuple[str | None, bool]]) -> dict[str, list[int]]:
    zones: dict[str, list[int]] = {}
    for zone, occupied in spaces.values():
        z = zones.setdefault(zone or "-", [0, 0])
        z[0] += not occupied
        z[1] += 1
    return zones


# ---- gate and notices -------------------------------------------------------------------------------------------

def _gate_opened(state: KioskState, e: Event) -> bool:
    masked = mask_plate(e.data.get("plate"))
    if masked is None or e.data.get("direction") not in (None, "entry", "in"):
        return False
    state.entry = (masked, e.ts)
    return True


def _notice(state: KioskState, e: Event) -> bool:
    nid, zh = _text(e.data, "id", 40), _text(e.data, "zh", 200)
    if nid is None or zh is None:
        return False
    until = None
    if isinstance(e.data.get("until"), str):
        try:
            until = parse_rfc3339(e.data["until"])
        except ValueError:
            return False
    state.notices[nid] = Notice(nid, zh, _text(e.data, "en", 300), until, e.ts)
    while len(state.notices) > MAX_NOTICES:  # the oldest go first
        del state.notices[min(state.notices.values(), key=lambda n: n.ts).id]
    return True


def _notice_removed(state: KioskState, e: Event) -> bool:
    return state.notices.pop(str(e.data.get("id")), None) is not None


HANDLERS: dict[str, Callable[[KioskState, Event], bool]] = {
    "bin.level": _bin_level,
    "bin.full": _bin_full,
    "bin.emptying": _bin_emptying,
    "bin.emptied": _bin_emptied,
    "alert.acked": _acked,
    "light.fault": _light_fault,
    "light.restored": _light_restored,
    "parking.summary": _summary,
    "parking.space": _space,
    "gate.opened": _gate_opened,
    "kiosk.notice": _notice,
    "kiosk.notice_removed": _notice_removed,
}
