from __future__ import annotations

import pytest

from sensors.bthome import bthome
from sensors.errors import DecodeError, DecryptionError, TruncatedError

SHELLY = "54:48:E6:8F:80:A5"
SHELLY_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")


def test_shelly_blu_ht_display(hexfix):
    data = bthome(hexfix("bthome_shelly_blu_ht_display"), SHELLY)
    assert data["packet_id"] == 46
    assert data["battery_pct"] == 100
    assert data["humidity_pct"] == 52
    assert data["temperature_c"] == 27.8
    assert data["encrypted"] is False


def test_temperature_humidity_and_pressure(hexfix):
    data = bthome(hexfix("bthome_plain_temp_humidity"))
    assert (data["temperature_c"], data["humidity_pct"]) == (25.06, 50.55)
    assert bthome(hexfix("bthome_pressure"))["pressure_hpa"] == 1008.83


def test_button_events(hexfix):
    data = bthome(hexfix("bthome_triple_button"))
    assert data["events"] == [
        {"type": "button", "index": 1, "event": None},
        {"type": "button", "index": 2, "event": "press"},
        {"type": "button", "index": 3, "event": "triple_press"},
    ]


def test_encrypted_with_bind_key(hexfix):
    data = bthome(hexfix("bthome_encrypted_shelly_sbht003c"), SHELLY, {SHELLY: SHELLY_KEY})
    assert data["encrypted"] is True
    assert (data["temperature_c"], data["humidity_pct"]) == (25.06, 50.55)
    assert data["counter"] == 0x33221100


def test_encrypted_without_or_with_wrong_key(hexfix):
    payload = hexfix("bthome_encrypted_atc")
    with pytest.raises(DecryptionError, match="no bind key"):
        bthome(payload, "A4:C1:38:8D:18:B2")
    wrong = bytes.fromhex("814aac74c4f17b6c1581e1ab87816b99")
    with pytest.raises(DecryptionError, match="wrong bind key"):
        bthome(payload, "A4:C1:38:8D:18:B2", {"A4:C1:38:8D:18:B2": wrong})


def test_encrypted_data_from_another_address_does_not_decrypt(hexfix):
    # the MAC is part of the nonce: a replay from another address fails authentication
    payload = hexfix("bthome_encrypted_shelly_sbht003c")
    with pytest.raises(DecryptionError):
        bthome(payload, "54:48:E6:8F:80:A6", {"54:48:E6:8F:80:A6": SHELLY_KEY})


def test_repeated_ids_and_firmware():
    data = bthome(bytes.fromhex("40" "0234 08" "0235 08" "f1 00010204"))
    assert data["temperature_c"] == 21.0
    assert data["temperature_c_2"] == 21.01
    assert data["firmware_version"] == "4.2.1.0"


def test_signed_and_text_objects():
    data = bthome(bytes.fromhex("40" "57f6" "5303414243"))
    assert data["temperature_c"] == -10
    assert data["text"] == "ABC"


@pytest.mark.parametrize(("raw", "error", "message"), [
    ("", TruncatedError, "need 1"),
    ("20", DecodeError, "version 1"),
    ("4002ca", TruncatedError, "temperature"),
    ("40f8", DecodeError, "unknown object id 0xf8"),
    ("403a", TruncatedError, "button"),
    ("403a07", DecodeError, "unknown button event"),
    ("405305414243", TruncatedError, "text"),
    ("41aabbcc", TruncatedError, "encrypted"),
])
def test_malformed(raw, error, message):
    with pytest.raises(error, match=message):
        bthome(bytes.fromhex(raw), "A4:C1:38:8D:18:B2", {"A4:C1:38:8D:18:B2": SHELLY_KEY})


def test_many_repeated_objects_decode_in_linear_time_numbered_as_before():
    """4000 battery objects and 4000 button events (a 16 KB payload): quadratic numbering took seconds."""
    import time

    started = time.perf_counter()
    batteries = bthome(bytes([0x40]) + bytes.fromhex("0164") * 4000)
    buttons = bthome(bytes([0x40]) + bytes.fromhex("3a01") * 4000)
    elapsed = time.perf_counter() - started
    assert [batteries["battery_pct"], batteries["battery_pct_2"], batteries["battery_pct_4000"]] == [100] * 3
    assert len(batteries) == 2 + 4000
    assert [e["index"] for e in buttons["events"]] == list(range(1, 4001))
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    # each name is numbered on its own, whatever comes in between
    body = (bytes.fromhex("5302") + b"hi" + bytes.fromhex("5401ff") + bytes.fromhex("5301") + b"x"
            + bytes.fromhex("f2010203") + bytes.fromhex("5400") + bytes.fromhex("f2040506") + bytes.fromhex("3a01"))
    data = bthome(bytes([0x40]) + body)
    assert {k: v for k, v in data.items() if k not in ("encrypted", "trigger_based")} == {
        "text": "hi", "raw": "ff", "text_2": "x", "firmware_version": "3.2.1", "raw_2": "",
        "firmware_version_2": "6.5.4", "events": [{"type": "button", "index": 1, "event": "press"}]}
