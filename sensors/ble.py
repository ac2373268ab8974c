"""Adapters to the radio through bleak: a self-healing scanner and GATT sessions.

`BleScanner` scans passively where BlueZ supports it (advertisement monitors, BlueZ >= 5.56 with
--experimental) and actively otherwise, restarts the scanner when it has heard nothing for
`watchdog_s` (monotonic time: the Pi has no RTC and wall time jumps), and reports a missing
D-Bus, BlueZ or adapter in `health()` while retrying with capped backoff instead of crashing.

`GattSession` keeps one connected band subscribed to its notifications: it reconnects with
backoff, subscribes again after every reconnect, and holds a shared semaphore while connected
so that a building's gateway never opens more connections than the controller can hold.

Everything that is not I/O (decoding, rules) lives elsewhere; the callbacks get plain
`Advertisement` objects and (uuid, bytes) pairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

from sensors import wristband
from sensors.readings import Advertisement

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
Sleep = Callable[[float], Any]


class ScannerState(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    SCANNING = "scanning"
    UNAVAILABLE = "unavailable"


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: 1, 2, 4 ... `cap` seconds, each +-`jitter` of itself."""

    initial: float = 1.0
    cap: float = 60.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return delay * (1 + self.jitter * (2 * self.rng.random() - 1))

    def reset(self) -> None:
        self.attempt = 0


