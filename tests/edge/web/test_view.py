"""The public view: names, states, expiry, and nothing beyond what the page shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from edge.config import KioskConfig
from edge.events import Event, Priority
from edge.web.projection import Bin, KioskState
from edge.web.view import bin_state, public_view

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
TOP_KEYS = {"building", "now", "timezone", "parking", "bins", "lights", "notices", "phones"}


def ev(seq: int, kind: str, source: str, data: dict, minutes_ago: float = 1) -> Event:
    return Event("t-gw1", "b01", seq, NOW - timedelta(minutes=minutes_ago), kind, source, Priority.NORMAL, data)


def view(state: KioskState, **cfg) -> dict:
    return public_view(state, KioskConfig(**cfg), building_id="b07", now=NOW, tz="Asia/Shanghai")


def test_bin_states():
    assert bin_state(Bin(50), 80) == "normal"
    assert bin_state(Bin(80), 80) == "nearly_full"
    assert bin_state(Bin(60, full=True), 80) == "nearly_full"
    assert bin_state(Bin(90, full=True, emptying=True), 80) == "emptying"
    assert bin_state(Bin(None), 80) == "normal"


def test_configured_names_arrows_and_defaults():
    s = KioskState()
    for e in (ev(1, "bin.level", "bin-2", {"level_pct": 81.6}), ev(2, "light.fault", "corridor", {}),
              ev(3, "parking.summary", "cam", {"zones": [{"zone": "A", "free": 2, "total": 9}],
                                               "nearest": [{"entrance": "north", "space": "A-1", "zone": "A",
                                                            "distance_m": 12.4}]})):
        s.apply(e)
    v = view(s, title="幸福里 7 号楼", places={"A": {"zh": "地面 A 区", "arrow": "left"}, "north": {"zh": "北门",
                                                                                              "en": "North gate"}})
    assert set(v) == TOP_KEYS
    assert v["building"] == {"zh": "幸福里 7 号楼", "en": "幸福里 7 号楼"}
    assert v["bins"] == [{"id": "bin-2", "zh": "2号垃圾桶", "en": "Bin 2", "level_pct": 82, "state": "nearly_full"}]
    assert v["lights"] == [{"id": "corridor", "zh": "corridor", "en": "corridor", "since": "2026-11-23T07:59:00.000Z",
                            "state": "reported"}]
    assert v["parking"]["zones"] == [{"zone": "A", "zh": "地面 A 区", "en": "Zone A", "arrow": "left", "free": 2,
                                      "total": 9}]
    assert v["parking"]["nearest"] == [{"entrance": "north", "zh": "北门", "en": "North gate", "space": "A-1",
                                        "zone": "A", "distance_m": 12}]
    assert [p["number"] for p in v["phones"]] == ["110", "119", "120"]


def test_the_welcome_disappears_after_a_quarter_of_an_hour_and_can_be_switched_off():
    s = KioskState()
    s.apply(ev(1, "gate.opened", "gate", {"plate": "湘A12345"}, minutes_ago=14))
    assert view(s)["parking"]["entry"] == {"plate": "湘A·***45", "ts": "2026-11-23T07:46:00.000Z"}
    assert view(s, show_gate=False)["parking"]["entry"] is None
    s.apply(ev(2, "gate.opened", "gate", {"plate": "湘A12345"}, minutes_ago=16))
    assert view(s)["parking"]["entry"] is None


def test_notices_pushed_first_then_configured_and_expired_ones_left_out():
    s = KioskState()
    s.apply(ev(1, "kiosk.notice", "api", {"id": "old", "zh": "旧", "until": "2026-11-23T07:00:00Z"}))
    s.apply(ev(2, "kiosk.notice", "api", {"id": "a", "zh": "甲"}, minutes_ago=5))
    s.apply(ev(3, "kiosk.notice", "api", {"id": "b", "zh": "乙", "en": "B"}, minutes_ago=2))
    v = view(s, notices=[{"zh": "今天最后一天", "until": date(2026, 11, 23)},
                         {"zh": "昨天结束", "until": date(2026, 11, 22)}, {"zh": "长期", "en": "Always"}])
    assert v["notices"] == [{"id": "b", "zh": "乙", "en": "B"}, {"id": "a", "zh": "甲", "en": None},
                            {"id": "config-0", "zh": "今天最后一天", "en": None},
                            {"id": "config-2", "zh": "长期", "en": "Always"}]
