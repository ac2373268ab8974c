"""GattSession with bleak's real BlueZ client backend against dbusmock's bluez5 template."""

from __future__ import annotations

import asyncio

from sensors.ble import Backoff, BleScanner, GattSession
from sensors.decode import BleDecoder
from tests.sensors.bluez_mock import BluezControl
from tests.sensors.test_ble_bluez import stop, wait_for

HRS, HRM = "0000180d-0000-1000-8000-00805f9b34fb", "00002a37-0000-1000-8000-00805f9b34fb"


async def discover(control: BluezControl, addresses: list[str]) -> tuple[BleScanner, asyncio.Task, dict]:
    """Scan so that bleak knows the bands (as in production), and give each a heart-rate service."""
    scanner = BleScanner(lambda a: None, watchdog_s=60)
    task = asyncio.create_task(scanner.run())
    chars = {}
    for address in addresses:
        path = await control.add_device(address, "HR-band")
        chars[address] = (path, await control.add_gatt(path, HRS, HRM))
        await control.advertise(path, {})
    await wait_for(lambda: set(addresses) <= set(scanner.devices))
    return scanner, task, chars


def test_subscribes_again_after_every_reconnect_and_disconnects_cleanly(bluez):
    values: list[tuple[str, bytes]] = []

    async def scenario():
        control = await BluezControl.connect()
        await control.add_adapter()
        scanner, scan_task, chars = await discover(control, ["C0:FF:EE:00:01:01"])
        device_path, char = chars["C0:FF:EE:00:01:01"]
        session = GattSession(scanner.devices["C0:FF:EE:00:01:01"], [HRM],
                              lambda uuid, value: values.append((uuid, value)),
                              connections=asyncio.Semaphore(2), backoff=Backoff(0.05, 0.1))
        task = asyncio.create_task(session.run())
        await wait_for(lambda: session.connected and session.connects == 1)
        await asyncio.sleep(0.2)  # let StartNotify finish
        await control.notify(char, bytes.fromhex("163c1104"))
        await wait_for(lambda: len(values) == 1)

        await control.drop_connection(device_path)  # out of range, then back
        await wait_for(lambda: session.connects == 2 and session.connected)
        await asyncio.sleep(0.2)
        await control.notify(char, bytes.fromhex("0648"))
        await wait_for(lambda: len(values) == 2)
        start_notify_calls = await control.calls(char, "StartNotify")

        await stop(task)
        disconnects = await control.calls(device_path, "Disconnect")
        await stop(scan_task)
        control.disconnect()
        return start_notify_calls, disconnects

    start_notify_calls, disconnects = asyncio.run(scenario())
    assert start_notify_calls == 2  # subscribed again after the reconnect
    assert disconnects == 1  # cancelled: disconnected cleanly
    decoded = [BleDecoder().gatt(uuid, value).readings[0].data["bpm"] for uuid, value in values]
    assert decoded == [60, 72]


def test_connections_are_bounded(bluez):
    async def scenario():
        control = await BluezControl.connect()
        await control.add_adapter()
        addresses = ["C0:FF:EE:00:02:01", "C0:FF:EE:00:02:02"]
        scanner, scan_task, chars = await discover(control, addresses)
        slots = asyncio.Semaphore(1)
        sessions = [GattSession(scanner.devices[a], [HRM], lambda u, v: None, connections=slots,
                                backoff=Backoff(0.05, 0.1)) for a in addresses]
        tasks = [asyncio.create_task(s.run()) for s in sessions]
        await wait_for(lambda: any(s.connected for s in sessions))
        first = next(i for i, s in enumerate(sessions) if s.connected)
        at_once = []
        for _ in range(10):
            at_once.append(sum(s.connected for s in sessions))
            await asyncio.sleep(0.03)
        await control.drop_connection(chars[addresses[first]][0])  # frees the slot
        other = sessions[1 - first]
        await wait_for(lambda: other.connected)
        for task in tasks:
            await stop(task)
        await stop(scan_task)
        control.disconnect()
        return at_once

    assert max(asyncio.run(scenario())) == 1


BPM = "00002a35-0000-1000-8000-00805f9b34fb"


def test_a_band_without_blood_pressure_stays_connected_with_heart_rate(bluez):
    values: list[tuple[str, bytes]] = []

    async def scenario():
        control = await BluezControl.connect()
        await control.add_adapter()
        scanner, scan_task, chars = await discover(control, ["C0:FF:EE:00:03:01", "C0:FF:EE:00:03:02"])
        hr_only = GattSession(scanner.devices["C0:FF:EE:00:03:01"], [HRM, BPM],
                              lambda uuid, value: values.append((uuid, value)),
                              connections=asyncio.Semaphore(2), backoff=Backoff(0.05, 0.1))
        neither = GattSession(scanner.devices["C0:FF:EE:00:03:02"], [BPM], lambda uuid, value: None,
                              connections=asyncio.Semaphore(2), backoff=Backoff(0.05, 0.1))
        tasks = [asyncio.create_task(hr_only.run()), asyncio.create_task(neither.run())]
        await wait_for(lambda: hr_only.connected and neither.last_error is not None)
        await asyncio.sleep(0.5)  # several backoffs: a failed subscription would have reconnected by now
        await control.notify(chars["C0:FF:EE:00:03:01"][1], bytes.fromhex("0648"))
        await wait_for(lambda: len(values) == 1)
        state = (hr_only.connected, hr_only.connects, hr_only.subscribed, hr_only.last_error,
                 neither.connected, neither.connects, neither.last_error)
        for task in tasks:
            await stop(task)
        await stop(scan_task)
        control.disconnect()
        return state

    hr_connected, hr_connects, subscribed, hr_error, n_connected, n_connects, n_error = asyncio.run(scenario())
    assert (hr_connected, hr_connects, subscribed, hr_error) == (True, 1, [HRM], None)
    assert values == [(HRM, bytes.fromhex("0648"))]
    assert not n_connected and n_connects == 0
    assert n_error == f"BleakError: C0:FF:EE:00:03:02 has none of the characteristics {BPM}"
