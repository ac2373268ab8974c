"""The BLE wristband subsystem: scanner -> decoder -> rules -> events. A thin adapter; decisions are in
edge/wristbands.py, formats in sensors/.

Advertisements arrive on the event loop from bleak's callback; the rules run at once and their events go
through a priority queue to the store, so an SOS is never queued behind readings.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from bleak.backends.scanner import BaseBleakScanner

from edge.clock import Clock
from edge.config import BleConfig
from edge.events import EventSink, NewEvent
from edge.reader import EventReader
from edge.supervisor import next_backoff
from edge.wristbands import RESTORED, Band, Registry, Settings, WristbandRules
from sensors.ble import BleScanner, GattSession, or_patterns
from sensors.decode import BleDecoder
from sensors.gatt import BLOOD_PRESSURE_MEASUREMENT, HEART_RATE_MEASUREMENT
from sensors.readings import Advertisement
from sensors.wristband import WristbandState

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
RETRY_FIRST_S, RETRY_CAP_S = 0.5, 30.0  # a protected event the store refused is offered again, backing off
# acknowledged alerts count too: the closing event resolves them as well, and a new event would open a second one
class BleSubsystem:
    """One per gateway; `run()` is supervised, `health()` feeds /healthz."""

    def __init__(self, config: BleConfig, emit: EventSink, clock: Clock, *,
                 backend: type[BaseBleakScanner] | None = None,
                 backend_kwargs: Mapping[str, Any] | None = None,
                 registry: Registry | None = None, store: EventReader | None = None) -> None:
        self.config = config
        self._emit = emit
        self._clock = clock
        self.decoder = BleDecoder(bthome_keys={a: bytes.fromhex(k) for a, k in config.bthome_keys.items()},
                                  wristband_company_ids=config.wristband_company_ids)
        self.registry = registry or Registry(config.wristbands)
        self.rules = WristbandRules(Settings.from_config(config), started=clock.monotonic())
        if store is not None:  # the rules go on from the alerts raised before the gateway stopped
            self.rules.restore((kind, source) for kind, source, _ in store.unresolved_alerts(RESTORED))
        self.scanner = BleScanner(
            self.on_advertisement, watchdog_s=config.watchdog_s, passive=config.passive, adapter=config.adapter,
            patterns=or_patterns(config.wristband_company_ids), backend=backend, backend_kwargs=backend_kwargs,
            monotonic=clock.monotonic)
        # (rank, order, event, attempts so far): the order keeps the queue first-in first-out within a priority
        self._queue: asyncio.PriorityQueue[tuple[int, int, NewEvent, int]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self.retrying = 0
        self.counts = {"readings": 0, "decode_errors": 0, "events": 0, "emit_errors": 0, "dropped": 0,
                       "emit_retries": 0}

    # ---- advertisements -> events ---------------------------------------------------------------------

    def on_advertisement(self, adv: Advertisement) -> None:
        result = self.decoder.advertisement(adv)
        if result.errors:
            self.counts["decode_errors"] += 1
            log.debug("undecodable advertisement from %s: %s", adv.address, "; ".join(result.errors))
        for reading in result.readings:
            self.counts["readings"] += 1
            if reading.kind != "wristband":
                continue  # beacons and BTHome sensors: decoded, not (yet) turned into events
            state = WristbandState(**reading.data)
            band = self.registry.lookup(state.band_id, adv.address)
            if band is not None:
                self._enqueue(self.rules.evaluate(state, band, self._clock.monotonic(), adv.rssi))
            else:  # the rules see its flags clear too, which tells the next incident from this one
                self._enqueue(self.rules.unregistered(state, self._clock.monotonic(), adv.rssi))

    def on_gatt_value(self, band: Band, uuid: str, value: bytes) -> None:
        result = self.decoder.gatt(uuid, value)
        if result.errors:
            self.counts["decode_errors"] += 1
            log.info("GATT %s from %s: %s", uuid, band.band_id, "; ".join(result.errors))
        for reading in result.readings:
            self.counts["readings"] += 1
            if reading.kind == "heart_rate":
                self._enqueue(self.rules.heart_rate(band, reading.data["bpm"], self._clock.monotonic()))
            elif reading.kind == "blood_pressure":
                self._enqueue([NewEvent("wristband.blood_pressure", band.source,
                                        {"band": band.band_id, "flat": band.flat, **reading.data})])

    def _enqueue(self, events: list[NewEvent]) -> None:
        for event in events:
            if self._queue.qsize() >= QUEUE_LIMIT and not event.priority.protected:
                self.counts["dropped"] += 1
                continue
            self._queue.put_nowait((event.priority.rank, next(self._order), event, 0))

    async def _emitter(self) -> None:
        while True:
            _, _, event, attempts = await self._queue.get()
            try:
                await self._emit(event)
                self.counts["events"] += 1
            except Exception as e:  # a full store refuses readings; the radio goes on
                self.counts["emit_errors"] += 1
                if not event.priority.protected:
                    log.warning("could not store %s from %s: %s", event.kind, event.source, e)
                    continue
                # the rules have marked an SOS or alert raised and will not raise it again: keep offering it
                # (later, not blocking the queue) until the store takes it
                delay = next_backoff(attempts + 1, base=RETRY_FIRST_S, cap=RETRY_CAP_S)
                log.error("could not store %s from %s (attempt %d): %s; again in %.1f s", event.kind, event.source,
                          attempts + 1, e, delay)
                self.retrying += 1
                asyncio.get_running_loop().call_later(delay, self._retry, event, attempts + 1)

    def _retry(self, event: NewEvent, attempts: int) -> None:
        self.retrying -= 1
        self.counts["emit_retries"] += 1
        self._queue.put_nowait((event.priority.rank, next(self._order), event, attempts))

    async def _missing_checks(self) -> None:
        every = min(60.0, max(0.5, self.rules.settings.missing_after_s / 10))
        while True:
            await asyncio.sleep(every)
            self._enqueue(self.rules.check_missing(self.registry.bands(), self._clock.monotonic()))

    # ---- GATT bands ---------------------------------------------------------------------------------------

    async def _gatt(self, band: Band, slots: asyncio.Semaphore) -> None:
        """Wait until the scanner has seen the band, then keep a session to it."""
        address = band.band_id.upper()
        while address not in self.scanner.devices:
            await asyncio.sleep(5)
        session = GattSession(self.scanner.devices[address], [HEART_RATE_MEASUREMENT, BLOOD_PRESSURE_MEASUREMENT],
                              lambda uuid, value: self.on_gatt_value(band, uuid, value), connections=slots)
        await session.run()

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.config.max_connections)
        gatt = [self._gatt(Band(w.band.lower(), w.flat, w.hr_min, w.hr_max), slots)
                for w in self.config.wristbands if w.connect and ":" in w.band]
        await asyncio.gather(self.scanner.run(), self._emitter(), self._missing_checks(), *gatt)

    def health(self) -> dict[str, Any]:
        out = self.scanner.health()
        out.update(self.counts, bands=len(self.registry.bands()), unknown_bands=len(self.registry.unknown),
                   queued=self._queue.qsize() + self.retrying)
        return out


def simulated(config: BleConfig, emit: EventSink, clock: Clock, *, speed: float, seed: int,
              store: EventReader | None = None) -> BleSubsystem:
    """The subsystem on simulated bands (sensors/simulate.py) through bleak's scanner backend seam.
    Without configured wristbands, the simulated ones are registered to demo flats."""
    from edge.config import WristbandConfig
    from sensors.simulate import SimScannerBackend, demo_world

    world = demo_world(config.simulated_bands, seed=seed)
    entries = config.wristbands or [
        WristbandConfig(band=b.band_id, flat=f"{1 + i // 4}-{101 + i % 4}") for i, b in enumerate(world.bands)]
    return BleSubsystem(config, emit, clock, backend=SimScannerBackend,
                        backend_kwargs={"world": world, "time_scale": speed}, registry=Registry(entries), store=store)
