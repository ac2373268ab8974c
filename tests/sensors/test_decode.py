from __future__ import annotations

import pytest

from sensors.beacons import EDDYSTONE_UUID
from sensors.bthome import BTHOME_UUID
from sensors.decode import BleDecoder, normalize_uuid
from sensors.errors import DecodeError
from sensors.readings import Advertisement

SHELLY = "54:48:E6:8F:80:A5"


def adv(**kw) -> Advertisement:
    return Advertisement(address=kw.pop("address", "AA:BB:CC:DD:EE:FF"), rssi=-60, **kw)


def test_one_advertisement_with_several_formats(hexfix):
    result = BleDecoder().advertisement(adv(
        manufacturer_data={0x004C: hexfix("ibeacon_estimote"), 0xFFFF: hexfix("wristband_v1_sos")},
        service_data={EDDYSTONE_UUID: hexfix("eddystone_tlm")},
    ))
    assert result.ok
    assert [r.kind for r in result.readings] == ["ibeacon", "wristband", "eddystone"]
    assert result.readings[1].data["band_id"] == "0a1b2c3d"


def test_unknown_formats_are_skipped_silently():
    result = BleDecoder().advertisement(adv(
        manufacturer_data={0x0006: b"\x01\x09\x20", 0x004C: bytes.fromhex("1005031c0a1b2c"),
                           0xFFFF: b"\x01\x02"},  # Microsoft, Apple Continuity, someone else's test id
        service_data={"0000fe9f-0000-1000-8000-00805f9b34fb": b"\x00"}))
    assert result.readings == () and result.ok
    assert result.to_json() == {"readings": []}


def test_malformed_part_is_an_error_and_the_rest_still_decodes(hexfix):
    result = BleDecoder().advertisement(adv(
        manufacturer_data={0xFFFF: hexfix("wristband_v1_sos")[:5]},
        service_data={BTHOME_UUID: hexfix("bthome_pressure")}))
    assert [r.kind for r in result.readings] == ["bthome"]
    assert len(result.errors) == 1 and "manufacturer 0xffff" in result.errors[0]
    assert "need 11 bytes" in result.to_json()["errors"][0]


def test_only_errors_give_the_error_line():
    out = BleDecoder().advertisement(adv(service_data={BTHOME_UUID: b"\x40\xf8"})).to_json()
    assert set(out) == {"error"} and "unknown object id" in out["error"]


def test_bthome_keys_by_address_any_case(hexfix):
    decoder = BleDecoder(bthome_keys={SHELLY.lower(): bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")})
    result = decoder.advertisement(adv(address=SHELLY, service_data={
        BTHOME_UUID: hexfix("bthome_encrypted_shelly_sbht003c")}))
    assert result.readings[0].data["temperature_c"] == 25.06


def test_bad_bind_key_is_refused_at_construction():
    with pytest.raises(ValueError, match="16 bytes"):
        BleDecoder(bthome_keys={SHELLY: b"short"})


def test_vendor_company_id(hexfix):
    decoder = BleDecoder(wristband_company_ids=[0x0A12])
    assert decoder.advertisement(adv(manufacturer_data={0x0A12: hexfix("wristband_v1_sos")})).readings
    assert not decoder.advertisement(adv(manufacturer_data={0xFFFF: hexfix("wristband_v1_sos")})).readings


@pytest.mark.parametrize("uuid", ["2a37", "2A37", "0x2a37", "00002a37-0000-1000-8000-00805f9b34fb"])
def test_gatt_uuid_forms(uuid, hexfix):
    result = BleDecoder().gatt(uuid, hexfix("hr_polar_h7_rr"))
    assert result.readings[0].kind == "heart_rate" and result.readings[0].data["bpm"] == 60


def test_gatt_errors():
    decoder = BleDecoder()
    assert "no decoder" in decoder.gatt("2a00", b"x").to_json()["error"]
    assert "uuid" in decoder.gatt("not-a-uuid", b"x").to_json()["error"]
    assert "need 1 bytes" in decoder.gatt("2a19", b"").to_json()["error"]
    with pytest.raises(DecodeError):
        normalize_uuid("xyz")
