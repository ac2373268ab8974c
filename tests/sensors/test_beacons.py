from __future__ import annotations

import pytest

from sensors import beacons
from sensors.errors import DecodeError, TruncatedError


def test_ibeacon(hexfix):
    assert beacons.ibeacon(hexfix("ibeacon_estimote")) == {
        "uuid": "b9407f30-f5f8-466e-aff9-25556b57fe6d", "major": 20039, "minor": 51365,
        "measured_power": -74}


def test_ibeacon_truncated_and_not_ibeacon(hexfix):
    with pytest.raises(TruncatedError):
        beacons.ibeacon(hexfix("ibeacon_estimote")[:22])
    assert not beacons.is_ibeacon(bytes.fromhex("1005031c0a1b2c"))  # Apple Continuity, not a beacon


def test_eddystone_uid(hexfix):
    assert beacons.eddystone(hexfix("eddystone_uid")) == {
        "frame": "uid", "tx_power": -20, "namespace": "00010203040506070809", "instance": "aabbccddeeff"}


def test_eddystone_tlm(hexfix):
    assert beacons.eddystone(hexfix("eddystone_tlm")) == {
        "frame": "tlm", "battery_mv": 3000, "temperature_c": 23.5, "adv_count": 1000, "uptime_s": 360.0}


def test_eddystone_tlm_not_supported_fields():
    data = bytes.fromhex("2000" "0000" "8000" "00000001" "00000002")
    out = beacons.eddystone(data)
    assert out["battery_mv"] is None and out["temperature_c"] is None


def test_eddystone_tlm_negative_temperature():
    assert beacons.eddystone(bytes.fromhex("20000bb8f780" + "00" * 8))["temperature_c"] == -8.5


def test_eddystone_url(hexfix):
    assert beacons.eddystone(hexfix("eddystone_url"))["url"] == "https://www.example.com/"


@pytest.mark.parametrize(("raw", "message"), [
    ("", "need 1"), ("50", "unknown frame"), ("2001" + "00" * 12, "encrypted"), ("2000bb8", None),
    ("10ec04", "scheme"), ("10ec00ff", "printable"), ("00ec0001", "need 18"),
])
def test_eddystone_errors(raw, message):
    raw = raw if len(raw) % 2 == 0 else raw + "0"
    with pytest.raises(DecodeError, match=message):
        beacons.eddystone(bytes.fromhex(raw))
