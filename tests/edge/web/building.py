"""A gateway for the kiosk's tests: `edge run` with a named building, places, a configured notice."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import Gateway, base_config, to_toml

KIOSK = {
    "title": "幸福里社区 7 号楼",
    "title_en": "Xingfuli, Building 7",
    "places": {
        "A": {"zh": "地面 A 区", "en": "Surface A", "arrow": "left"},
        "B": {"zh": "地下 B 区", "en": "Basement B", "arrow": "ahead-right"},
        "north": {"zh": "北门", "en": "North gate"},
        "south": {"zh": "南门", "en": "South gate"},
        "bin-1": {"zh": "东侧 厨余垃圾", "en": "East, food waste"},
        "bin-2": {"zh": "西侧 其他垃圾", "en": "West, other waste"},
        "bin-3": {"zh": "北侧 可回收物", "en": "North, recyclables"},
        "bin-4": {"zh": "车库 其他垃圾", "en": "Garage, other waste"},
        "light-3f": {"zh": "3 楼走廊灯", "en": "3rd floor corridor"},
        "light-gate": {"zh": "大门路灯", "en": "Gate street light"},
    },
}
NOTICE_TOML = """
[[kiosk.notices]]
zh = "本周六上午 9 点，社区广场有义诊和理发服务，欢迎参加。"
en = "Saturday 9 am on the community square: free check-ups and haircuts."
"""


def gateway(folder: Path, **sections: Any) -> Gateway:
    """A gateway (not started) with the kiosk configured; `sections` adds or overrides config sections."""
    doc = base_config(folder, kiosk=KIOSK, **sections)
    path = folder / "edge.toml"
    path.write_text(to_toml(doc) + "\n" + NOTICE_TOML)
    return Gateway(path, doc)


def parking(free_a: int, free_b: int = 0) -> dict[str, Any]:
    return {"kind": "parking.summary", "source": "cam-1", "data": {
        "zones": [{"zone": "A", "free": free_a, "total": 40}, {"zone": "B", "free": free_b, "total": 24}],
        "nearest": [{"entrance": "north", "space": "A-07", "zone": "A", "distance_m": 35}]}}


# Events that put every state on the screen: parking, each bin state, light faults, a resident's car, a notice,
# and the private things that must never show (an SOS with health data, a visitor's plate).
SCENE: list[dict[str, Any]] = [
    parking(12),
    {"kind": "bin.level", "source": "bin-3", "data": {"bin": "bin-3", "level_pct": 86}},
    {"kind": "bin.full", "source": "bin-3", "priority": "high", "data": {"bin": "bin-3", "level_pct": 86}},
    {"kind": "bin.level", "source": "bin-4", "data": {"bin": "bin-4", "level_pct": 93}},
    {"kind": "bin.emptying", "source": "bin-4", "data": {"bin": "bin-4"}},
    {"kind": "light.fault", "source": "light-3f", "priority": "high", "data": {"light": "light-3f"}},
    {"kind": "light.fault", "source": "light-gate", "priority": "high", "data": {"light": "light-gate"}},
    {"kind": "gate.opened", "source": "gate-1", "data": {"plate": "湘A12345", "direction": "entry",
                                                         "confidence": 0.97}},
    {"kind": "plate.visitor", "source": "gate-1", "data": {"plate": "粤B99999", "direction": "entry"}},
    {"kind": "wristband.sos", "source": "band-0a1b2c3d", "priority": "critical",
     "data": {"band": "0a1b2c3d", "flat": "3-201", "sos_counter": 4, "rssi": -60, "battery_pct": 85,
              "heart_rate_bpm": 128}},
    {"kind": "wristband.heart_rate", "source": "band-0a1b2c3d",
     "data": {"band": "0a1b2c3d", "flat": "3-201", "bpm": 128}},
]
DRILL = "小区将进行消防演练，请大家配合。"
# A busy day: more zones, bins, faults and notices than usual. The screen must still fit, nothing cut off.
BUSY: list[dict[str, Any]] = [
    {"kind": "parking.summary", "source": "cam-1", "data": {
        "zones": [{"zone": z, "free": f, "total": 30} for z, f in (("A", 3), ("B", 0), ("C", 17), ("D", 9))],
        "nearest": [{"entrance": "north", "space": "C-12", "zone": "C", "distance_m": 80},
                    {"entrance": "south", "space": "A-02", "zone": "A", "distance_m": 20}]}},
    *({"kind": "bin.level", "source": f"bin-{i}", "data": {"level_pct": 14 * i}} for i in range(1, 8)),
    *({"kind": "light.fault", "source": f"light-{i}f", "priority": "high", "data": {}} for i in range(1, 7)),
    *({"kind": "kiosk.notice", "source": "api", "data": {"id": f"n{i}", "zh": "通知：" + DRILL * i,
                                                         "en": "Notice: fire drill in the compound. " * i}}
      for i in range(1, 5)),
]
# Strings of SCENE that must never reach the public page or its JSON.
PRIVATE = ["湘A12345", "粤B99999", "3-201", "0a1b2c3d", "band-", "bpm", "heart", "battery", "rssi", "sos", "心率",
           "wristband", "flat"]


def history(now: datetime | None = None) -> list[dict[str, Any]]:
    """A week of bin levels and a day of parking summaries before now, for the staff console's charts."""
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for h in range(7 * 24, 0, -1):
        ts = (now - timedelta(hours=h)).isoformat()
        for name, period, phase in (("bin-1", 40, 0), ("bin-2", 55, 20)):  # filled, then emptied
            level = round(3 + 95 * ((h + phase) % period) / period, 1)
            events.append({"kind": "bin.level", "source": name, "ts": ts, "data": {"level_pct": level}})
    for m in range(24 * 4, 0, -1):
        ts = now - timedelta(minutes=15 * m)
        busy = 0.85 - 0.6 * math.exp(-((ts.hour + 8) % 24 - 13) ** 2 / 18)  # empty around lunch, full at night
        events.append({**parking(round(40 * (1 - busy)), round(24 * (1 - busy) * 0.5)), "ts": ts.isoformat()})
    return events
