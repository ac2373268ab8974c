"""The GPIO subsystem: bins, lights, buttons and outputs (sensors/gpio.py) tied to their trackers, the store and
the clock. Also the alert lamp that follows open critical alerts, and the relay API (the car-park gate).

Decisions are the pure trackers' (sensors/bins.py, lights.py, buttons.py); this module only moves readings to
them and their events to the store, on a schedule, as one supervised task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.alerts import RESOLVES, Alert
from edge.bus import EventBus, Subscription
from edge.clock import Clock, ScaledClock, parse_rfc3339
from edge.config import Config, GpioConfig, SiteConfig
from edge.errors import ConfigError, StoreFullError
from edge.events import Event, EventSink, NewEvent, Priority
from edge.reader import EventReader
from sensors import gpio_sim
from sensors.bins import BinTracker
from sensors.buttons import ButtonTracker
from sensors.errors import GpioError, PinClaimError
from sensors.gpio import GpioDevices, PinRow, factory_kind, make_pin_factory, pin_report
from sensors.lights import LightTracker, judged

log = logging.getLogger(__name__)

ALERT_RECHECK_S = 30.0  # the lamp re-reads open alerts at least this often (in case the bus dropped a batch)
BUTTON_POLL_S = 0.02  # while a press is being debounced or timed
MAX_PULSE_S = 60.0
# the trackers' alerts taken up at start while not closed (acknowledged ones too: a new event would open a second)
RESUMED = ("bin.full", "bin.sensor_fault", "light.fault")


def lamp_on(alerts: Iterable[Alert]) -> bool:
    """The alert lamp shows while any critical alert is open (not yet acknowledged or resolved)."""
    return any(a.priority is Priority.CRITICAL and a.state == "open" for a in alerts)


def touches_alerts(events: Sequence[Event]) -> bool:
    """Whether a committed batch may have opened, acknowledged or resolved a critical alert."""
    return any(e.priority is Priority.CRITICAL or e.kind == "alert.acked" or e.kind in RESOLVES for e in events)


@dataclass
class Alerts:
    """Where the lamp learns about alerts: the store's alert table, and the bus for when to look again. The
    trackers also take up their own alerts from the table at start."""

    store: EventReader
    bus: EventBus | None = None


class GpioSubsystem:
    """Every configured GPIO device and its tracker; run() is the supervised task."""

    def __init__(self, cfg: GpioConfig, site: SiteConfig, devices: GpioDevices, emit: EventSink, clock: Clock,
                 *, factory: Factory, factory_kind: str, alerts: Alerts | None = None) -> None:
        self.cfg, self.site, self.devices = cfg, site, devices
        self._emit_to_store, self.clock, self.alerts = emit, clock, alerts
        self.factory, self.factory_kind = factory, factory_kind
        now = clock.monotonic()
        self.bins = {n: BinTracker(d.cfg, now) for n, d in devices.bins.items()}
        self.lights = {n: LightTracker(d.cfg, now) for n, d in devices.lights.items()}
        self.buttons = {n: ButtonTracker(d.cfg, now) for n, d in devices.buttons.items()}
        self.alert_lamp = False
        self.emitted = 0
        self._closed = False

    # ---- the supervised task ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch everything until cancelled (shutdown), then leave every output in its safe state (off)."""
        try:
            await self._resume()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(asyncio.Event().wait())  # relays alone still need the task (and its close)
                tg.create_task(self._watch_bins())
                tg.create_task(self._watch_lights())
                if self.buttons:
                    tg.create_task(self._watch_buttons())
                if self.alerts and self.devices.alert_outputs():
                    tg.create_task(self._follow_alerts(self.alerts))
        except asyncio.CancelledError:
            self.close()
            raise

    async def _resume(self) -> None:
        """Trackers start empty, but an alert open when the gateway stopped must still be closed if its condition
        cleared meanwhile (the bin emptied, the lamp repaired), and not raised twice if it did not."""
        if self.alerts is None or not (self.bins or self.lights):
            return
        rows = await asyncio.to_thread(self.alerts.store.unresolved_alerts, RESUMED)
        now, wall = self.clock.monotonic(), self.clock.utcnow()
        since = {(kind, source): now - max(0.0, (wall - parse_rfc3339(opened)).total_seconds())
                 for kind, source, opened in rows}
        for name, b in self.bins.items():
            b.resume(full=("bin.full", name) in since, fault_since=since.get(("bin.sensor_fault", name)))
        for name, li in self.lights.items():
            li.resume(fault_since=since.get(("light.fault", name)))

    async def _watch_bins(self) -> None:
        while self.bins:
            now = self.clock.monotonic()
            for name, sensor in self.devices.bins.items():
                await self._emit_all(self.bins[name].feed(sensor.drain(), now))
            await asyncio.sleep(self.cfg.poll_s)

    async def _watch_lights(self) -> None:
        while self.lights:
            now, wall = self.clock.monotonic(), self.clock.utcnow()
            for name, light in self.devices.lights.items():
                expected = judged(light.cfg, wall, self.site)
                await self._emit_all(self.lights[name].feed(light.is_lit(), expected, now))
            await asyncio.sleep(self.cfg.poll_s)

    async def _watch_buttons(self) -> None:
        """Pin changes arrive from gpiozero's threads, stamped at once; the trackers debounce and time them."""
        loop = asyncio.get_running_loop()
        edges: asyncio.Queue[tuple[str, bool, float]] = asyncio.Queue()

        def on_change(name: str, pressed: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed at shutdown
                loop.call_soon_threadsafe(edges.put_nowait, (name, pressed, self.clock.monotonic()))

        for name, button in self.devices.buttons.items():
            button.on_change(lambda pressed, name=name: on_change(name, pressed))
        while True:
            pending = any(t.deadline() is not None for t in self.buttons.values())
            try:
                name, pressed, at = await asyncio.wait_for(edges.get(), BUTTON_POLL_S if pending else None)
                await self._emit_all(self.buttons[name].edge(pressed, at))
            except TimeoutError:
                pass
            now = self.clock.monotonic()
            for tracker in self.buttons.values():
                await self._emit_all(tracker.tick(now))

    async def _follow_alerts(self, alerts: Alerts) -> None:
        sub = alerts.bus.subscribe() if alerts.bus else None
        try:
            while True:
                open_alerts = await asyncio.to_thread(alerts.store.alerts, state="open", limit=1000)
                self.set_alert_outputs(lamp_on(open_alerts))
                await _until_alerts_change(sub, ALERT_RECHECK_S)
        finally:
            if sub:
                sub.close()

    async def _emit_all(self, events: list[NewEvent]) -> None:
        for ev in events:
            try:
                await self._emit_to_store(ev)
                self.emitted += 1
            except StoreFullError as e:  # only normal/low are refused; the next reading will be along
                log.warning("gpio: %s from %s not stored: %s", ev.kind, ev.source, e)

    # ---- outputs ------------------------------------------------------------------------------------------

    def set_alert_outputs(self, on: bool) -> None:
        if on != self.alert_lamp:
            log.info("gpio: alert outputs %s", "on" if on else "off")
        self.alert_lamp = on
        for out in self.devices.alert_outputs():
            out.set(on)

    async def pulse(self, relay: str, seconds: float = 1.0, *, reason: str = "") -> None:
        """Close the named relay for `seconds` (e.g. open the car-park barrier), recorded as `relay.pulsed`.

        Returns at once; gpiozero opens the relay again after `seconds`. Raises UnknownDeviceError for a name
        that is not a relay in [gpio] outputs, ValueError for a duration outside (0, 60] s.
        """
        if not 0 < seconds <= MAX_PULSE_S:
            raise ValueError(f"pulse of {seconds} s: allowed 0 < seconds <= {MAX_PULSE_S:g}")
        self.devices.relay(relay).pulse(seconds)
        await self._emit_all([NewEvent("relay.pulsed", relay, {"relay": relay, "seconds": seconds,
                                                                "reason": reason})])

    def set_relay(self, relay: str, on: bool) -> None:
        """Hold the named relay closed (on) or open (off)."""
        self.devices.relay(relay).set(on)

    # ---- state --------------------------------------------------------------------------------------------

    def pins(self) -> list[PinRow]:
        return pin_report(self.devices)

    def health(self) -> dict[str, Any]:
        """For /healthz: device faults are alerts (events), not a degraded gateway, so ok stays true."""
        return {
            "ok": not self._closed,
            "factory": self.factory_kind,
            "bins": {n: {"level_pct": t.level, "full": t.full, "fault": t.faulted} for n, t in self.bins.items()},
            "lights": {n: {"lit": t.lit, "expected_lit": t.expected, "fault": t.faulted}
                       for n, t in self.lights.items()},
            "buttons": sorted(self.buttons),
            "alert_outputs_on": self.alert_lamp,
            "events": self.emitted,
            "pins": [] if self._closed else [row.to_dict() for row in self.pins()],  # for `edge doctor`
        }

    def close(self) -> None:
        """Safe state: every output off, every pin released. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.devices.close()
        self.factory.close()


async def _until_alerts_change(sub: Subscription | None, timeout: float) -> None:
    """Return when a committed batch may have changed the critical alerts, or after `timeout`."""
    if sub is None:
        await asyncio.sleep(timeout)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (left := deadline - loop.time()) > 0:
        try:
            batch = await asyncio.wait_for(sub.get(), left)
        except TimeoutError:
            return
        if touches_alerts(batch):
            return


class GpioCollector(Collector):
    """Prometheus: bin levels and device faults, read at scrape time."""

    def __init__(self, subsystem: GpioSubsystem) -> None:
        self._gpio = subsystem

    def collect(self) -> Iterable[Metric]:
        levels = GaugeMetricFamily("edge_bin_level_pct", "Bin fill level (median of recent echoes)", labels=["bin"])
        faults = GaugeMetricFamily("edge_gpio_device_fault", "1 while a bin sensor or a light is faulty",
                                   labels=["kind", "device"])
        for name, b in sorted(self._gpio.bins.items()):
            if b.level is not None:
                levels.add_metric([name], b.level)
            faults.add_metric(["bin", name], float(b.faulted))
        for name, li in sorted(self._gpio.lights.items()):
            faults.add_metric(["light", name], float(li.faulted))
        yield levels
        yield faults
        yield GaugeMetricFamily("edge_gpio_alert_outputs_on", "1 while the alert lamp/buzzer is on",
                                value=float(self._gpio.alert_lamp))


def gpio_config(config: Config) -> GpioConfig | None:
    """The [gpio] section; in simulation without one, the demo building's layout; None when there is no GPIO."""
    cfg = config.gpio
    if cfg is None and config.simulate.enabled:
        cfg = gpio_sim.demo_config(config.site)
    if cfg is None or not cfg.claims():
        return None
    return cfg


def build(config: Config, emit: EventSink, clock: Clock, *, alerts: Alerts | None = None,
          source: str = "config") -> tuple[GpioSubsystem, gpio_sim.MockBuilding | None] | None:
    """Open every configured device on the configured pin factory (in simulation: mock pins driven by the
    scripted day, on a clock running at [simulate] speed). None when nothing is configured.

    A pin that cannot be claimed or a GPIO chip that cannot be opened raises ConfigError naming the key.
    """
    cfg = gpio_config(config)
    if cfg is None:
        return None
    sim = config.simulate
    kind = factory_kind(cfg, simulate=sim.enabled)
    try:
        factory = make_pin_factory(kind, cfg.chip)
    except GpioError as e:
        raise ConfigError([f"{source}: key {e}"]) from None
    building = None
    if isinstance(factory, MockFactory) and sim.enabled:
        clock = ScaledClock(sim.speed, start=gpio_sim.evening(cfg, config.site, clock.utcnow()), base=clock)
        building = _building(config, cfg, factory, clock)
    try:
        devices = GpioDevices.open(cfg, factory)
    except PinClaimError as e:
        factory.close()
        raise ConfigError([f"{source}: key {e}"]) from None
    subsystem = GpioSubsystem(cfg, config.site, devices, emit, clock, factory=factory, factory_kind=kind,
                              alerts=alerts)
    return subsystem, building


def _building(config: Config, cfg: GpioConfig, factory: MockFactory, clock: ScaledClock) -> gpio_sim.MockBuilding:
    script = gpio_sim.DayScript(cfg, config.site, clock.utcnow())
    building = gpio_sim.MockBuilding(cfg, factory, script, clock, seed=config.simulate.seed)
    building.prepare()
    return building


@dataclass(frozen=True)
class PinsReport:
    """Every configured pin and its reading, and where they were read."""

    source: str  # "gateway": from the running gateway, which holds the pins; "direct": opened here
    factory: str  # lgpio | mock
    pins: list[dict[str, Any]]  # PinRow.to_dict(): pin, device, kind, role, reading, value


def read_pins(config: Config, *, timeout: float = 3.0, direct: bool = False) -> PinsReport | None:
    """What `edge doctor` and `edge gpio pins` show. From the running gateway when one answers (it holds the
    pins); otherwise the pins are opened here for a moment, outputs kept off. None when no GPIO is configured.
    Raises ConfigError when the pins cannot be opened (in use by another program, no GPIO chip)."""
    cfg = gpio_config(config)
    if cfg is None:
        return None
    if not direct and (found := _from_gateway(config, timeout)):
        return found
    kind = factory_kind(cfg, simulate=config.simulate.enabled)
    try:
        factory = make_pin_factory(kind, cfg.chip)
    except GpioError as e:
        raise ConfigError([f"key {e}"]) from None
    if isinstance(factory, MockFactory) and config.simulate.enabled:
        clock = ScaledClock(config.simulate.speed, start=gpio_sim.evening(cfg, config.site, Clock().utcnow()))
        _building(config, cfg, factory, clock).apply_start()  # the script's first moment: readings mean something
    try:
        devices = GpioDevices.open(cfg, factory)
    except PinClaimError as e:
        factory.close()
        raise ConfigError([f"key {e}"]) from None
    try:
        rows = pin_report(devices, wait_s=min(timeout, 2.0))
    finally:
        devices.close()
        factory.close()
    return PinsReport("direct", kind, [r.to_dict() for r in rows])


def _from_gateway(config: Config, timeout: float) -> PinsReport | None:
    """GET /api/v1/gpio/pins from the gateway this config runs; None when none answers or it has no GPIO."""
    host = config.api.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://{f'[{host}]' if ':' in host else host}:{config.api.port}/api/v1/gpio/pins"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {config.api.token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy: it is this host
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = json.load(resp)
        return PinsReport("gateway", str(body["factory"]), list(body["pins"]))
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return None
