from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.errors import DecodeError, TruncatedError
from sensors.wristband import WristbandState, encode_wristband, parse_wristband


def test_spec_example(hexfix):
    assert parse_wristband(hexfix("wristband_v1_sos")) == WristbandState(
        band_id="0a1b2c3d", sos=True, sos_counter=4, seq=17, battery_pct=85, heart_rate_bpm=72,
        worn=True, charging=False, fall=False)


def test_unknown_battery_no_heart_rate_and_reserved_bits():
    raw = bytes.fromhex("eb01" "01000000" "f8" "ff" "00" "00" "00")  # flags: charging, fall, reserved bits
    state = parse_wristband(raw)
    assert state.battery_pct is None and state.heart_rate_bpm is None
    assert state.charging and state.fall and not state.sos and not state.worn


def test_longer_payload_is_accepted(hexfix):
    assert parse_wristband(hexfix("wristband_v1_sos") + b"\x99\x98").band_id == "0a1b2c3d"


@pytest.mark.parametrize(("raw", "error", "message"), [
    ("", TruncatedError, "need 2"),
    ("ec01", DecodeError, "magic"),
    ("eb02" + "00" * 9, DecodeError, "version 2"),
    ("eb01" + "00" * 8, TruncatedError, "need 11"),
    ("eb01" "01000000" "00" "65" "00" "00" "00", DecodeError, "battery 101"),
])
def test_malformed(raw, error, message):
    with pytest.raises(error, match=message):
        parse_wristband(bytes.fromhex(raw))


states = st.builds(
    WristbandState,
    band_id=st.integers(0, 2**32 - 1).map(lambda i: f"{i:08x}"),
    sos=st.booleans(), sos_counter=st.integers(0, 255), seq=st.integers(0, 255),
    battery_pct=st.none() | st.integers(0, 100), heart_rate_bpm=st.none() | st.integers(1, 255),
    worn=st.booleans(), charging=st.booleans(), fall=st.booleans())


@given(states)
def test_encode_parse_round_trip(state):
    assert parse_wristband(encode_wristband(state)) == state