def describe_ble_error(e: BaseException) -> str:
    """An operator's explanation of why Bluetooth is not usable."""
    if isinstance(e, FileNotFoundError):
        return f"no D-Bus system bus ({e.filename or e}); is the dbus service running?"
    if isinstance(e, BleakBluetoothNotAvailableError):
        return f"Bluetooth not available: {e.args[0] if e.args else e} (reason {e.reason.name})"
    if isinstance(e, BleakDBusError) and e.dbus_error in (
        "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return "BlueZ is not running (no org.bluez on the system bus); start bluetoothd"
    if isinstance(e, PermissionError | ConnectionRefusedError):
        return f"cannot reach the system bus: {e}"
    return f"{type(e).__name__}: {e}"


def _is_passive_unsupported(e: BaseException) -> bool:
    """BlueZ without advertisement monitors: bleak says so, or D-Bus does (mocks, old daemons)."""
    if isinstance(e, BleakDBusError):
        return e.dbus_error in ("org.freedesktop.DBus.Error.UnknownMethod",
                                "org.freedesktop.DBus.Error.UnknownInterface",
                                "org.bluez.Error.NotSupported")
    return isinstance(e, BleakError) and "passive scanning" in str(e)


# Exceptions that mean "Bluetooth is not usable right now": report and retry, never crash.
_UNAVAILABLE = (FileNotFoundError, PermissionError, ConnectionError, BleakError, OSError, EOFError)


def or_patterns(wristband_company_ids: Iterable[int] = (wristband.DEFAULT_COMPANY_ID,)) -> list[OrPattern]:
    """What a passive scan asks BlueZ to pass on: our wristbands, iBeacon, BTHome, Eddystone and
    bands that advertise the Heart Rate or Blood Pressure service."""
    mfr = AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA
    patterns = [OrPattern(0, mfr, company.to_bytes(2, "little") + bytes([wristband.MAGIC]))
                for company in wristband_company_ids]
    patterns += [
        OrPattern(0, mfr, b"\x4c\x00\x02\x15"),  # iBeacon
        OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xd2\xfc"),  # BTHome
        OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"),  # Eddystone
    ]
    for list_type in (AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID16,
                      AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID16):
        patterns += [OrPattern(0, list_type, b"\x0d\x18"), OrPattern(0, list_type, b"\x10\x18")]
    return patterns


def to_advertisement(device: BLEDevice, data: AdvertisementData) -> Advertisement:
    return Advertisement(
        address=device.address, rssi=data.rssi, name=data.local_name,
        manufacturer_data=data.manufacturer_data, service_data=data.service_data,
        service_uuids=tuple(data.service_uuids),
    )


class BleScanner:
    """Runs a BleakScanner until cancelled; hands every advertisement to `on_advertisement`."""

    def __init__(
        self,
        on_advertisement: Callable[[Advertisement], None],
        *,
        watchdog_s: float = 120.0,
        passive: bool = True,
        adapter: str | None = None,
        patterns: list[OrPattern] | None = None,
        backend: type[BaseBleakScanner] | None = None,
        backend_kwargs: Mapping[str, Any] | None = None,
        backoff: Backoff | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._on_advertisement = on_advertisement
        self._watchdog_s = watchdog_s
        self._passive = passive
        self._adapter = adapter
        self._patterns = patterns if patterns is not None else or_patterns()
        self._backend = backend
        self._backend_kwargs = dict(backend_kwargs or {})
        self._backoff = backoff or Backoff()
        self._monotonic = monotonic
        self._sleep = sleep
        self._scanner: BleakScanner | None = None
        self.devices: dict[str, BLEDevice] = {}  # address -> last BLEDevice, for GATT sessions
        self.state = ScannerState.STOPPED
        self.mode: str | None = None
        self.last_error: str | None = None
        self.restarts = 0
        self.advertisements = 0
        self.callback_errors = 0
        self._last_advert = monotonic()

    def health(self) -> dict[str, Any]:
        """For /healthz: healthy only while scanning."""
        return {
            "ok": self.state is ScannerState.SCANNING,
            "scanner": str(self.state),
            "mode": self.mode,
            "error": self.last_error,
            "restarts": self.restarts,
            "advertisements": self.advertisements,
            "callback_errors": self.callback_errors,
            "silent_s": round(self._monotonic() - self._last_advert, 1),
        }

    def _detected(self, device: BLEDevice, data: AdvertisementData) -> None:
        self._last_advert = self._monotonic()
        self.advertisements += 1
        self.devices[device.address] = device
        try:
            self._on_advertisement(to_advertisement(device, data))
        except Exception:  # one bad consumer call must not stop the radio
            self.callback_errors += 1
            log.exception("advertisement handler failed for %s: %r", device.address, data)

    def _make(self, mode: str) -> BleakScanner:
        bluez: dict[str, Any] = {}
        if self._adapter:
            bluez["adapter"] = self._adapter
        if mode == "passive":
            bluez["or_patterns"] = self._patterns
        return BleakScanner(self._detected, None, mode, bluez=bluez,  # type: ignore[arg-type]
                            backend=self._backend, **self._backend_kwargs)

    async def _start(self) -> None:
        """Passive first (when wanted); active when this BlueZ cannot do passive."""
        modes = ["passive", "active"] if self._passive and self.mode != "active" else ["active"]
        for mode in modes:
            scanner = self._make(mode)
            try:
                await scanner.start()
            except BleakError as e:
                if mode == "passive" and _is_passive_unsupported(e):
                    log.info("passive scanning not supported here (%s); scanning actively", e)
                    continue
                raise
            self._scanner, self.mode = scanner, mode
            return

    async def _stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await scanner.stop()

    async def _watch(self) -> None:
        """Return when nothing was heard for `watchdog_s`: the caller restarts the scanner."""
        while True:
            silent = self._monotonic() - self._last_advert
            if silent >= self._watchdog_s:
                log.warning("no advertisement for %.0f s; restarting the scanner", silent)
                return
            await self._sleep(min(self._watchdog_s - silent, max(1.0, self._watchdog_s / 10)))

    async def run(self) -> None:
        """Scan until cancelled; Bluetooth trouble is reported in health() and retried."""
        try:
            while True:
                self.state = ScannerState.STARTING
                try:
                    await self._start()
                except Exception as e:  # whatever the stack throws, report and retry: no crash loop
                    self.state, self.last_error = ScannerState.UNAVAILABLE, describe_ble_error(e)
                    delay = self._backoff.next()
                    log.warning("BLE scanner unavailable: %s; retrying in %.1f s", self.last_error, delay)
                    await self._sleep(delay)
                    continue
                self.state, self.last_error = ScannerState.SCANNING, None
                heard_before = self.advertisements
                self._last_advert = self._monotonic()
                await self._watch()
                await self._stop()
                self.restarts += 1
                if self.advertisements > heard_before:
                    self._backoff.reset()
                else:  # an empty neighbourhood must not turn into a restart loop
                    await self._sleep(self._backoff.next())
        finally:
            await self._stop()
            self.state = ScannerState.STOPPED


class GattSession:
    """One band that needs a connection: connect, subscribe, and do it again after every drop. It subscribes to
    those of `characteristics` the band has; a band with none of them is an error (retried with backoff)."""

    def __init__(
        self,
        device: BLEDevice | str,
        characteristics: Iterable[str],
        on_value: Callable[[str, bytes], None],
        *,
        connections: asyncio.Semaphore,
        connect_timeout_s: float = 20.0,
        backoff: Backoff | None = None,
        backend: type[BaseBleakClient] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.device = device
        self.characteristics = list(characteristics)
        self._on_value = on_value
        self._connections = connections
        self._timeout = connect_timeout_s
        self._backoff = backoff or Backoff(initial=2.0, cap=300.0)
        self._backend = backend
        self._sleep = sleep
        self.connected = False
        self.connects = 0
        self.last_error: str | None = None
        self.subscribed: list[str] = []  # those of `characteristics` the band has, once connected

    @property
    def address(self) -> str:
        return self.device if isinstance(self.device, str) else self.device.address

    def _notified(self, uuid: str) -> Callable[[Any, bytearray], None]:
        def callback(_char: Any, value: bytearray) -> None:
            try:
                self._on_value(uuid, bytes(value))
            except Exception:  # a consumer bug must not tear down the connection
                log.exception("GATT value handler failed for %s %s", self.address, uuid)
        return callback

    async def _session(self) -> None:
        """One connection: subscribe to everything, then wait until the band drops it."""
        lost = asyncio.Event()
        client = BleakClient(self.device, disconnected_callback=lambda _c: lost.set(),
                             timeout=self._timeout, backend=self._backend)
        await client.connect()
        try:
            # a band need not have them all (heart rate without blood pressure is common): subscribe to those it has
            present = [u for u in self.characteristics if client.services.get_characteristic(u) is not None]
            if not present:
                raise BleakError(f"{self.address} has none of the characteristics {', '.join(self.characteristics)}")
            self.connected, self.last_error = True, None
            self.connects += 1
            for uuid in present:
                await client.start_notify(uuid, self._notified(uuid))
            self.subscribed = present
            self._backoff.reset()
            await lost.wait()
        finally:
            self.connected = False
            if client.is_connected:
                with contextlib.suppress(*_UNAVAILABLE, TimeoutError):
                    await client.disconnect()

    async def run(self) -> None:
        """Until cancelled; each connection holds one slot of the shared semaphore."""
        while True:
            try:
                async with self._connections:
                    await self._session()
                log.info("GATT %s disconnected; reconnecting", self.address)
            except (*_UNAVAILABLE, TimeoutError) as e:
                self.last_error = describe_ble_error(e)
                log.warning("GATT %s: %s", self.address, self.last_error)
            await self._sleep(self._backoff.next())
