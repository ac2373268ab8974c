"""Random bytes into every decoder: only the package's DecodeError may come out, and the
dispatch boundary lets nothing out at all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import beacons, bthome, gatt, wristband
from sensors.decode import BleDecoder
from sensors.errors import DecodeError
from sensors.readings import Advertisement, DecodeResult

KEY = bytes(range(16))
ADDRESS = "A4:C1:38:8D:18:B2"

DECODERS = {
    "heart_rate": gatt.heart_rate_measurement,
    "battery": gatt.battery_level,
    "blood_pressure": gatt.blood_pressure_measurement,
    "ibeacon": beacons.ibeacon,
    "eddystone": beacons.eddystone,
    "bthome": lambda b: bthome.bthome(b, ADDRESS, {ADDRESS: KEY}),
    "bthome_no_key": lambda b: bthome.bthome(b, ADDRESS),
    "wristband": wristband.parse_wristband,
}

# random bytes, plus random bytes behind each format's own prefix so the walk gets past the header
payloads = st.binary(max_size=40) | st.tuples(
    st.sampled_from([b"\x40", b"\x41", b"\x44", b"\xeb\x01", b"\x02\x15", b"\x00", b"\x10", b"\x20\x00",
                     b"\x1f", b"\x16"]), st.binary(max_size=30)).map(lambda t: t[0] + t[1])


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=400, deadline=None)
@given(data=payloads)
def test_decoder_raises_only_decode_error(name, data):
    try:
        DECODERS[name](data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(company=st.sampled_from([0x004C, 0xFFFF, 0x0006]), mfr=payloads,
       uuid=st.sampled_from([bthome.BTHOME_UUID, beacons.EDDYSTONE_UUID]), svc=payloads,
       characteristic=st.sampled_from(["2a37", "2a19", "2a35", "2a00", "bogus"]))
def test_dispatch_never_raises(company, mfr, uuid, svc, characteristic):
    decoder = BleDecoder(bthome_keys={ADDRESS: KEY})
    result = decoder.advertisement(Advertisement(ADDRESS, -70, None, {company: mfr}, {uuid: svc}))
    assert isinstance(result, DecodeResult)
    assert isinstance(decoder.gatt(characteristic, mfr), DecodeResult)
