"""One entry point from what the radio hands us to readings: advertisements and GATT values.

Format errors are caught here, at the boundary, and become `DecodeResult.errors`; nothing a
device sends can raise out of `BleDecoder`. Formats we do not know are skipped silently: a
building is full of phones and headphones that advertise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from bleak.uuids import normalize_uuid_str

from sensors import beacons, bthome, gatt, wristband
from sensors.errors import DecodeError
from sensors.readings import Advertisement, DecodeResult, Reading

ManufacturerHandler = Callable[[bytes], Reading | None]


def _apple(data: bytes) -> Reading | None:
    return Reading("ibeacon", beacons.ibeacon(data)) if beacons.is_ibeacon(data) else None


def _wristband(data: bytes) -> Reading | None:
    if not wristband.is_wristband(data):
        return None
    return Reading("wristband", wristband.parse_wristband(data).to_data())


def normalize_uuid(text: str) -> str:
    """'2a37', '0x2A37' or a 128-bit uuid -> 128-bit lower case; DecodeError when it is none of them."""
    t = text.strip().lower().removeprefix("0x")
    try:
        return normalize_uuid_str(t)
    except ValueError:
        raise DecodeError(f"not a 16-, 32- or 128-bit uuid: {text!r}") from None


class BleDecoder:
    """Decodes advertisements and GATT values; holds the little configuration decoding needs."""

    def __init__(self, *, bthome_keys: Mapping[str, bytes] | None = None,
                 wristband_company_ids: Iterable[int] = (wristband.DEFAULT_COMPANY_ID,)) -> None:
        self._bthome_keys = {a.upper(): bytes(k) for a, k in (bthome_keys or {}).items()}
        for address, key in self._bthome_keys.items():
            if len(key) != 16:
                raise ValueError(f"BTHome bind key for {address}: need 16 bytes, got {len(key)}")
        self._manufacturer: dict[int, ManufacturerHandler] = {beacons.APPLE_COMPANY_ID: _apple}
        self.wristband_company_ids = tuple(wristband_company_ids)
        for company in self.wristband_company_ids:
            self._manufacturer[company] = _wristband

    def advertisement(self, adv: Advertisement) -> DecodeResult:
        readings: list[Reading] = []
        errors: list[str] = []
        for company, payload in adv.manufacturer_data.items():
            handler = self._manufacturer.get(company)
            if handler is None:
                continue
            try:
                reading = handler(payload)
            except DecodeError as e:
                errors.append(f"manufacturer 0x{company:04x}: {e}")
                continue
            if reading is not None:
                readings.append(reading)
        for uuid, payload in adv.service_data.items():
            try:
                reading = self._service(uuid, payload, adv.address)
            except DecodeError as e:
                errors.append(f"service data {uuid}: {e}")
                continue
            if reading is not None:
                readings.append(reading)
        return DecodeResult(tuple(readings), tuple(errors))

    def _service(self, uuid: str, payload: bytes, address: str) -> Reading | None:
        if uuid == bthome.BTHOME_UUID:
            return Reading("bthome", bthome.bthome(payload, address, self._bthome_keys))
        if uuid == beacons.EDDYSTONE_UUID:
            return Reading("eddystone", beacons.eddystone(payload))
        return None

    def gatt(self, characteristic: str, value: bytes) -> DecodeResult:
        """A characteristic value (read or notified); unknown characteristics are an error here,
        because a GATT session only subscribes to what it means to decode."""
        try:
            uuid = normalize_uuid(characteristic)
            known = gatt.CHARACTERISTICS.get(uuid)
            if known is None:
                raise DecodeError(f"characteristic {uuid} has no decoder")
            kind, decoder = known
            return DecodeResult((Reading(kind, decoder(value)),))
        except DecodeError as e:
            return DecodeResult(errors=(f"characteristic {characteristic}: {e}",))
