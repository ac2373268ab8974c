from __future__ import annotations

import itertools
import struct

import pytest

from sensors import gatt
from sensors.errors import DecodeError, TruncatedError
from sensors.gatt import Special, sfloat


def test_polar_h7_captures(hexfix):
    assert gatt.heart_rate_measurement(hexfix("hr_polar_h7_contact")) == {"bpm": 60, "sensor_contact": True}
    assert gatt.heart_rate_measurement(hexfix("hr_polar_h7_rr")) == {
        "bpm": 60, "sensor_contact": True, "rr_intervals_ms": [1016.6]}  # 0x0411 = 1041/1024 s
    rr = gatt.heart_rate_measurement(hexfix("hr_polar_h7_rr_2"))["rr_intervals_ms"]
    assert rr == [989.3]  # 0x03f5 = 1013/1024 s


@pytest.mark.parametrize("flags", range(32))
def test_heart_rate_every_flag_combination(flags):
    """Bits 0..4 of the flags field: value format, contact (status, supported), energy, RR."""
    body = struct.pack("<H", 301) if flags & 0x01 else bytes([72])
    if flags & 0x08:
        body += struct.pack("<H", 1234)
    if flags & 0x10:
        body += struct.pack("<HH", 1024, 512)
    data = gatt.heart_rate_measurement(bytes([flags]) + body)

    assert data["bpm"] == (301 if flags & 0x01 else 72)
    expected_contact = {0: None, 2: None, 4: False, 6: True}[flags & 0x06]
    assert data["sensor_contact"] is expected_contact
    assert data.get("energy_expended_kj") == (1234 if flags & 0x08 else None)
    assert data.get("rr_intervals_ms") == ([1000.0, 500.0] if flags & 0x10 else None)


@pytest.mark.parametrize("raw", ["", "00", "01 48", "08 48 01", "10 48", "10 48 00 04 01", "19 2c 01 d2"])
def test_heart_rate_truncated(raw):
    with pytest.raises(DecodeError):
        gatt.heart_rate_measurement(bytes.fromhex(raw))


def test_battery_level():
    assert gatt.battery_level(b"\x64") == {"percent": 100}
    assert gatt.battery_level(b"\x00") == {"percent": 0}
    with pytest.raises(TruncatedError):
        gatt.battery_level(b"")
    with pytest.raises(DecodeError, match="outside 0..100"):
        gatt.battery_level(b"\x65")


@pytest.mark.parametrize(("raw", "value"), [
    (0x0072, 114.0),  # exponent 0
    (0xF16D, 36.5),  # exponent -1, mantissa 365
    (0xFFFF, -0.1),  # exponent -1, mantissa -1
    (0x2001, 100.0),  # exponent +2
    (0x8001, 0.00000001),  # exponent -8
    (0x0801 + 0x1000, -20470.0),  # exponent +1, mantissa -2047 is a number, not "reserved"
    (0x07FD, 2045.0),  # largest ordinary mantissa
])
def test_sfloat_numbers(raw, value):
    assert sfloat(raw) == pytest.approx(value)


@pytest.mark.parametrize(("raw", "special"), [
    (0x07FF, Special.NAN), (0x0800, Special.NRES), (0x07FE, Special.POS_INF),
    (0x0802, Special.NEG_INF), (0x0801, Special.RESERVED),
])
def test_sfloat_special_values(raw, special):
    assert sfloat(raw) is special


def test_blood_pressure_all_fields(hexfix):
    assert gatt.blood_pressure_measurement(hexfix("bp_spec_full")) == {
        "unit": "mmHg", "systolic": 127.0, "diastolic": 77.0, "mean_arterial": 93.0,
        "timestamp": "2016-01-13T11:26:00", "pulse_rate": 72.0, "user_id": 1,
        "status": {"body_movement": False, "cuff_too_loose": False, "irregular_pulse": False,
                   "pulse_rate_range": "in_range", "improper_position": False},
    }


def test_blood_pressure_kpa_specials_and_status():
    # kPa, pulse + user + status; MAP not measured (NaN); user 0xFF = unknown
    raw = bytes([0x1D]) + struct.pack("<HHHHBH", 0xF0A0, 0xF06E, 0x07FF, 0xF2D0, 0xFF, 0b101111)
    data = gatt.blood_pressure_measurement(raw)
    assert data["unit"] == "kPa"
    assert (data["systolic"], data["diastolic"], data["mean_arterial"]) == (16.0, 11.0, Special.NAN)
    assert data["pulse_rate"] == 72.0
    assert data["user_id"] is None
    assert data["status"] == {"body_movement": True, "cuff_too_loose": True, "irregular_pulse": True,
                              "pulse_rate_range": "above_upper_limit", "improper_position": True}
    assert "timestamp" not in data


def test_blood_pressure_unknown_and_bad_timestamp():
    head = bytes([0x02]) + struct.pack("<HHH", 120, 80, 93)
    assert gatt.blood_pressure_measurement(head + bytes(7))["timestamp"] is None
    with pytest.raises(DecodeError, match="timestamp"):
        gatt.blood_pressure_measurement(head + struct.pack("<HBBBBB", 2024, 13, 1, 0, 0, 0))


@pytest.mark.parametrize("flags", [0x02, 0x04, 0x08, 0x10])
def test_blood_pressure_truncated_optional_field(flags):
    with pytest.raises(TruncatedError):
        gatt.blood_pressure_measurement(bytes([flags]) + struct.pack("<HHH", 120, 80, 93))


def test_blood_pressure_every_flag_combination_round_trips():
    fields = {0x02: struct.pack("<HBBBBB", 2025, 3, 4, 5, 6, 7), 0x04: struct.pack("<H", 61),
              0x08: b"\x03", 0x10: struct.pack("<H", 0)}
    for combo in itertools.product([0, 1], repeat=5):
        flags = sum(bit << i for i, bit in enumerate(combo))
        raw = bytes([flags]) + struct.pack("<HHH", 120, 80, 93)
        raw += b"".join(v for bit, v in fields.items() if flags & bit)
        data = gatt.blood_pressure_measurement(raw)
        assert data["systolic"] == 120.0
        assert ("timestamp" in data) == bool(flags & 0x02)
        assert data.get("pulse_rate") == (61.0 if flags & 0x04 else None)
        assert data.get("user_id") == (3 if flags & 0x08 else None)
        assert ("status" in data) == bool(flags & 0x10)
