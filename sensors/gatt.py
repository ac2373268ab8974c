"""Decoders of standard GATT characteristics (Bluetooth SIG GATT Specification Supplement).

Heart Rate Measurement (0x2A37), Battery Level (0x2A19) and Blood Pressure Measurement (0x2A35),
with the IEEE 11073-20601 16-bit SFLOAT that medical characteristics use. Pure: bytes in, data out.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from collections.abc import Callable
from typing import Any

from bleak.uuids import normalize_uuid_16

from sensors._bytes import need
from sensors.errors import DecodeError

HEART_RATE_MEASUREMENT = normalize_uuid_16(0x2A37)
BATTERY_LEVEL = normalize_uuid_16(0x2A19)
BLOOD_PRESSURE_MEASUREMENT = normalize_uuid_16(0x2A35)


class Special(enum.StrEnum):
    """SFLOAT special values (IEEE 11073-20601, section F.8); kept apart from numbers on purpose."""

    NAN = "NaN"
    NRES = "NRes"
    POS_INF = "+INF"
    NEG_INF = "-INF"
    RESERVED = "reserved"


_SFLOAT_SPECIALS = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POS_INF,
    0x0802: Special.NEG_INF,
    0x0801: Special.RESERVED,
}


def sfloat(raw: int) -> float | Special:
    """16-bit SFLOAT: 4-bit signed exponent (high nibble), 12-bit signed mantissa; value = m * 10**e."""
    special = _SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return special
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    # round() keeps 10**-1 style results exact-looking (0.1*365 -> 36.5, not 36.50000000000001)
    return round(mantissa * 10.0**exponent, max(0, -exponent))


# -- Heart Rate Measurement ----------------------------------------------------------------------

_HR_UINT16 = 0x01
_HR_CONTACT_DETECTED = 0x02
_HR_CONTACT_SUPPORTED = 0x04
_HR_ENERGY = 0x08
_HR_RR = 0x10


def heart_rate_measurement(data: bytes) -> dict[str, Any]:
    """0x2A37: bpm (8 or 16 bit), sensor contact, energy expended (kJ), RR intervals (1/1024 s)."""
    need(data, 2, "heart rate measurement")
    flags = data[0]
    if flags & _HR_UINT16:
        need(data, 3, "heart rate measurement (16-bit value)")
        (bpm,) = struct.unpack_from("<H", data, 1)
        pos = 3
    else:
        bpm, pos = data[1], 2
    out: dict[str, Any] = {"bpm": bpm}
    out["sensor_contact"] = bool(flags & _HR_CONTACT_DETECTED) if flags & _HR_CONTACT_SUPPORTED else None
    if flags & _HR_ENERGY:
        need(data, pos + 2, "heart rate measurement (energy expended)")
        (out["energy_expended_kj"],) = struct.unpack_from("<H", data, pos)
        pos += 2
    if flags & _HR_RR:
        rest = len(data) - pos
        if rest == 0 or rest % 2:
            raise DecodeError(f"heart rate measurement: RR intervals need pairs of bytes, got {rest} "
                              f"({data.hex()})")
        raw = struct.unpack_from(f"<{rest // 2}H", data, pos)
        out["rr_intervals_ms"] = [round(r * 1000 / 1024, 1) for r in raw]
    return out


def battery_level(data: bytes) -> dict[str, Any]:
    """0x2A19: one byte, percent 0..100."""
    need(data, 1, "battery level")
    level = data[0]
    if level > 100:
        raise DecodeError(f"battery level {level} outside 0..100 ({data.hex()})")
    return {"percent": level}


# -- Blood Pressure Measurement ------------------------------------------------------------------

_BP_KPA = 0x01
_BP_TIMESTAMP = 0x02
_BP_PULSE = 0x04
_BP_USER = 0x08
_BP_STATUS = 0x10

_PULSE_RANGE = ("in_range", "above_upper_limit", "below_lower_limit", "reserved")


def _date_time(data: bytes, pos: int) -> str | None:
    """GATT Date Time (7 bytes, local time, no zone); None when the device says 'unknown' (zeros)."""
    year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", data, pos)
    if year == 0 or month == 0 or day == 0:
        return None
    try:
        return dt.datetime(year, month, day, hour, minute, second).isoformat()
    except ValueError as e:
        raise DecodeError(f"blood pressure timestamp {data[pos:pos + 7].hex()}: {e}") from None


def _bp_status(raw: int) -> dict[str, Any]:
    return {
        "body_movement": bool(raw & 0x01),
        "cuff_too_loose": bool(raw & 0x02),
        "irregular_pulse": bool(raw & 0x04),
        "pulse_rate_range": _PULSE_RANGE[(raw >> 3) & 0x03],
        "improper_position": bool(raw & 0x20),
    }


def blood_pressure_measurement(data: bytes) -> dict[str, Any]:
    """0x2A35: systolic, diastolic, mean arterial pressure (SFLOAT, mmHg or kPa) and optional fields."""
    need(data, 7, "blood pressure measurement")
    flags = data[0]
    systolic, diastolic, mean = struct.unpack_from("<HHH", data, 1)
    out: dict[str, Any] = {
        "unit": "kPa" if flags & _BP_KPA else "mmHg",
        "systolic": sfloat(systolic),
        "diastolic": sfloat(diastolic),
        "mean_arterial": sfloat(mean),
    }
    pos = 7
    if flags & _BP_TIMESTAMP:
        need(data, pos + 7, "blood pressure measurement (timestamp)")
        out["timestamp"] = _date_time(data, pos)
        pos += 7
    if flags & _BP_PULSE:
        need(data, pos + 2, "blood pressure measurement (pulse rate)")
        out["pulse_rate"] = sfloat(struct.unpack_from("<H", data, pos)[0])
        pos += 2
    if flags & _BP_USER:
        need(data, pos + 1, "blood pressure measurement (user id)")
        out["user_id"] = None if data[pos] == 0xFF else data[pos]  # 0xFF: unknown user
        pos += 1
    if flags & _BP_STATUS:
        need(data, pos + 2, "blood pressure measurement (status)")
        out["status"] = _bp_status(struct.unpack_from("<H", data, pos)[0])
    return out


Decoder = Callable[[bytes], dict[str, Any]]

# characteristic uuid (128-bit, lower case) -> (reading kind, decoder)
CHARACTERISTICS: dict[str, tuple[str, Decoder]] = {
    HEART_RATE_MEASUREMENT: ("heart_rate", heart_rate_measurement),
    BATTERY_LEVEL: ("battery", battery_level),
    BLOOD_PRESSURE_MEASUREMENT: ("blood_pressure", blood_pressure_measurement),
}
