"""GPIO benchmark: what the GPIO subsystem costs on top of gpiozero, and how well bin levels follow the echoes.

The demo building (2 bins, an LDR and a digital light, 2 buttons, 2 outputs) on gpiozero's mock pins, steady at one
moment of the scripted day. Baseline: the same devices and mock pins with gpiozero's own reading threads only.
Then the subsystem (trackers, store writes) on top. Prints CPU of one core for both, the difference, readings per
second per bin, and the bin levels' error against the scripted level. Run by `make bench`.

    .venv/bin/python tests/bench/gpio.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gpiozero.pins.mock import MockFactory  # noqa: E402

from edge.clock import Clock, ScaledClock  # noqa: E402
from edge.config import SiteConfig  # noqa: E402
from edge.gpio import GpioSubsystem  # noqa: E402
from edge.store import EventStore  # noqa: E402
from sensors.gpio import GpioDevices  # noqa: E402
from sensors.gpio_sim import DayScript, MockBuilding, demo_config, evening  # noqa: E402

MOMENT = 20.0  # simulated seconds into the script: bin-1 at 63.6 %, bin-2 at 25.1 %, lights lit


async def measure(seconds: float, with_subsystem: bool) -> tuple[float, dict[str, list[float]], int]:
    """CPU share of one core over `seconds`; the bin levels the trackers saw; events stored."""
    site = SiteConfig()
    cfg = demo_config(site)
    factory = MockFactory()
    clock = ScaledClock(1.0, start=evening(cfg, site, Clock().utcnow()))
    building = MockBuilding(cfg, factory, DayScript(cfg, site, clock.utcnow()), clock)
    building.prepare()
    devices = GpioDevices.open(cfg, factory)
    levels: dict[str, list[float]] = {name: [] for name in devices.bins}
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open(Path(tmp) / "b.db", device_id="bench", building_id="b", clock=Clock())
        sub = GpioSubsystem(cfg, site, devices, store.emit, Clock(), factory=factory, factory_kind="mock")
        task = asyncio.create_task(sub.run()) if with_subsystem else None
        moment = building.script.at(MOMENT)
        cpu0, t0 = time.process_time(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            building.apply(moment)
            for name, tracker in sub.bins.items():
                if tracker.level is not None:
                    levels[name].append(tracker.level)
            await asyncio.sleep(0.02)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
        if task:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        events = store.stats().events
        sub.close()
        store.close()
    return cpu, levels, events


def readings_per_second(seconds: float) -> float:
    """Raw echoes per second from one bin's sensor (gpiozero reads continuously, 60 ms apart)."""
    cfg = demo_config(SiteConfig())
    factory = MockFactory()
    MockBuilding(cfg, factory, DayScript(cfg, SiteConfig(), Clock().utcnow()), ScaledClock(1.0)).prepare()
    devices = GpioDevices.open(cfg, factory)
    sensor = devices.bins["bin-1"]
    sensor.drain()
    time.sleep(seconds)
    n = len(sensor.drain())
    devices.close()
    factory.close()
    return n / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    script = DayScript(demo_config(SiteConfig()), SiteConfig(), Clock().utcnow()).at(MOMENT)
    base_cpu, _, _ = asyncio.run(measure(args.seconds, with_subsystem=False))
    sub_cpu, levels, events = asyncio.run(measure(args.seconds, with_subsystem=True))
    rate = readings_per_second(min(args.seconds, 5.0))
    print(f"echoes per bin sensor:                  {rate:6.1f} /s (gpiozero DistanceSensor, 60 ms apart)")
    print(f"gpiozero + mock pins alone (baseline):  {100 * base_cpu:6.2f} % of one core")
    print(f"with the GPIO subsystem:                {100 * sub_cpu:6.2f} % of one core ({events} events stored)")
    print(f"GPIO subsystem share (difference):      {100 * (sub_cpu - base_cpu):6.2f} % of one core   "
          "target <= 2 %")
    for name, seen in levels.items():
        want = script.levels[name]
        if not seen:
            print(f"{name} level: none reported")
            continue
        err = statistics.median(abs(v - want) for v in seen)
        print(f"{name} level: scripted {want:5.1f} %, median reported {statistics.median(seen):5.1f} %, "
              f"median error {err:4.1f} points   (mock echoes are timed with sleep(), which oversleeps)")


if __name__ == "__main__":
    main()
