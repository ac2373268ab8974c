"""Simulated wristbands, played through bleak's own seam for custom scanner backends.

`SimWorld` is pure: given the simulated time it says which bands advertise what (walking in and
out of range, SOS presses, falls, heart-rate drift, draining batteries), in our wristband format.
`SimScannerBackend` is a real `BaseBleakScanner`: `BleakScanner(cb, backend=SimScannerBackend,
world=world)` delivers real `BLEDevice` and `AdvertisementData` to the same callback the BlueZ
backend would, so the whole path above the radio runs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from sensors import wristband
from sensors.wristband import WristbandState

NORMAL_INTERVAL_S = 1.0
SOS_INTERVAL_S = 0.1  # the spec's fast advertising for the first 30 s of an SOS
SOS_FAST_S = 30.0
SOS_HOLD_S = 60.0
FALL_HOLD_S = 60.0  # the fall flag stays set this long (until the wearer would cancel it), then clears


@dataclass
class SimBand:
    """One simulated band and its script; times are simulated seconds since the start."""

    band_id: str
    address: str
    heart_rate: float = 72.0
    battery: float = 90.0
    drain_per_hour: float = 0.05
    sos_at: tuple[float, ...] = ()  # presses; presses while SOS is active belong to the same incident
    fall_at: tuple[float, ...] = ()  # falls detected; the flag is set for FALL_HOLD_S from each
    away: tuple[tuple[float, float], ...] = ()  # (leave, return) intervals out of range
    leaves_at: float | None = None  # walks away for good: the band goes missing
    hr_target: tuple[tuple[float, float], ...] = ()  # (from time, bpm) the heart rate drifts to
    rssi: int = -65
    phase: float = 0.0  # offset of its advertising within the interval
    sos_counter: int = 0
    seq: int = 0
    _sos_since: float | None = None
    _presses_done: int = 0
    _last_payload: bytes = b""

    def in_range(self, t: float) -> bool:
        if self.leaves_at is not None and t >= self.leaves_at:
            return False
        return not any(start <= t < end for start, end in self.away)

    def _update_sos(self, t: float) -> bool:
        while self._presses_done < len(self.sos_at) and self.sos_at[self._presses_done] <= t:
            if self._sos_since is None:  # a new incident; repeated presses keep the counter
                self.sos_counter = (self.sos_counter + 1) & 0xFF
            self._sos_since = self.sos_at[self._presses_done]
            self._presses_done += 1
        if self._sos_since is not None and t - self._sos_since >= SOS_HOLD_S:
            self._sos_since = None
        return self._sos_since is not None

    def _target_bpm(self, t: float) -> float | None:
        target = None
        for since, bpm in self.hr_target:
            if t >= since:
                target = bpm
        return target

    def advance(self, t: float, dt: float, rng: random.Random) -> None:
        """Heart rate drifts (towards its scripted target, if any); the battery drains."""
        target = self._target_bpm(t)
        pull = 0.2 * (target - self.heart_rate) if target is not None else 0.0
        self.heart_rate = min(200.0, max(35.0, self.heart_rate + pull + rng.gauss(0, 0.5)))
        self.battery = max(0.0, self.battery - self.drain_per_hour * dt / 3600)

    def payload(self, t: float) -> bytes:
        sos = self._update_sos(t)
        state = WristbandState(
            band_id=self.band_id, sos=sos, sos_counter=self.sos_counter, seq=self.seq,
            battery_pct=int(self.battery), heart_rate_bpm=round(self.heart_rate), worn=True,
            charging=False, fall=any(at <= t < at + FALL_HOLD_S for at in self.fall_at))
        data = wristband.encode_wristband(state)
        if data[:-1] != self._last_payload[:-1]:  # seq changes with the content, as the spec says
            self.seq = (self.seq + 1) & 0xFF
            data = data[:-1] + bytes([self.seq])
        self._last_payload = data
        return data

    def interval(self, t: float) -> float:
        if self._sos_since is not None and t - self._sos_since < SOS_FAST_S:
            return SOS_INTERVAL_S
        return NORMAL_INTERVAL_S


@dataclass
class SimWorld:
    """All bands of a simulated building; `due(t)` yields the advertisements sent up to time t."""

    bands: list[SimBand]
    company_id: int = wristband.DEFAULT_COMPANY_ID
    seed: int = 7
    time: float = 0.0  # simulated seconds; kept here so a restarted scanner carries on
    _queue: list[tuple[float, int]] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._queue = [(b.phase, i) for i, b in enumerate(self.bands)]
        heapq.heapify(self._queue)

    def due(self, t: float) -> Iterator[tuple[float, SimBand, bytes]]:
        """(time, band, manufacturer payload) of every advertisement up to `t`, in time order."""
        while self._queue and self._queue[0][0] <= t:
            at, i = heapq.heappop(self._queue)
            band = self.bands[i]
            payload = band.payload(at)  # runs the SOS script even while out of range
            band.advance(at, band.interval(at), self._rng)
            heapq.heappush(self._queue, (at + band.interval(at), i))
            if band.in_range(at):
                yield at, band, payload

    def next_due(self) -> float:
        return self._queue[0][0] if self._queue else float("inf")


def demo_world(n_bands: int = 6, *, seed: int = 7) -> SimWorld:
    """The demo's building: in the first minute band 1 presses SOS (twice: one incident),
    band 2 walks off for good, band 3 steps out and back, band 4's battery is nearly flat,
    band 5's heart rate climbs and stays high and band 6 detects a fall (and another ten minutes later)."""
    rng = random.Random(seed)
    bands = [SimBand(band_id=f"b0{i:06x}", address=f"C0:FF:EE:00:00:{i:02X}",
                     heart_rate=rng.uniform(62, 80), battery=rng.uniform(60, 100),
                     rssi=rng.randint(-85, -50), phase=rng.random())
             for i in range(1, n_bands + 1)]
    scripts: dict[int, dict[str, Any]] = {
        0: {"sos_at": (12.0, 15.0)},
        1: {"leaves_at": 5.0},
        2: {"away": ((20.0, 35.0),)},
        3: {"battery": 21.0, "drain_per_hour": 3600 * 0.05},  # 1 % every 20 s
        4: {"hr_target": ((25.0, 135.0),)},
        5: {"fall_at": (40.0, 640.0)},
    }
    for i, script in scripts.items():
        if i < len(bands):
            for key, value in script.items():
                setattr(bands[i], key, value)
    return SimWorld(bands, seed=seed)


