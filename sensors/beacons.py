"""Decoders of the common beacon formats: Apple iBeacon and Google Eddystone (UID, URL, TLM, EID).

iBeacon rides in Apple's manufacturer data (company 0x004C); Eddystone in service data of 0xFEAA.
Multi-byte beacon fields are big-endian, unlike GATT.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

from bleak.uuids import normalize_uuid_16

from sensors._bytes import need
from sensors.errors import DecodeError

APPLE_COMPANY_ID = 0x004C
EDDYSTONE_UUID = normalize_uuid_16(0xFEAA)

_IBEACON_PREFIX = b"\x02\x15"  # type 0x02 (proximity beacon), length 0x15 (21)


def is_ibeacon(data: bytes) -> bool:
    """Apple sends many other kinds of manufacturer data (Continuity, Find My); only 02 15 is iBeacon."""
    return data[:2] == _IBEACON_PREFIX


def ibeacon(data: bytes) -> dict[str, Any]:
    """Proximity UUID, major, minor, and the calibrated RSSI at one metre (dBm)."""
    need(data, 23, "iBeacon")
    if not is_ibeacon(data):
        raise DecodeError(f"iBeacon: expected prefix 0215, got {data[:2].hex()}")
    major, minor, power = struct.unpack_from(">HHb", data, 18)
    return {"uuid": str(uuid.UUID(bytes=bytes(data[2:18]))), "major": major, "minor": minor,
            "measured_power": power}


# -- Eddystone -----------------------------------------------------------------------------------

_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_URL_EXPANSIONS = (".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
                   ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov")


def _uid(data: bytes) -> dict[str, Any]:
    need(data, 18, "Eddystone-UID")  # 2 reserved bytes at the end are optional in practice
    return {"frame": "uid", "tx_power": struct.unpack_from(">b", data, 1)[0],
            "namespace": data[2:12].hex(), "instance": data[12:18].hex()}


def _url(data: bytes) -> dict[str, Any]:
    need(data, 3, "Eddystone-URL")
    if data[2] >= len(_URL_SCHEMES):
        raise DecodeError(f"Eddystone-URL: unknown scheme prefix 0x{data[2]:02x}")
    parts = [_URL_SCHEMES[data[2]]]
    for b in data[3:]:
        if b < len(_URL_EXPANSIONS):
            parts.append(_URL_EXPANSIONS[b])
        elif 0x21 <= b <= 0x7E:
            parts.append(chr(b))
        else:
            raise DecodeError(f"Eddystone-URL: byte 0x{b:02x} is neither printable nor an expansion code")
    return {"frame": "url", "tx_power": struct.unpack_from(">b", data, 1)[0], "url": "".join(parts)}


def _tlm(data: bytes) -> dict[str, Any]:
    need(data, 2, "Eddystone-TLM")
    if data[1] != 0x00:
        raise DecodeError(f"Eddystone-TLM: version 0x{data[1]:02x} (encrypted TLM) is not supported")
    need(data, 14, "Eddystone-TLM")
    mv, temp, adv_count, sec_count = struct.unpack_from(">HhII", data, 2)
    return {
        "frame": "tlm",
        "battery_mv": mv or None,  # 0: not supported by the beacon
        "temperature_c": None if temp == -0x8000 else temp / 256,  # 8.8 fixed point; 0x8000: n/a
        "adv_count": adv_count,
        "uptime_s": sec_count / 10,
    }


def _eid(data: bytes) -> dict[str, Any]:
    need(data, 10, "Eddystone-EID")
    return {"frame": "eid", "tx_power": struct.unpack_from(">b", data, 1)[0], "eid": data[2:10].hex()}


_FRAMES = {0x00: _uid, 0x10: _url, 0x20: _tlm, 0x30: _eid}


def eddystone(data: bytes) -> dict[str, Any]:
    """One Eddystone frame; the first byte says which."""
    need(data, 1, "Eddystone")
    frame = _FRAMES.get(data[0])
    if frame is None:
        raise DecodeError(f"Eddystone: unknown frame type 0x{data[0]:02x}")
    return frame(data)
