"""GPIO hardware through gpiozero: the pin factory (chosen here and nowhere else), the devices, the pin report.

Thin adapters: they read and drive pins and hand raw readings to the pure trackers in bins.py, lights.py and
buttons.py. Every device gets its `pin_factory` explicitly; nothing sets gpiozero's class-level default.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from gpiozero import LED, Button, DigitalInputDevice, DigitalOutputDevice, DistanceSensor, LightSensor
from gpiozero.exc import DistanceSensorNoEcho, PinUnknownPi, PWMSoftwareFallback
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory

from edge.config import BinConfig, ButtonConfig, GpioConfig, LightConfig, OutputConfig
from sensors import bins
from sensors.errors import GpioError, PinClaimError, UnknownDeviceError

FactoryKind = Literal["lgpio", "mock"]
T = TypeVar("T")



def factory_kind(cfg: GpioConfig, *, simulate: bool) -> FactoryKind:
    """The simulated building always runs on mock pins; otherwise lgpio unless the config says mock."""
    if simulate:
        return "mock"
    return "lgpio" if cfg.factory == "auto" else cfg.factory


def make_pin_factory(kind: FactoryKind, chip: int | None = None) -> Factory:
    """The one place a pin factory is made. Errors name the config key and what to do."""
    if kind == "mock":
        return MockFactory()
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError:
        raise GpioError("gpio.factory: lgpio is not installed; on a Raspberry Pi install the `pi` extra "
                        "(pip install 'edge-gateway[pi]'), elsewhere set [simulate] enabled = true") from None
    try:
        return LGPIOFactory(chip=chip)
    except PinUnknownPi as e:
        raise GpioError(f"gpio.factory: this is not a Raspberry Pi ({e}); set gpio.chip to use another board's "
                        "GPIO chip, or [simulate] enabled = true") from None
    except Exception as e:  # lgpio.error: the chip device is missing or not ours
        path = f"/dev/gpiochip{chip if chip is not None else 0}"
        raise GpioError(f"gpio.chip: cannot open {path} ({e}); is this a Raspberry Pi, is the gateway's user "
                        "in the gpio group, and is gpio.chip right?") from None


def _claim(key: str, pins: str, make: Callable[[], T]) -> T:
    """Build a gpiozero device; any failure to get its pins becomes a PinClaimError naming key and pins."""
    try:
        return make()
    except Exception as e:  # GPIOPinInUse, PinInvalidPin, PinFixedPull, lgpio.error('GPIO busy') ...
        raise PinClaimError(key, f"{pins} cannot be claimed: {type(e).__name__}: {e}") from None


class _EchoRecorder(DistanceSensor):
    """gpiozero's DistanceSensor, also keeping every raw reading (a missed echo as None) for BinTracker.

    DistanceSensor's own median drops missed echoes silently, so a dead sensor would repeat its last distance.
    """

    def __init__(self, echo: int, trigger: int, *, pin_factory: Factory) -> None:
        # Missing echoes are counted by BinTracker (and become bin.sensor_fault); gpiozero warns on every one.
        warnings.filterwarnings("ignore", category=DistanceSensorNoEcho)
        # It also suggests the pigpio daemon; lgpio's edge timestamps are good enough for centimetres.
        warnings.filterwarnings("ignore", message="For more accurate readings", category=PWMSoftwareFallback)
        self._raw: deque[float | None] = deque(maxlen=512)  # for BinTracker, drained
        self._recent: deque[float | None] = deque(maxlen=9)  # for the pin report, kept
        super().__init__(echo=echo, trigger=trigger, queue_len=1, partial=True, max_distance=bins.MAX_RANGE_M,
                         pin_factory=pin_factory)

    def close(self) -> None:
        # gpiozero's DistanceSensor closes its trigger pin before it stops the thread that reads through it, which
        # then fails with a traceback at shutdown: stop that thread first (stopping it again later is harmless).
        queue = getattr(self, "_queue", None)
        if queue is not None:
            queue.stop()
        super().close()

    def _read(self) -> float | None:
        value = super()._read()
        distance = None if value is None else value * self.max_distance
        self._raw.append(distance)
        self._recent.append(distance)
        return value


class BinSensor:
    """A bin's ultrasonic sensor: raw distances in metres (None for no echo) since the last drain()."""

    def __init__(self, cfg: BinConfig, factory: Factory, key: str) -> None:
        self.cfg = cfg
        pins = f"GPIO{cfg.trigger_pin} (trigger) / GPIO{cfg.echo_pin} (echo)"
        self.device = _claim(key, pins, lambda: _EchoRecorder(cfg.echo_pin, cfg.trigger_pin, pin_factory=factory))

    def drain(self) -> list[float | None]:
        raw = self.device._raw
        return [raw.popleft() for _ in range(len(raw))]

    @property
    def last(self) -> float | None:
        """The newest raw reading (None: no echo, or none yet)."""
        recent = self.device._recent
        return recent[-1] if recent else None

    def recent_distance(self) -> float | None:
        """Median of the last few echoes (None: no echo among them, or none yet)."""
        echoes = [d for d in list(self.device._recent) if d is not None]
        return statistics.median(echoes) if echoes else None

    def wait_readings(self, timeout: float) -> None:
        """Until the recent window is full (a sensor just opened) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while len(self.device._recent) < self.device._recent.maxlen and time.monotonic() < deadline:
            time.sleep(0.02)

    def report(self) -> list[PinRow]:
        d = self.recent_distance()
        text = "no echo"
        if d is not None:
            text = f"{d:.3f} m ({bins.judge(d, self.cfg)}, level {bins.level_pct(d, self.cfg):.0f} %)"
        return [PinRow(self.cfg.trigger_pin, self.cfg.name, "bin", "trigger", "output, pulses"),
                PinRow(self.cfg.echo_pin, self.cfg.name, "bin", "echo", text, d)]

    def close(self) -> None:
        self.device.close()


class LightInput:
    """A light sensor: an LDR with a capacitor (gpiozero LightSensor) or a digital module's output."""

    def __init__(self, cfg: LightConfig, factory: Factory, key: str) -> None:
        self.cfg = cfg
        if cfg.sensor == "ldr":
            self.device: LightSensor | DigitalInputDevice = _claim(key, f"GPIO{cfg.pin}", lambda: LightSensor(
                cfg.pin, queue_len=5, charge_time_limit=cfg.charge_time_limit_s, threshold=cfg.threshold,
                partial=True, pin_factory=factory))
        else:
            self.device = _claim(key, f"GPIO{cfg.pin}", lambda: DigitalInputDevice(
                cfg.pin, pull_up=None, active_state=cfg.light_when == "high", pin_factory=factory))

    def is_lit(self) -> bool:
        return bool(self.device.is_active)

    def report(self) -> list[PinRow]:
        lit = "lit" if self.is_lit() else "dark"
        if isinstance(self.device, LightSensor):
            value = float(self.device.value)
            return [PinRow(self.cfg.pin, self.cfg.name, "light", "ldr", f"{lit} (value {value:.2f})", value)]
        level = "high" if self.device.pin.state else "low"
        return [PinRow(self.cfg.pin, self.cfg.name, "light", "digital", f"{lit} (pin {level})", self.is_lit())]

    def close(self) -> None:
        self.device.close()