class SimScannerBackend(BaseBleakScanner):
    """A bleak scanner backend that plays a `SimWorld`; `time_scale` > 1 runs simulated time faster."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        world: SimWorld,
        time_scale: float = 1.0,
        tick_s: float = 0.02,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.world = world
        self.time_scale = time_scale
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.create_task(self._play(), name="ble-sim")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _deliver(self, band: SimBand, payload: bytes) -> None:
        adv = AdvertisementData(
            local_name=f"EB-{band.band_id[-4:]}", manufacturer_data={self.world.company_id: payload},
            service_data={}, service_uuids=[], tx_power=None, rssi=band.rssi, platform_data=("sim",))
        device = self.create_or_update_device(band.address, band.address, adv.local_name, None, adv)
        self.call_detection_callbacks(device, adv)

    async def _play(self) -> None:
        """Advance simulated time with the event loop's clock; a restarted scanner carries on.
        Wakes at most every `tick_s` (real) and delivers what fell due meanwhile."""
        loop = asyncio.get_running_loop()
        origin = loop.time() - self.world.time / self.time_scale
        while True:
            self.world.time = (loop.time() - origin) * self.time_scale
            for _, band, payload in self.world.due(self.world.time):
                self._deliver(band, payload)
            wait = (self.world.next_due() - self.world.time) / self.time_scale
            await asyncio.sleep(min(max(wait, self.tick_s), 0.5))
