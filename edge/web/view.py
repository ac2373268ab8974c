"""What the public kiosk page shows: the projection as the JSON the page renders, and nothing more.

Pure. Everything in here is public (`GET /api/v1/kiosk` and the page's live stream): free parking, bin and light
states, notices, phone numbers, and at most a masked plate. No wristband, resident, flat or health field exists in
the projection, so none can leak here.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.clock import rfc3339
from edge.config import KioskConfig, NoticeConfig
from edge.web.projection import Bin, KioskState, nearest, unknown_zones

ENTRY_SHOWN = timedelta(minutes=15)  # how long "welcome home" stays after a resident's car came in
_NUMBER = re.compile(r"(\d+)$")


def bin_state(b: Bin, nearly_full_pct: float) -> str:
    """normal, nearly_full or emptying."""
    if b.emptying:
        return "emptying"
    if b.full or (b.level_pct is not None and b.level_pct >= nearly_full_pct):
        return "nearly_full"
    return "normal"


def label(cfg: KioskConfig, place: str, zh: str, en: str) -> dict[str, Any]:
    """The configured names of a zone, entrance, bin or light; the defaults otherwise."""
    p = cfg.places.get(place)
    if p is None:
        return {"zh": zh, "en": en}
    out: dict[str, Any] = {"zh": p.zh, "en": p.en or en}
    if p.arrow:
        out["arrow"] = p.arrow
    return out


def _numbered(place: str, zh: str, en: str) -> tuple[str, str]:
    m = _NUMBER.search(place)
    return (f"{m[1]}号{zh}", f"{en} {m[1]}") if m else (place, place)


def public_view(state: KioskState, cfg: KioskConfig, *, building_id: str, now: datetime, tz: str
                ) -> dict[str, Any]:
    return {
        "building": {"zh": cfg.title or building_id, "en": cfg.title_en or cfg.title or building_id},
        "now": rfc3339(now),
        "timezone": tz,
        "parking": _parking(state, cfg, now),
        "bins": _bins(state, cfg),
        "lights": _lights(state, cfg),
        "notices": [{k: n[k] for k in ("id", "zh", "en")} for n in notices(state, cfg, now=now, tz=tz)],
        "phones": [p.model_dump() for p in cfg.phones],
    }


def _parking(state: KioskState, cfg: KioskConfig, now: datetime) -> dict[str, Any]:
    p = state.parking
    zones = [{"zone": z, **label(cfg, z, *_zone_names(z)), "free": free, "total": total}
             for z, (free, total) in p.zones.items()]
    # a zone only a blind camera sees: free null, not counted just now (neither full nor left off)
    zones += [{"zone": z, **label(cfg, z, *_zone_names(z)), "free": None, "total": total}
              for z, total in unknown_zones(p).items()]
    guide = [{"entrance": n.entrance, **label(cfg, n.entrance, n.entrance, n.entrance), "space": n.space,
              "zone": n.zone, "distance_m": round(n.distance_m) if n.distance_m is not None else None}
             for n in nearest(p)]
    entry = None
    if cfg.show_gate and state.entry and now - state.entry[1] <= ENTRY_SHOWN:
        entry = {"plate": state.entry[0], "ts": rfc3339(state.entry[1])}
    return {"zones": zones, "nearest": guide, "updated": rfc3339(p.ts) if p.ts else None, "entry": entry}


def _zone_names(zone: str) -> tuple[str, str]:
    return ("停车场", "Car park") if zone == "-" else (f"{zone} 区", f"Zone {zone}")


def _bins(state: KioskState, cfg: KioskConfig) -> list[dict[str, Any]]:
    return [{"id": name, **label(cfg, name, *_numbered(name, "垃圾桶", "Bin")),
             "level_pct": round(b.level_pct) if b.level_pct is not None else None,
             "state": bin_state(b, cfg.nearly_full_pct)}
            for name, b in sorted(state.bins.items())]


def _lights(state: KioskState, cfg: KioskConfig) -> list[dict[str, Any]]:
    faults = sorted(state.lights.items(), key=lambda kv: kv[1].since)
    return [{"id": name, **label(cfg, name, *_numbered(name, "灯", "Light")), "since": rfc3339(f.since),
             "state": "repairing" if f.repairing else "reported"} for name, f in faults]


def notices(state: KioskState, cfg: KioskConfig, *, now: datetime, tz: str) -> list[dict[str, Any]]:
    """Pushed notices (newest first), then the configured ones; expired ones are left out."""
    pushed = sorted((n for n in state.notices.values() if n.until is None or n.until > now),
                    key=lambda n: n.ts, reverse=True)
    out = [{"id": n.id, "zh": n.zh, "en": n.en, "source": "api"} for n in pushed]
    for i, n in enumerate(cfg.notices):
        if config_notice_end(n, tz) > now:
            out.append({"id": f"config-{i}", "zh": n.zh, "en": n.en, "source": "config"})
    return out


def config_notice_end(n: NoticeConfig, tz: str) -> datetime:
    """A configured notice's `until` is its last day, in the site's time zone."""
    if n.until is None:
        return datetime.max.replace(tzinfo=ZoneInfo(tz))
    return datetime.combine(n.until + timedelta(days=1), time(), ZoneInfo(tz))
