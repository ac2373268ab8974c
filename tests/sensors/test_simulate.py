from __future__ import annotations

import asyncio
from collections import defaultdict

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from sensors.ble import Backoff, BleScanner, ScannerState
from sensors.simulate import SimBand, SimScannerBackend, SimWorld, demo_world
from sensors.wristband import parse_wristband


def play(world: SimWorld, until: float) -> dict[str, list]:
    """(time, state) of every advertisement per address, from the pure world."""
    out: dict[str, list] = defaultdict(list)
    for at, band, payload in world.due(until):
        out[band.address].append((at, parse_wristband(payload)))
    return out


def test_demo_first_minute():
    heard = play(demo_world(), 60.0)
    sos_band, leaver, walker, flat, racing = (heard[f"C0:FF:EE:00:00:0{i}"] for i in range(1, 6))

    sos = [(t, s) for t, s in sos_band if s.sos]
    assert sos and 12.0 <= sos[0][0] < 12.2
    assert {s.sos_counter for _, s in sos} == {1}  # two presses, one incident
    assert len([t for t, _ in sos if t < 42]) > 200  # fast advertising while the SOS is fresh
    assert max(t for t, _ in leaver) < 5.0
    assert not [t for t, _ in walker if 20.0 <= t < 35.0] and [t for t, _ in walker if t >= 35.0]
    assert flat[-1][1].battery_pct < 20 <= flat[0][1].battery_pct
    assert racing[-1][1].heart_rate_bpm > 120 and racing[0][1].heart_rate_bpm < 90


def test_demo_band_six_falls_now_and_then():
    falls = [(t, s.fall) for t, s in play(demo_world(), 700.0)["C0:FF:EE:00:00:06"]]
    starts = [t for (_, was), (t, now) in zip(falls, falls[1:], strict=False) if now and not was]
    assert [int(t) for t in starts] == [40, 640]  # two incidents, the flag clear in between
    assert all(fall == (40 <= t < 100 or 640 <= t) for t, fall in falls)
    assert not any(s.fall for band in play(demo_world(), 700.0).values() for _, s in band if s.band_id != "b0000006")


def test_sequence_changes_with_content_and_wraps():
    band = SimBand("00000001", "C0:FF:EE:00:00:01", heart_rate=70)
    world = SimWorld([band])
    seqs = [s.seq for _, s in play(world, 400.0)["C0:FF:EE:00:00:01"]]
    assert len(set(seqs)) > 1 and all(0 <= s <= 255 for s in seqs)


def test_backend_delivers_real_bleak_types_through_bleak_scanner():
    got: list[tuple[BLEDevice, AdvertisementData]] = []

    async def scenario():
        world = demo_world(3)
        async with BleakScanner(lambda d, a: got.append((d, a)), backend=SimScannerBackend,
                                world=world, time_scale=20):
            await asyncio.sleep(0.5)

    asyncio.run(scenario())
    device, adv = got[0]
    assert isinstance(device, BLEDevice) and isinstance(adv, AdvertisementData)
    assert 0xFFFF in adv.manufacturer_data and adv.rssi < 0
    assert {d.address for d, _ in got} >= {"C0:FF:EE:00:00:01", "C0:FF:EE:00:00:03"}


def scanner_on(world: SimWorld, **kw) -> BleScanner:
    return BleScanner(kw.pop("handler", lambda a: None), backend=SimScannerBackend,
                      backend_kwargs={"world": world, "time_scale": 1.0},
                      backoff=Backoff(initial=0.05, cap=0.1), **kw)


def test_watchdog_restarts_a_silent_scanner_and_not_a_busy_one():
    async def run_for(scanner: BleScanner, seconds: float) -> None:
        task = asyncio.create_task(scanner.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    silent = scanner_on(SimWorld([SimBand("00000001", "C0:FF:EE:00:00:01", leaves_at=0.2)]),
                        watchdog_s=0.3)
    busy = scanner_on(SimWorld([SimBand("00000002", "C0:FF:EE:00:00:02")]), watchdog_s=1.5)
    asyncio.run(run_for(silent, 1.5))
    asyncio.run(run_for(busy, 2.0))
    assert silent.restarts >= 2 and silent.state is ScannerState.STOPPED
    assert busy.restarts == 0 and busy.advertisements >= 2


def test_a_failing_consumer_does_not_stop_the_radio():
    def broken(_adv):
        raise RuntimeError("bug downstream")

    async def scenario():
        scanner = scanner_on(SimWorld([SimBand("00000003", "C0:FF:EE:00:00:03")]), handler=broken)
        task = asyncio.create_task(scanner.run())
        await asyncio.sleep(1.3)
        health = scanner.health()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return health

    health = asyncio.run(scenario())
    assert health["ok"] and health["callback_errors"] >= 2
