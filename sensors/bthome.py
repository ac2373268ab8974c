"""BTHome v2 (https://bthome.io/format/): service data 0xFCD2, plain or AES-CCM encrypted.

A payload is one device-information byte (bit 0 encrypted, bit 2 trigger based, bits 5-7 version)
followed by objects `id, value...` in a fixed size per id, so an unknown id ends the walk.
Measurements land in `data` under a name with its unit; repeated ids get `_2`, `_3` suffixes.
Button and dimmer objects become `events`. The packet id (object 0x00) lets the caller drop repeats.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from bleak.uuids import normalize_uuid_16

from sensors._bytes import need
from sensors.errors import DecodeError, DecryptionError, TruncatedError

BTHOME_UUID = normalize_uuid_16(0xFCD2)
_UUID16_LE = b"\xd2\xfc"

_ENCRYPTED = 0x01
_TRIGGER_BASED = 0x04


class Meas(NamedTuple):
    name: str
    size: int
    signed: bool
    factor: float


# object id -> how to read it (bthome.io/format, "Sensor data" and "Binary sensor data")
MEAS_TYPES: dict[int, Meas] = {
    0x00: Meas("packet_id", 1, False, 1),
    0x01: Meas("battery_pct", 1, False, 1),
    0x02: Meas("temperature_c", 2, True, 0.01),
    0x03: Meas("humidity_pct", 2, False, 0.01),
    0x04: Meas("pressure_hpa", 3, False, 0.01),
    0x05: Meas("illuminance_lux", 3, False, 0.01),
    0x06: Meas("mass_kg", 2, False, 0.01),
    0x07: Meas("mass_lb", 2, False, 0.01),
    0x08: Meas("dew_point_c", 2, True, 0.01),
    0x09: Meas("count", 1, False, 1),
    0x0A: Meas("energy_kwh", 3, False, 0.001),
    0x0B: Meas("power_w", 3, False, 0.01),
    0x0C: Meas("voltage_v", 2, False, 0.001),
    0x0D: Meas("pm25_ugm3", 2, False, 1),
    0x0E: Meas("pm10_ugm3", 2, False, 1),
    0x0F: Meas("generic", 1, False, 1),
    0x10: Meas("power_on", 1, False, 1),
    0x11: Meas("opening", 1, False, 1),
    0x12: Meas("co2_ppm", 2, False, 1),
    0x13: Meas("tvoc_ugm3", 2, False, 1),
    0x14: Meas("moisture_pct", 2, False, 0.01),
    0x15: Meas("battery_low", 1, False, 1),
    0x16: Meas("battery_charging", 1, False, 1),
    0x17: Meas("carbon_monoxide", 1, False, 1),
    0x18: Meas("cold", 1, False, 1),
    0x19: Meas("connectivity", 1, False, 1),
    0x1A: Meas("door", 1, False, 1),
    0x1B: Meas("garage_door", 1, False, 1),
    0x1C: Meas("gas", 1, False, 1),
    0x1D: Meas("heat", 1, False, 1),
    0x1E: Meas("light", 1, False, 1),
    0x1F: Meas("lock", 1, False, 1),
    0x20: Meas("moisture", 1, False, 1),
    0x21: Meas("motion", 1, False, 1),
    0x22: Meas("moving", 1, False, 1),
    0x23: Meas("occupancy", 1, False, 1),
    0x24: Meas("plug", 1, False, 1),
    0x25: Meas("presence", 1, False, 1),
    0x26: Meas("problem", 1, False, 1),
    0x27: Meas("running", 1, False, 1),
    0x28: Meas("safety", 1, False, 1),
    0x29: Meas("smoke", 1, False, 1),
    0x2A: Meas("sound", 1, False, 1),
    0x2B: Meas("tamper", 1, False, 1),
    0x2C: Meas("vibration", 1, False, 1),
    0x2D: Meas("window", 1, False, 1),
    0x2E: Meas("humidity_pct", 1, False, 1),
    0x2F: Meas("moisture_pct", 1, False, 1),
    0x3D: Meas("count", 2, False, 1),
    0x3E: Meas("count", 4, False, 1),
    0x3F: Meas("rotation_deg", 2, True, 0.1),
    0x40: Meas("distance_mm", 2, False, 1),
    0x41: Meas("distance_m", 2, False, 0.1),
    0x42: Meas("duration_s", 3, False, 0.001),
    0x43: Meas("current_a", 2, False, 0.001),
    0x44: Meas("speed_ms", 2, False, 0.01),
    0x45: Meas("temperature_c", 2, True, 0.1),
    0x46: Meas("uv_index", 1, False, 0.1),
    0x47: Meas("volume_l", 2, False, 0.1),
    0x48: Meas("volume_ml", 2, False, 1),
    0x49: Meas("volume_flow_rate_m3h", 2, False, 0.001),
    0x4A: Meas("voltage_v", 2, False, 0.1),
    0x4B: Meas("gas_m3", 3, False, 0.001),
    0x4C: Meas("gas_m3", 4, False, 0.001),
    0x4D: Meas("energy_kwh", 4, False, 0.001),
    0x4E: Meas("volume_l", 4, False, 0.001),
    0x4F: Meas("water_l", 4, False, 0.001),
    0x50: Meas("timestamp", 4, False, 1),
    0x51: Meas("acceleration_ms2", 2, False, 0.001),
    0x52: Meas("gyroscope_dps", 2, False, 0.001),
    0x55: Meas("volume_storage_l", 4, False, 0.001),
    0x56: Meas("conductivity_uscm", 2, False, 1),
    0x57: Meas("temperature_c", 1, True, 1),
    0x58: Meas("temperature_c", 1, True, 0.35),
    0x59: Meas("count", 1, True, 1),
    0x5A: Meas("count", 2, True, 1),
    0x5B: Meas("count", 4, True, 1),
    0x5C: Meas("power_w", 4, True, 0.01),
    0x5D: Meas("current_a", 2, True, 0.001),
    0x5E: Meas("direction_deg", 2, False, 0.01),
    0x5F: Meas("precipitation_mm", 2, False, 0.1),
    0x60: Meas("channel", 1, False, 1),
    0x61: Meas("rotational_speed_rpm", 2, False, 1),
    0xF0: Meas("device_type_id", 2, False, 1),
}

BUTTON_EVENTS = {0x00: None, 0x01: "press", 0x02: "double_press", 0x03: "triple_press",
                 0x04: "long_press", 0x05: "long_double_press", 0x06: "long_triple_press",
                 0x80: "hold_press"}
DIMMER_EVENTS = {0x00: None, 0x01: "rotate_left", 0x02: "rotate_right"}

_BUTTON, _DIMMER, _TEXT, _RAW, _FW32, _FW24 = 0x3A, 0x3C, 0x53, 0x54, 0xF1, 0xF2


def _number(chunk: bytes, meas: Meas) -> float | int:
    value = int.from_bytes(chunk, "little", signed=meas.signed)
    if meas.factor == 1:
        return value
    return round(value * meas.factor, 3 if meas.factor < 0.01 else 2)


class _Objects:
    """What an object list decodes to, built in one pass: repeated names get _2, _3, ... and buttons 1, 2, ...
    without rescanning what came before (a long list must cost linear time)."""

    def __init__(self) -> None:
        self.out: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self._last_suffix: dict[str, int] = {}
        self._buttons = 0

    def put(self, name: str, value: Any) -> None:
        n = self._last_suffix.get(name, 0) + 1
        key = name if n == 1 else f"{name}_{n}"
        while key in self.out:  # taken by another name's suffix
            n += 1
            key = f"{name}_{n}"
        self._last_suffix[name] = n
        self.out[key] = value

    def button(self, event: str | None) -> None:
        self._buttons += 1
        self.events.append({"type": "button", "index": self._buttons, "event": event})


def _special(obj: int, body: bytes, pos: int, objects: _Objects) -> int:
    """Objects that are not plain numbers; returns the new position."""
    if obj == _BUTTON:
        need(body, pos + 1, "BTHome button event")
        if body[pos] not in BUTTON_EVENTS:
            raise DecodeError(f"BTHome: unknown button event 0x{body[pos]:02x}")
        objects.button(BUTTON_EVENTS[body[pos]])
        return pos + 1
    if obj == _DIMMER:
        need(body, pos + 2, "BTHome dimmer event")
        objects.events.append({"type": "dimmer", "event": DIMMER_EVENTS.get(body[pos], "unknown"),
                               "steps": body[pos + 1]})
        return pos + 2
    if obj in (_TEXT, _RAW):
        need(body, pos + 1, "BTHome text/raw length")
        end = pos + 1 + body[pos]
        need(body, end, "BTHome text/raw")
        chunk = bytes(body[pos + 1:end])
        objects.put("text" if obj == _TEXT else "raw",
                    chunk.decode("utf-8", "replace") if obj == _TEXT else chunk.hex())
        return end
    size = 4 if obj == _FW32 else 3
    need(body, pos + size, "BTHome firmware version")
    version = ".".join(str(b) for b in reversed(body[pos:pos + size]))
    objects.put("firmware_version", version)
    return pos + size


_SPECIAL_IDS = frozenset({_BUTTON, _DIMMER, _TEXT, _RAW, _FW32, _FW24})


def parse_objects(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Walk the (decrypted) object list; returns measurements and events."""
    objects = _Objects()
    pos, end = 0, len(body)
    while pos < end:
        obj = body[pos]
        pos += 1
        meas = MEAS_TYPES.get(obj)
        if meas is not None:
            if pos + meas.size > end:
                raise TruncatedError(f"BTHome object 0x{obj:02x} ({meas.name}): need {meas.size} bytes, "
                                     f"got {end - pos} ({body.hex()})")
            objects.put(meas.name, _number(body[pos:pos + meas.size], meas))
            pos += meas.size
        elif obj in _SPECIAL_IDS:
            pos = _special(obj, body, pos, objects)
        else:
            raise DecodeError(f"BTHome: unknown object id 0x{obj:02x} at byte {pos} ({body.hex()})")
    return objects.out, objects.events


