"""bleak's real BlueZ backend against python-dbusmock's bluez5 template on a private D-Bus."""

from __future__ import annotations

import asyncio

import pytest

from sensors.ble import Backoff, BleScanner, ScannerState
from sensors.decode import BleDecoder
from sensors.readings import Advertisement
from tests.sensors.bluez_mock import BluezControl
from tests.sensors.conftest import load_hex


async def wait_for(predicate, timeout_s: float = 15.0) -> None:
    # a cap, not a timing: the condition is met in well under a second, but a 2-core machine busy with other work
    # (CI beside a benchmark) once took over 5 s to discover the mocked devices
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def fast_backoff() -> Backoff:
    return Backoff(initial=0.05, cap=0.2)


def test_active_scan_decodes_a_wristband(bluez):
    received: list[Advertisement] = []

    async def scenario():
        control = await BluezControl.connect()
        await control.add_adapter()
        scanner = BleScanner(received.append, watchdog_s=30, backoff=fast_backoff())
        task = asyncio.create_task(scanner.run())
        await wait_for(lambda: scanner.state is ScannerState.SCANNING)
        assert scanner.mode == "active"  # the template has no advertisement monitor manager
        path = await control.add_device("C0:FF:EE:00:00:01", "EB-0001")
        await control.advertise(path, {0xFFFF: load_hex("wristband_v1_sos")}, rssi=-48)
        await wait_for(lambda: any(a.manufacturer_data for a in received))
        health = scanner.health()
        await stop(task)
        control.disconnect()
        return health, scanner.state

    health, final_state = asyncio.run(scenario())
    adv = next(a for a in received if a.manufacturer_data)
    assert adv.address == "C0:FF:EE:00:00:01" and adv.rssi == -48
    reading = BleDecoder().advertisement(adv).readings[0]
    assert reading.kind == "wristband" and reading.data["sos"] is True
    assert health["ok"] and health["scanner"] == "scanning" and health["advertisements"] >= 1
    assert final_state is ScannerState.STOPPED


def test_passive_scan_where_bluez_has_advertisement_monitors(bluez):
    received: list[Advertisement] = []

    async def scenario():
        control = await BluezControl.connect()
        adapter = await control.add_adapter()
        await control.call(adapter, "org.freedesktop.DBus.Mock", "AddMethods", "sa(ssss)", [
            "org.bluez.AdvertisementMonitorManager1",
            [["RegisterMonitor", "o", "", ""], ["UnregisterMonitor", "o", "", ""]]])
        scanner = BleScanner(received.append, watchdog_s=30, backoff=fast_backoff())
        task = asyncio.create_task(scanner.run())
        await wait_for(lambda: scanner.state is ScannerState.SCANNING)
        path = await control.add_device("C0:FF:EE:00:00:02", "EB-0002")
        await control.advertise(path, {0xFFFF: load_hex("wristband_v1_sos")})
        await wait_for(lambda: any(a.manufacturer_data for a in received))
        mode = scanner.mode
        await stop(task)
        control.disconnect()
        return mode

    assert asyncio.run(scenario()) == "passive"


def test_missing_adapter_is_reported_and_retried_until_it_appears(bluez):
    async def scenario():
        control = await BluezControl.connect()
        scanner = BleScanner(lambda a: None, watchdog_s=30, backoff=fast_backoff())
        task = asyncio.create_task(scanner.run())
        await wait_for(lambda: scanner.state is ScannerState.UNAVAILABLE)
        health = scanner.health()
        await control.add_adapter()  # plugged in: the scanner recovers on its own
        await wait_for(lambda: scanner.state is ScannerState.SCANNING)
        assert task.done() is False
        await stop(task)
        control.disconnect()
        return health

    health = asyncio.run(scenario())
    assert not health["ok"] and health["scanner"] == "unavailable"
    assert "No Bluetooth adapters found" in health["error"]


def test_no_bluez_on_the_bus(private_bus):
    async def scenario():
        scanner = BleScanner(lambda a: None, backoff=fast_backoff())
        task = asyncio.create_task(scanner.run())
        await wait_for(lambda: scanner.last_error is not None)
        await stop(task)
        return scanner.last_error

    assert "BlueZ is not running" in asyncio.run(scenario())


def test_no_dbus_at_all(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")

    async def scenario():
        scanner = BleScanner(lambda a: None, backoff=fast_backoff())
        task = asyncio.create_task(scanner.run())
        await wait_for(lambda: scanner.last_error is not None)
        await asyncio.sleep(0.3)  # several retries, still alive
        await stop(task)
        return scanner

    scanner = asyncio.run(scenario())
    assert scanner.last_error.startswith("no D-Bus system bus")
    assert scanner._backoff.attempt >= 2
