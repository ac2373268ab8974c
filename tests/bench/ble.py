"""BLE benchmark: advertisements decoded and routed per second on one core, and the gateway's CPU while
300 simulated bands advertise at 1 Hz. Prints its figures beside the targets; run by `make bench`.

    .venv/bin/python tests/bench/ble.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.ble import BleSubsystem  # noqa: E402
from edge.clock import Clock  # noqa: E402
from edge.config import BleConfig, WristbandConfig  # noqa: E402
from edge.store import EventStore  # noqa: E402
from sensors.bthome import BTHOME_UUID  # noqa: E402
from sensors.decode import BleDecoder  # noqa: E402
from sensors.readings import Advertisement  # noqa: E402
from sensors.simulate import SimBand, SimScannerBackend, SimWorld  # noqa: E402
from sensors.wristband import WristbandState, encode_wristband  # noqa: E402

BANDS = 300


class StepClock(Clock):
    """Advances 1/300 s per reading: the rate limits behave as in a building of 300 bands at 1 Hz."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        self.t += 1 / BANDS
        return self.t


def workload(n: int, rng: random.Random) -> list[Advertisement]:
    """Mostly our wristbands (changing content), plus iBeacons, BTHome sensors and phones nothing decodes."""
    ibeacon = bytes.fromhex("0215b9407f30f5f8466eaff925556b57fe6d4e47c8a5b6")
    bthome = bytes.fromhex("40002e01641e012e34451601")
    out = []
    for i in range(n):
        band = i % BANDS
        r = rng.random()
        if r < 0.85:
            state = WristbandState(f"{band:08x}", rng.random() < 0.001, 1, i & 0xFF, rng.randint(10, 100),
                                   rng.randint(55, 130), True, False, False)
            out.append(Advertisement(f"C0:FF:EE:00:{band >> 8:02X}:{band & 0xFF:02X}", -60,
                                     None, {0xFFFF: encode_wristband(state)}))
        elif r < 0.90:
            out.append(Advertisement("AA:00:00:00:00:01", -70, None, {0x004C: ibeacon}))
        elif r < 0.95:
            out.append(Advertisement("AA:00:00:00:00:02", -70, None, {}, {BTHOME_UUID: bthome}))
        else:
            out.append(Advertisement("AA:00:00:00:00:03", -80, "phone", {0x0006: b"\x01\x09\x20\x02"}))
    return out


def bench_routing(n: int = 200_000) -> tuple[float, float]:
    advs = workload(n, random.Random(1))
    decoder = BleDecoder()
    t0 = time.process_time()
    for adv in advs:
        decoder.advertisement(adv)
    decode_rate = n / (time.process_time() - t0)

    async def route() -> float:
        config = BleConfig(wristbands=[WristbandConfig(band=f"{b:08x}", flat=f"{b // 4}-{b % 4}")
                                       for b in range(BANDS)])

        async def emit(event):  # the store is measured separately (its own benchmark)
            return event

        sub = BleSubsystem(config, emit, StepClock())
        t0 = time.process_time()
        for adv in advs:
            sub.on_advertisement(adv)
        return n / (time.process_time() - t0)

    return decode_rate, asyncio.run(route())


def cpu_share(seconds: float, with_gateway: bool) -> tuple[float, int]:
    """Process CPU / wall while 300 simulated bands advertise at 1 Hz, through a real store on disk."""
    world = SimWorld([SimBand(f"{b:08x}", f"C0:FF:EE:00:{b >> 8:02X}:{b & 0xFF:02X}", phase=b / BANDS)
                      for b in range(BANDS)])
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open(Path(tmp) / "edge.db", device_id="bench-gw1", building_id="b01")
        config = BleConfig(wristbands=[WristbandConfig(band=f"{b:08x}", flat="1-101") for b in range(BANDS)])
        heard = [0]

        async def run() -> int:
            if with_gateway:
                sub = BleSubsystem(config, store.emit, Clock(), backend=SimScannerBackend,
                                   backend_kwargs={"world": world, "time_scale": 1.0})
                task = asyncio.create_task(sub.run())
            else:  # the simulator alone: what a real radio would not cost us
                from bleak import BleakScanner

                scanner = BleakScanner(lambda d, a: heard.__setitem__(0, heard[0] + 1),
                                       backend=SimScannerBackend, world=world, time_scale=1.0)
                await scanner.start()
            await asyncio.sleep(2.0)  # warm up: first sightings emit their seen/heart-rate events
            c0, w0 = time.process_time(), time.monotonic()
            n0 = sub.scanner.advertisements if with_gateway else heard[0]
            await asyncio.sleep(seconds)
            share = (time.process_time() - c0) / (time.monotonic() - w0)
            if with_gateway:
                count = sub.scanner.advertisements
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            else:
                count = heard[0]
                await scanner.stop()
            cpu_share.result = share  # type: ignore[attr-defined]
            return count - n0

        count = asyncio.run(run())
        store.close()
    return cpu_share.result, count  # type: ignore[attr-defined]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    decode_rate, route_rate = bench_routing()
    sim_cpu, sim_n = cpu_share(args.seconds, with_gateway=False)
    all_cpu, all_n = cpu_share(args.seconds, with_gateway=True)
    print(f"BLE decode only:            {decode_rate:>10,.0f} adverts/s on one core")
    print(f"BLE decode + route (rules): {route_rate:>10,.0f} adverts/s on one core   target >= 50,000/s "
          f"{'OK' if route_rate >= 50_000 else 'MISSED'}")
    for label, cpu, n in (("simulator alone", sim_cpu, sim_n), ("simulator + gateway", all_cpu, all_n)):
        print(f"300 bands at 1 Hz, {label + ':':<23}{100 * cpu:5.2f} % of one core ({n / args.seconds:.0f} adv/s)")
    gw = all_cpu - sim_cpu
    print(f"gateway share (difference):               {100 * gw:5.2f} % of one core   target <= 5 % "
          f"{'OK' if gw <= 0.05 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
