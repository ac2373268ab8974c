"""The wire format (pure): NDJSON lines, clock fields, gzip, keys, Accept-Encoding."""

from __future__ import annotations

import gzip
import json

import pytest

from edge.reader import EventReader
from sync.wire import Anchor, TimeBase, accepts_gzip, gzip_bytes, idempotency_key, ndjson

READER = EventReader.__new__(EventReader)
READER.device_id, READER.building_id = "b07-gw1", "b07"
ROW = (42, "2021-01-01T00:00:10.000Z", "wristband.sos", "band-0a1b2c3d", 0, '{"band":"0a1b2c3d","flat":"3-201"}',
       3, 1010.0)
CONTRACT = {"id": "b07-gw1:42", "device_id": "b07-gw1", "building_id": "b07", "seq": 42,
            "ts": "2021-01-01T00:00:10.000Z", "kind": "wristband.sos", "source": "band-0a1b2c3d",
            "priority": "critical", "data": {"band": "0a1b2c3d", "flat": "3-201"}}


def one(timebase: TimeBase, row: tuple = ROW) -> dict:
    body = ndjson([row], READER.event_json, timebase)
    assert body.endswith(b"\n") and body.count(b"\n") == 1
    return json.loads(body)


def test_a_synchronised_clock_gives_the_contract_object():
    assert one(TimeBase({3: Anchor(1000.0, 1.6e9)})) == CONTRACT
    assert one(TimeBase(trusted=True)) == CONTRACT


def test_before_any_synchronisation_the_event_is_flagged_with_boot_and_mono():
    assert one(TimeBase(boots={3: "boot-a"})) == CONTRACT | {"clock": "unsynced", "boot": "boot-a", "mono": 1010.0}


def test_before_the_anchor_ts_is_corrected_and_the_device_ts_kept():
    offset = 1_795_420_800.0 - 1015.0  # at mono 1015 the wall clock read 2026-11-23T08:00:00Z
    got = one(TimeBase({3: Anchor(1015.0, offset)}, {3: "boot-a"}))
    assert got == CONTRACT | {"ts": "2026-11-23T07:59:55.000Z", "clock": "corrected",
                              "ts_device": "2021-01-01T00:00:10.000Z"}


def test_a_correction_below_a_second_is_no_correction():
    offset = 1_609_459_210.0 - 1010.0 + 0.4  # the wall clock was 0.4 s off: noise, not a wrong clock
    assert one(TimeBase({3: Anchor(1015.0, offset)})) == CONTRACT


def test_unusual_text_survives():
    row = (7, ROW[1], "plate.read", 'gate "1"\\', 2, '{"plate":"京A12345"}', 3, 1.0)
    got = one(TimeBase(trusted=True), row)
    assert got["source"] == 'gate "1"\\' and got["data"] == {"plate": "京A12345"} and got["priority"] == "normal"


def test_gzip_and_keys():
    body = ndjson([ROW, (43, *ROW[1:])], READER.event_json, TimeBase(trusted=True))
    assert gzip.decompress(gzip_bytes(body)) == body
    assert idempotency_key("b07-gw1", 42, 43) == "b07-gw1:42-43"
    assert ndjson([], READER.event_json, TimeBase()) == b""


@pytest.mark.parametrize("header,ok", [
    ("gzip", True), ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True),
    ("gzip;q=0", False), ("identity", False), ("", False), (None, False), ("deflate", False),
])
def test_accepts_gzip(header, ok):
    assert accepts_gzip(header) is ok
