"""The simulated building's GPIO side: a scripted day played on gpiozero's own mock pins.

`DayScript` is pure: at a simulated time (seconds since the start) it says how full each bin is, whether each
bin's sensor answers, which lamps shine and which buttons are held. `MockBuilding` applies that to a MockFactory
the way the hardware would: a MockTriggerPin's echo time for a bin's distance, a MockChargingPin's charge time for
an LDR, drive_high/drive_low for digital light modules and buttons. Everything above the pins runs unchanged.

The script starts shortly after the lights come on. In its first 600 simulated seconds (one minute of
`make demo` at speed 10) the first bin fills past 80 % and is emptied, the first light fails and comes back, the
emergency button is pressed and another button is held long; then the second bin's sensor goes dead for a while.
The incidents repeat every simulated day; bins keep filling and are emptied at 95 %.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gpiozero.pins.mock import MockChargingPin, MockFactory, MockPin, MockTriggerPin

from edge.clock import ScaledClock
from edge.config import BinConfig, GpioConfig, SiteConfig
from sensors.lights import judged, must_be_lit

DAY_S = 86400.0
SPEED_OF_SOUND = 343.26  # m/s, as gpiozero's DistanceSensor reckons
LIT_CHARGE_S = 0.0005  # an LDR in the light charges the capacitor at once
DARK_CHARGE_S = 1.0  # in the dark it does not charge within any charge_time_limit
GLITCH_SHARE = 0.03  # echoes off something else (a hand, the open lid): 3.5 m, which the median must ignore
EMPTIED_AT_PCT, REFILL_FROM_PCT = 95.0, 3.0

# the incidents, in simulated seconds after the start of each day's script
FIRST_BIN = (62.0, 0.08)  # starts at 62 %, +0.08 %/s: past 80 % after ~225 s
FIRST_BIN_EMPTIED = 420.0
LIGHT_DARK = (60.0, 300.0)
# A short press, well under a long press (2 s): the script is sampled every 20 ms of real time, 0.6 simulated s at
# speed 30, so a press of 1.5 s could be seen as up to 2.1 s and count as long.
EMERGENCY_PRESS = (100.0, 101.0)
LONG_PRESS = (200.0, 205.0)
SENSOR_DEAD = (480.0, 900.0)


@dataclass(frozen=True)
class Moment:
    levels: dict[str, float]  # bin -> fill %
    answering: dict[str, bool]  # bin -> its sensor echoes
    lit: dict[str, bool]  # light -> the lamp shines
    held: dict[str, bool]  # button -> pressed


def demo_config(site: SiteConfig) -> GpioConfig:
    """The demo building's GPIO, used in simulation when the config has no [gpio]. Short waits: a demo minute."""
    sun = site.latitude is not None and site.longitude is not None
    lit_from, lit_until = ("sunset", "sunrise") if sun else ("18:00", "06:00")
    bin_ = {"empty_depth_m": 1.0, "full_distance_m": 0.15, "full_after_s": 60, "emptied_after_s": 30,
            "interval_s": 30, "fault_after_s": 120}
    light = {"lit_from": lit_from, "lit_until": lit_until, "debounce_s": 5, "fault_after_s": 120}
    return GpioConfig.model_validate({
        "bins": [{"name": "bin-1", "trigger_pin": 23, "echo_pin": 24, **bin_},
                 {"name": "bin-2", "trigger_pin": 25, "echo_pin": 12, **bin_}],
        "lights": [{"name": "corridor-1", "pin": 5, "sensor": "ldr", **light},
                   {"name": "street-1", "pin": 6, "sensor": "digital", "light_when": "low", **light}],
        "buttons": [{"name": "lobby-sos", "pin": 17, "emergency": True},
                    {"name": "lift-call", "pin": 27}],
        "outputs": [{"name": "alert-lamp", "pin": 22, "role": "alert", "blink_s": 0.5},
                    {"name": "gate", "pin": 26, "role": "relay"}],
    })


def evening(cfg: GpioConfig, site: SiteConfig, now: datetime) -> datetime:
    """Five minutes after the first light is judged on today's date (local; a light on the sun's hours once it is
    dark outside), where the script starts: its light fails and comes back within the first 600 s."""
    noon = now.astimezone(ZoneInfo(site.timezone)).replace(hour=12, minute=0, second=0, microsecond=0)
    if not cfg.lights:
        return noon + timedelta(hours=7)
    for minute in range(24 * 60):
        t = noon + timedelta(minutes=minute)
        if judged(cfg.lights[0], t, site):
            return t + timedelta(minutes=5)
    return noon