class ButtonInput:
    """A push button; on_change(pressed) is called from gpiozero's thread on every (undebounced) change."""

    def __init__(self, cfg: ButtonConfig, factory: Factory, key: str) -> None:
        self.cfg = cfg
        # No bounce_time: ButtonTracker debounces, the same way on every pin factory (MockPin ignores bounce).
        self.device = _claim(key, f"GPIO{cfg.pin}", lambda: Button(
            cfg.pin, pull_up=cfg.pull_up, bounce_time=None, pin_factory=factory))

    def on_change(self, callback: Callable[[bool], None]) -> None:
        self.device.when_pressed = lambda: callback(True)
        self.device.when_released = lambda: callback(False)

    def report(self) -> list[PinRow]:
        pressed = bool(self.device.is_pressed)
        level = "high" if self.device.pin.state else "low"
        text = f"{'pressed' if pressed else 'released'} (pin {level})"
        return [PinRow(self.cfg.pin, self.cfg.name, "button", "emergency" if self.cfg.emergency else "call",
                       text, pressed)]

    def close(self) -> None:
        self.device.close()


class Output:
    """An alert lamp/buzzer (gpiozero LED) or a relay (DigitalOutputDevice). Off is the safe state."""

    def __init__(self, cfg: OutputConfig, factory: Factory, key: str) -> None:
        self.cfg = cfg
        self.on: bool | None = False  # None while a pulse runs: the next set() must act, whatever it asks
        kind = LED if cfg.role == "alert" else DigitalOutputDevice
        self.device = _claim(key, f"GPIO{cfg.pin}", lambda: kind(
            cfg.pin, active_high=cfg.active_high, initial_value=False, pin_factory=factory))

    def set(self, on: bool) -> None:
        """Steady on (or blinking, for an alert with blink_s) or off; nothing happens if already so. During a
        pulse it takes effect at once and ends the pulse (gpiozero's on() and off() stop the background blink)."""
        if on == self.on:
            return
        self.on = on
        if on and self.cfg.blink_s:
            self.device.blink(on_time=self.cfg.blink_s, off_time=self.cfg.blink_s, background=True)
        elif on:
            self.device.on()
        else:
            self.device.off()

    def pulse(self, seconds: float) -> None:
        """On for `seconds`, then off, in gpiozero's background thread (a second pulse restarts the first). A relay
        held on by set(True) stays on: the pulse's end would release a barrier that is meant to stay open."""
        if self.on:
            return
        self.on = None
        self.device.blink(on_time=seconds, off_time=0, n=1, background=True)

    @property
    def active(self) -> bool:
        return bool(self.device.value)

    def report(self) -> list[PinRow]:
        return [PinRow(self.cfg.pin, self.cfg.name, "output", self.cfg.role, "on" if self.active else "off",
                       self.active)]

    def close(self) -> None:
        self.device.off()  # the safe state, before the pin is let go
        self.device.close()


