"""The kiosk's projection: each kind of event, fed in as the store would deliver it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.events import Event, Priority
from edge.web.projection import HANDLERS, KioskState, Nearest, mask_plate, nearest

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Feed:
    """Builds events with increasing seq and time, and applies them to one state."""

    def __init__(self) -> None:
        self.state = KioskState()
        self.seq = 0

    def __call__(self, kind: str, source: str, data: dict[str, Any] | None = None, *,
                 priority: Priority = Priority.NORMAL) -> bool:
        self.seq += 1
        ev = Event("t-gw1", "b01", self.seq, T0 + timedelta(minutes=self.seq), kind, source, priority, data or {})
        return self.state.apply(ev)


@pytest.fixture
def feed() -> Feed:
    return Feed()


def test_a_bin_goes_nearly_full_then_emptying_then_normal(feed):
    feed("bin.level", "bin-1", {"bin": "bin-1", "level_pct": 55.5})
    b = feed.state.bins["bin-1"]
    assert (b.level_pct, b.full, b.emptying) == (55.5, False, False)
    feed("bin.full", "bin-1", {"bin": "bin-1", "level_pct": 81.0}, priority=Priority.HIGH)
    assert b.full and b.level_pct == 81.0
    assert feed("alert.acked", "api", {"alert_id": 3, "kind": "bin.full", "alert_source": "bin-1", "by": "li"})
    assert b.emptying
    feed("bin.emptied", "bin-1", {"bin": "bin-1", "level_pct": 3.0})
    assert (b.level_pct, b.full, b.emptying) == (3.0, False, False)


def test_a_low_level_clears_a_missed_emptied(feed):
    feed("bin.full", "bin-2", {"level_pct": 85})
    feed("bin.level", "bin-2", {"level_pct": 60})
    assert feed.state.bins["bin-2"].full
    feed("bin.level", "bin-2", {"level_pct": 12})
    assert not feed.state.bins["bin-2"].full


def test_an_ack_of_another_kind_or_an_unknown_bin_changes_nothing(feed):
    feed("bin.level", "bin-1", {"level_pct": 50})
    assert not feed("alert.acked", "api", {"kind": "bin.full", "alert_source": "bin-1"})  # not full: nothing to empty
    assert not feed("alert.acked", "api", {"kind": "wristband.sos", "alert_source": "band-1"})
    assert not feed.state.bins["bin-1"].emptying


def test_a_light_fault_is_reported_then_repairing_then_gone(feed):
    assert feed("light.fault", "light-3f", {"light": "light-3f"}, priority=Priority.HIGH)
    first = feed.state.lights["light-3f"].since
    assert not feed("light.fault", "light-3f", {}, priority=Priority.HIGH)  # the same fault again keeps its time
    assert feed.state.lights["light-3f"].since == first
    feed("alert.acked", "api", {"kind": "light.fault", "alert_source": "light-3f"})
    assert feed.state.lights["light-3f"].repairing
    assert feed("light.restored", "light-3f")
    assert feed.state.lights == {}
    assert not feed("light.state", "light-3f", {"lit": True})  # states are not shown


def test_a_parking_summary_as_lists_or_as_mappings(feed):
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 3, "total": 10}, {"zone": "B", "free": 0,
                                                                                         "total": 8}],
                                      "nearest": [{"entrance": "north", "space": "A-03", "zone": "A",
                                                   "distance_m": 12.4}]})
    p = feed.state.parking
    assert p.zones == {"A": [3, 10], "B": [0, 8]}
    assert nearest(p) == [Nearest("north", "A-03", "A", 12.4)]
    feed("parking.summary", "cam-1", {"zones": {"A": {"free": 4, "total": 10}},
                                      "nearest": {"north": {"space": None}}})
    assert p.zones == {"A": [4, 10]} and nearest(p) == [Nearest("north", None, None, None)]


def test_two_cameras_each_report_their_own_zones_and_the_closest_space_wins(feed):
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 3, "total": 10}],
                                      "nearest": [{"entrance": "north", "space": "A-03", "distance_m": 40}]})
    feed("parking.summary", "cam-2", {"zones": [{"zone": "B", "free": 1, "total": 5}],
                                      "nearest": [{"entrance": "north", "space": "B-01", "distance_m": 15},
                                                  {"entrance": "south", "space": None}]})
    p = feed.state.parking
    assert p.zones == {"A": [3, 10], "B": [1, 5]}
    assert [(n.entrance, n.space) for n in nearest(p)] == [("north", "B-01"), ("south", None)]
    feed("parking.summary", "cam-2", {"zones": [{"zone": "C", "free": 0, "total": 2}], "nearest": []})
    assert p.zones == {"A": [3, 10], "C": [0, 2]}  # cam-2 no longer counts B
    assert [(n.entrance, n.space) for n in nearest(p)] == [("north", "A-03")]


def test_a_zone_that_two_cameras_see_shows_the_sum_of_both(feed):
    # a basement level watched by two cameras: the second camera's summary used to replace the first's count
    feed("parking.summary", "cam-1", {"zones": [{"zone": "B1", "free": 3, "total": 40}]})
    feed("parking.summary", "cam-2", {"zones": [{"zone": "B1", "free": 2, "total": 30}, {"zone": "B2", "free": 1,
                                                                                         "total": 5}]})
    p = feed.state.parking
    assert p.zones == {"B1": [5, 70], "B2": [1, 5]}
    feed("parking.summary", "cam-1", {"zones": [{"zone": "B1", "free": 4, "total": 40}]})
    assert p.zones == {"B1": [6, 70], "B2": [1, 5]}  # its place on the screen kept
    feed("parking.space", "cam-2", {"space": "B1-07", "zone": "B1", "occupied": True})  # unknown before: no count
    assert p.zones["B1"] == [6, 70]


def test_a_blind_cameras_summary_takes_its_zones_and_guidance_off_the_screen(feed):
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 3, "total": 10}],
                                      "nearest": [{"entrance": "north", "space": "A-03", "zone": "A"}]})
    feed("parking.summary", "cam-2", {"zones": [{"zone": "B", "free": 1, "total": 5}],
                                      "nearest": [{"entrance": "south", "space": "B-01", "zone": "B"}]})
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 0, "total": 10}],
                                      "nearest": [{"entrance": "north", "space": None}],
                                      "error": "no space read for 60 s: no picture from the camera"})
    p = feed.state.parking
    assert p.zones == {"B": [1, 5]}  # A is not known: neither shown as full nor as free
    assert [(n.entrance, n.space) for n in nearest(p)] == [("south", "B-01")]
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 2, "total": 10}],
                                      "nearest": [{"entrance": "north", "space": "A-05", "zone": "A"}]})
    assert p.zones == {"B": [1, 5], "A": [2, 10]} and ("north", "A-05") in [(n.entrance, n.space) for n in nearest(p)]


def test_space_events_adjust_the_free_count_until_the_next_summary(feed):
    feed("parking.summary", "cam-1", {"zones": [{"zone": "A", "free": 3, "total": 10}],
                                      "nearest": [{"entrance": "north", "space": "A-03", "zone": "A"}],
                                      "spaces": {"A-03": False, "A-04": True}})
    feed("parking.space", "cam-1", {"space": "A-03", "zone": "A", "occupied": True})
    p = feed.state.parking
    assert p.zones["A"] == [2, 10]
    assert nearest(p)[0].space is None  # the guided space was taken: no wrong guidance
    feed("parking.space", "cam-1", {"space": "A-04", "zone": "A", "occupied": False})
    assert p.zones["A"] == [3, 10]
    feed("parking.space", "cam-1", {"space": "A-04", "zone": "A", "occupied": False})  # no change, no count
    assert p.zones["A"] == [3, 10]
    feed("parking.space", "cam-1", {"space": "A-09", "zone": "A", "occupied": False})  # state before unknown
    assert p.zones["A"] == [3, 10]


def test_without_a_summary_zones_are_counted_from_space_events(feed):
    for sid, occ in (("A-1", True), ("A-2", False), ("B-1", False)):
        feed("parking.space", "cam-1", {"space": sid, "zone": sid[0], "occupied": occ})
    assert feed.state.parking.zones == {"A": [1, 2], "B": [1, 1]}


@pytest.mark.parametrize("plate, masked", [
    ("湘A12345", "湘A·***45"),
    ("湘A·12345", "湘A·***45"),
    ("粤BD12345", "粤B·***45"),  # green new-energy plates: the same shape, so the length tells nothing
    (" 京n88888 ", "京N·***88"),
    ("12345", None), ("ABC", None), ("", None), (None, None), (12345, None),
])
def test_plates_are_masked_or_refused(plate, masked):
    assert mask_plate(plate) == masked


def test_only_a_residents_entry_is_kept_and_only_masked(feed):
    assert feed("gate.opened", "gate-1", {"plate": "湘A12345", "direction": "entry", "owner": "Zhang San"})
    assert feed.state.entry == ("湘A·***45", T0 + timedelta(minutes=1))
    assert not feed("gate.opened", "gate-1", {"plate": "湘A67890", "direction": "exit"})
    assert not feed("gate.opened", "gate-1", {"plate": "not a plate"})
    assert not feed("plate.visitor", "gate-1", {"plate": "粤B99999"})
    assert not feed("plate.read", "gate-1", {"plate": "粤B99999"})
    assert feed.state.entry[0] == "湘A·***45"


def test_notices_are_added_replaced_and_removed(feed):
    feed("kiosk.notice", "api", {"id": "water", "zh": "明天停水", "en": "Water off tomorrow",
                                 "until": "2026-11-24T12:00:00.000Z"})
    feed("kiosk.notice", "api", {"id": "water", "zh": "后天停水"})
    assert [(n.id, n.zh, n.en, n.until) for n in feed.state.notices.values()] == [("water", "后天停水", None, None)]
    assert not feed("kiosk.notice", "api", {"id": "x", "zh": "bad time", "until": "tomorrow"})
    assert not feed("kiosk.notice", "api", {"id": "y"})  # no text
    assert feed("kiosk.notice_removed", "api", {"id": "water"})
    assert not feed("kiosk.notice_removed", "api", {"id": "water"})
    assert feed.state.notices == {}


def test_wristband_and_health_events_never_enter_the_state(feed):
    before = repr(feed.state)
    for kind in ("wristband.sos", "wristband.heart_rate", "wristband.heart_rate_alert", "wristband.seen",
                 "wristband.missing", "wristband.blood_pressure", "plate.visitor"):
        assert not feed(kind, "band-0a1b2c3d", {"band": "0a1b2c3d", "flat": "3-201", "bpm": 130})
    assert repr(feed.state).replace(f"seq={feed.seq}", "seq=0") == before


def test_unknown_fields_are_ignored_and_wrong_types_change_nothing(feed):
    assert feed("bin.level", "bin-1", {"level_pct": 40, "firmware": "2.1", "extra": {"x": 1}})
    for bad in ("40", None, True, -5, 250, float("nan")):
        assert not feed("bin.level", "bin-1", {"level_pct": bad})
    assert feed.state.bins["bin-1"].level_pct == 40
    assert not feed("parking.summary", "cam", {"zones": "A:3/10"})
    assert not feed("parking.space", "cam", {"space": "A-1", "occupied": "yes"})
    feed("parking.summary", "cam", {"zones": [{"zone": "A", "free": 11, "total": 10}, {"zone": "B", "free": 1,
                                                                                        "total": 2}, "junk"]})
    assert feed.state.parking.zones == {"B": [1, 2]}  # more free than total is not believed


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                    max_size=4), max_leaves=6)
FIELDS = st.sampled_from(["level_pct", "zones", "nearest", "spaces", "space", "zone", "occupied", "plate",
                          "direction", "id", "zh", "en", "until", "kind", "alert_source", "free", "total"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, busy machine
@given(kind=st.sampled_from(sorted(HANDLERS)), data=st.dictionaries(FIELDS, JSONISH, max_size=6))
def test_no_event_data_can_break_the_projection(kind, data):
    state = KioskState()
    state.apply(Event("t-gw1", "b01", 1, T0, kind, "src-1", Priority.NORMAL, data))
    state.apply(Event("t-gw1", "b01", 2, T0, kind, "src-1", Priority.NORMAL, data))
    assert state.seq == 2