class DayScript:
    """What the building does at each simulated second; roles go by order in the config (see module doc)."""

    def __init__(self, cfg: GpioConfig, site: SiteConfig, start: datetime) -> None:
        self.cfg, self.site, self.start = cfg, site, start
        emergency = [b.name for b in cfg.buttons if b.emergency] or [b.name for b in cfg.buttons[:1]]
        others = [b.name for b in cfg.buttons if b.name not in emergency]
        self.presses = {name: [] for name in (b.name for b in cfg.buttons)}
        for name in emergency[:1]:
            self.presses[name].append(EMERGENCY_PRESS)
        for name in others[:1]:
            self.presses[name].append(LONG_PRESS)

    def at(self, t: float) -> Moment:
        day_t = t % DAY_S
        wall = self.start + timedelta(seconds=t)
        return Moment(
            levels={b.name: self._level(i, t) for i, b in enumerate(self.cfg.bins)},
            answering={b.name: not (i == 1 and _within(day_t, SENSOR_DEAD)) for i, b in enumerate(self.cfg.bins)},
            lit={li.name: must_be_lit(li, wall, self.site) and not (i == 0 and _within(day_t, LIGHT_DARK))
                 for i, li in enumerate(self.cfg.lights)},
            held={name: any(_within(day_t, p) for p in spans) for name, spans in self.presses.items()},
        )

    def _level(self, i: int, t: float) -> float:
        if i == 0 and t < FIRST_BIN_EMPTIED:
            return min(100.0, FIRST_BIN[0] + FIRST_BIN[1] * t)
        if i == 0:
            return _filling(REFILL_FROM_PCT, 0.004, t - FIRST_BIN_EMPTIED)
        return _filling(15.0 + 10.0 * i, 0.003, t)


def _filling(start: float, rate: float, t: float) -> float:
    """A bin filling at `rate` %/s that sanitation empties when it reaches 95 %."""
    level = start + rate * t
    if level < EMPTIED_AT_PCT:
        return level
    return REFILL_FROM_PCT + (level - EMPTIED_AT_PCT) % (EMPTIED_AT_PCT - REFILL_FROM_PCT)


def _within(t: float, span: tuple[float, float]) -> bool:
    return span[0] <= t < span[1]


def echo_time(distance_m: float) -> float:
    """How long an HC-SR04 holds its echo pin high for a target this far away."""
    return 2.0 * distance_m / SPEED_OF_SOUND


class MockBuilding:
    """Plays a DayScript on a MockFactory's pins. Call prepare() before the devices are opened."""

    def __init__(self, cfg: GpioConfig, factory: MockFactory, script: DayScript, clock: ScaledClock,
                 seed: int = 7) -> None:
        self.cfg, self.factory, self.script, self.clock = cfg, factory, script, clock
        self._rng = random.Random(seed)
        self._echo: dict[str, MockPin] = {}
        self._unplugged: dict[str, MockPin] = {}
        self._held: dict[str, bool] = {}

    def prepare(self) -> None:
        """Make each pin the kind of mock the hardware needs (a pin, once made, keeps its class)."""
        first = self.script.at(0.0)
        for b in self.cfg.bins:
            echo = self.factory.pin(b.echo_pin)
            self._echo[b.name] = echo
            self._unplugged[b.name] = MockPin(self.factory, echo.info)  # a loose wire: never the sensor's pin
            self.factory.pin(b.trigger_pin, pin_class=MockTriggerPin, echo_pin=echo,
                             echo_time=echo_time(_distance(b, first.levels[b.name])))
        for li in self.cfg.lights:
            if li.sensor == "ldr":
                self.factory.pin(li.pin, pin_class=MockChargingPin, charge_time=LIT_CHARGE_S)

    def apply_start(self) -> None:
        self.apply(self.script.at(0.0))

    def apply(self, m: Moment) -> None:
        for b in self.cfg.bins:
            trigger = self.factory.pin(b.trigger_pin)
            trigger.echo_pin = self._echo[b.name] if m.answering[b.name] else self._unplugged[b.name]
            if not m.answering[b.name]:  # unplugged mid-echo, the pulse ends on the loose wire: the pin stayed high
                self._echo[b.name].drive_low()
            distance = _distance(b, m.levels[b.name]) + self._rng.gauss(0, 0.005)
            if self._rng.random() < GLITCH_SHARE:
                distance = 3.5
            trigger.echo_time = echo_time(max(distance, 0.03))
        for li in self.cfg.lights:
            pin = self.factory.pin(li.pin)
            if li.sensor == "ldr":
                pin.charge_time = LIT_CHARGE_S if m.lit[li.name] else DARK_CHARGE_S
            elif (m.lit[li.name]) == (li.light_when == "high"):
                pin.drive_high()
            else:
                pin.drive_low()
        for bu in self.cfg.buttons:
            held = m.held[bu.name]
            if held != self._held.get(bu.name, False):
                pin = self.factory.pin(bu.pin)
                if held == bu.pull_up:  # pressed pulls a pulled-up pin to ground
                    pin.drive_low()
                else:
                    pin.drive_high()
                self._held[bu.name] = held

    async def run(self, tick_s: float = 0.02) -> None:
        """The supervised simulation task: follow the script in simulated time."""
        ticks = 0
        while True:
            self.apply(self.script.at(self.clock.elapsed()))
            ticks += 1
            if ticks % 500 == 0:
                self.forget_pin_history()
            await asyncio.sleep(tick_s)

    def forget_pin_history(self) -> None:
        """gpiozero's mock pins keep every state change (for tests' assert_states); a simulation that runs for
        days must drop them, or the echoes of the bin sensors alone grow memory by about 0.5 MB a minute."""
        for pin in list(self.factory.pins.values()):
            if isinstance(pin, MockPin):
                pin.clear_states()
        for pin in self._unplugged.values():
            pin.clear_states()


def _distance(b: BinConfig, level_pct: float) -> float:
    return b.empty_depth_m - level_pct / 100.0 * (b.empty_depth_m - b.full_distance_m)
