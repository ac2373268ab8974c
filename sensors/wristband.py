"""Our SOS wristband advertisement, format version 1 (specification: README.md, "Our SOS wristband advertisement").

Manufacturer-specific data, 11 bytes after the company id:

    magic 0xEB | version 0x01 | band id u32 LE | flags | battery % | heart rate | sos counter | seq

Pure: `parse_wristband` turns bytes into a `WristbandState`, `encode_wristband` does the reverse
(the simulator and vendors' test benches use it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from sensors._bytes import need
from sensors.errors import DecodeError

# 0xFFFF is the SIG's "no company / testing" id; a vendor with its own id is configured on the gateway.
DEFAULT_COMPANY_ID = 0xFFFF
MAGIC = 0xEB
VERSION = 1
LENGTH = 11
BATTERY_UNKNOWN = 0xFF

SOS = 0x01
HEART_RATE_VALID = 0x02
WORN = 0x04
CHARGING = 0x08
FALL = 0x10

_LAYOUT = struct.Struct("<BBIBBBBB")


@dataclass(frozen=True, slots=True)
class WristbandState:
    """What one wristband advertisement says."""

    band_id: str  # 8 lower-case hex digits, printed on the band
    sos: bool
    sos_counter: int  # incident counter: increments once per SOS incident, wraps 255 -> 0
    seq: int  # advertisement sequence: increments when any field changes, wraps 255 -> 0
    battery_pct: int | None
    heart_rate_bpm: int | None
    worn: bool
    charging: bool
    fall: bool

    def to_data(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies and costs a third of the decode time
        return {"band_id": self.band_id, "sos": self.sos, "sos_counter": self.sos_counter, "seq": self.seq,
                "battery_pct": self.battery_pct, "heart_rate_bpm": self.heart_rate_bpm, "worn": self.worn,
                "charging": self.charging, "fall": self.fall}


def is_wristband(data: bytes) -> bool:
    """Company 0xFFFF is shared with every test device; our magic byte tells ours apart."""
    return len(data) > 0 and data[0] == MAGIC


def parse_wristband(data: bytes) -> WristbandState:
    """Bytes after the company id -> state. Longer payloads are accepted (later fields of v1)."""
    need(data, 2, "wristband")
    if data[0] != MAGIC:
        raise DecodeError(f"wristband: magic 0x{data[0]:02x}, expected 0x{MAGIC:02x}")
    if data[1] != VERSION:
        raise DecodeError(f"wristband: format version {data[1]} is not supported (only {VERSION})")
    need(data, LENGTH, "wristband v1")
    _, _, band_id, flags, battery, bpm, sos_counter, seq = _LAYOUT.unpack_from(data)
    if battery > 100 and battery != BATTERY_UNKNOWN:
        raise DecodeError(f"wristband {band_id:08x}: battery {battery} outside 0..100 and not 0xff")
    return WristbandState(
        band_id=f"{band_id:08x}",
        sos=bool(flags & SOS),
        sos_counter=sos_counter,
        seq=seq,
        battery_pct=None if battery == BATTERY_UNKNOWN else battery,
        heart_rate_bpm=bpm if flags & HEART_RATE_VALID else None,
        worn=bool(flags & WORN),
        charging=bool(flags & CHARGING),
        fall=bool(flags & FALL),
    )


def encode_wristband(state: WristbandState) -> bytes:
    """State -> the 11 bytes a band puts after its company id."""
    flags = ((SOS if state.sos else 0) | (WORN if state.worn else 0) | (CHARGING if state.charging else 0)
             | (FALL if state.fall else 0) | (HEART_RATE_VALID if state.heart_rate_bpm is not None else 0))
    battery = BATTERY_UNKNOWN if state.battery_pct is None else state.battery_pct
    return _LAYOUT.pack(MAGIC, VERSION, int(state.band_id, 16), flags, battery,
                        state.heart_rate_bpm or 0, state.sos_counter & 0xFF, state.seq & 0xFF)