@dataclass(frozen=True)
class PinRow:
    """One configured pin and what it reads now, for installers checking the wiring."""

    pin: int
    device: str
    kind: str  # bin | light | button | output
    role: str  # trigger, echo, ldr, digital, emergency, call, alert, relay
    reading: str
    value: float | bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GpioDevices:
    """Every configured device, opened on one pin factory. close() leaves every output off."""

    factory: Factory
    bins: dict[str, BinSensor] = field(default_factory=dict)
    lights: dict[str, LightInput] = field(default_factory=dict)
    buttons: dict[str, ButtonInput] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)

    @classmethod
    def open(cls, cfg: GpioConfig, factory: Factory) -> GpioDevices:
        """Claim every configured pin; if one cannot be claimed, release those already claimed and raise."""
        devices = cls(factory)
        try:
            for i, o in enumerate(cfg.outputs):  # outputs first: they go to their safe state at once
                devices.outputs[o.name] = Output(o, factory, f"gpio.outputs.{i}.pin")
            for i, b in enumerate(cfg.bins):
                devices.bins[b.name] = BinSensor(b, factory, f"gpio.bins.{i}")
            for i, li in enumerate(cfg.lights):
                devices.lights[li.name] = LightInput(li, factory, f"gpio.lights.{i}.pin")
            for i, bu in enumerate(cfg.buttons):
                devices.buttons[bu.name] = ButtonInput(bu, factory, f"gpio.buttons.{i}.pin")
        except BaseException:
            devices.close()
            raise
        return devices

    def relay(self, name: str) -> Output:
        out = self.outputs.get(name)
        if out is None or out.cfg.role != "relay":
            known = ", ".join(n for n, o in self.outputs.items() if o.cfg.role == "relay") or "none"
            raise UnknownDeviceError(f"no relay named {name!r} in [gpio] outputs (relays: {known})")
        return out

    def alert_outputs(self) -> list[Output]:
        return [o for o in self.outputs.values() if o.cfg.role == "alert"]

    def close(self) -> None:
        """Outputs off and released first, then the inputs. Safe to call twice."""
        for group in (self.outputs, self.buttons, self.lights, self.bins):
            for dev in group.values():
                dev.close()
            group.clear()


def pin_report(devices: GpioDevices, *, wait_s: float = 0.0) -> list[PinRow]:
    """Every configured pin with its current reading, in pin order. `wait_s`: time a just-opened distance
    sensor may take for its first echo (0 when the gateway has been running)."""
    for b in devices.bins.values():
        if wait_s:
            b.wait_readings(wait_s)
    rows: list[PinRow] = []
    for group in (devices.bins, devices.lights, devices.buttons, devices.outputs):
        for dev in group.values():
            rows += dev.report()
    return sorted(rows, key=lambda r: r.pin)