def _decrypt(payload: bytes, address: str, key: bytes) -> tuple[bytes, int]:
    """AES-CCM, 4-byte MIC; nonce = MAC (6) + UUID16 LE (2) + device info (1) + counter (4)."""
    need(payload, 1 + 4 + 4, "BTHome encrypted payload")
    try:
        mac = bytes.fromhex(address.replace(":", ""))
    except ValueError:
        raise DecryptionError(f"BTHome: address {address!r} is not a MAC; cannot build the nonce") from None
    if len(mac) != 6:
        raise DecryptionError(f"BTHome: address {address!r} is not a MAC; cannot build the nonce")
    # Imported here: cryptography costs 7 MB of RSS (measured) and most buildings have no encrypted sensor.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    counter = payload[-8:-4]
    nonce = mac + _UUID16_LE + payload[:1] + counter
    try:
        plain = AESCCM(key, tag_length=4).decrypt(nonce, bytes(payload[1:-8]) + bytes(payload[-4:]), None)
    except InvalidTag:
        raise DecryptionError(f"BTHome: decryption failed for {address} (wrong bind key?)") from None
    return plain, struct.unpack("<I", counter)[0]


def bthome(payload: bytes, address: str = "", keys: Mapping[str, bytes] | None = None) -> dict[str, Any]:
    """Decode one BTHome v2 service-data payload; `keys` maps upper-case addresses to 16-byte bind keys."""
    need(payload, 1, "BTHome")
    info = payload[0]
    version = info >> 5
    if version != 2:
        raise DecodeError(f"BTHome: version {version} is not supported (only v2)")
    encrypted = bool(info & _ENCRYPTED)
    head: dict[str, Any] = {"encrypted": encrypted, "trigger_based": bool(info & _TRIGGER_BASED)}
    if encrypted:
        key = (keys or {}).get(address.upper())
        if key is None:
            raise DecryptionError(f"BTHome: {address} sends encrypted data and no bind key is configured")
        body, head["counter"] = _decrypt(payload, address, key)
    else:
        body = payload[1:]
    values, events = parse_objects(body)
    data = head | values
    if events:
        data["events"] = events
    return data
