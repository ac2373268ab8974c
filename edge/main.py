"""Wiring: the one place that builds the gateway's objects and connects them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn

from edge import ble, gpio, selfcheck
from edge.api import create_app
from edge.api.deps import Services
from edge.bus import EventBus
from edge.cameras import gate_config, parking_config
from edge.clock import Clock
from edge.config import BleConfig, Config, RuntimeEnv, WristbandConfig
from edge.errors import ConfigError, StoreError
from edge.metrics import Metrics
from edge.notify import Notifier
from edge.settings import PushedSettings
from edge.store import EventStore
from edge.supervisor import Supervisor
from edge.web.feed import KioskFeed
from edge.whitelist import SECTION as WHITELIST
from edge.whitelist import whitelist_section
from sync.client import UpstreamClient
from sync.downlink import Applier, Downlink
from sync.outbox import Outbox
from sync.state import SyncState
from sync.status import Cached, SyncCollector, health, snapshot
from sync.timesync import ClockProbe, ClockWatch, system_clock_synchronised

log = logging.getLogger(__name__)

MAINTAIN_EVERY = 60.0
HEALTH_EVERY = 300.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the gateway handles SIGTERM and stops the server itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """Bind the API socket before anything starts, so a taken port is a clear error, not a crash loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def run(config: Config, env: RuntimeEnv, *, stop: asyncio.Event | None = None) -> int:
    """Run the gateway until SIGTERM/SIGINT (or `stop` is set). Returns the exit status."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier, clock = Notifier(env.notify_socket), Clock()
    try:
        sock = bind(config.api.host, config.api.port)
    except OSError as e:
        log.error("%s", e)
        return 1
    st = config.storage
    try:
        store = await asyncio.to_thread(
            EventStore.open, st.path, device_id=config.device_id, building_id=config.building_id,
            max_mb=st.max_mb, retention_days=st.retention_days, clock=clock,
        )
    except StoreError as e:  # locked by another gateway, unreadable, a full disk: said plainly, no traceback
        log.error("%s", e)
        sock.close()
        return 1
    bus = EventBus(loop)
    store.add_listener(bus.publish_threadsafe)
    supervisor = Supervisor(clock=clock)
    svc = Services(config, store, supervisor, Metrics(store, supervisor), bus, clock=clock)
    svc.kiosk = KioskFeed(store, bus, config.kiosk, building_id=config.building_id, tz=config.site.timezone,
                          clock=clock)
    api = _Api(create_app(svc), sock, config.api.host, config.api.port)
    try:
        supervisor.start("api", api.serve)
        supervisor.start("kiosk", svc.kiosk.run, probe=svc.kiosk.health, critical=False)
        svc.metrics.gauge("edge_kiosk_live_streams", "Open live streams of kiosk pages and staff consoles",
                          lambda: svc.kiosk.clients if svc.kiosk else 0)
        supervisor.start("store_maintenance", lambda: _maintain(store), critical=False)
        supervisor.start("gateway_health", lambda: selfcheck.report(store, store.emit, HEALTH_EVERY),
                         critical=False)
        if config.simulate.enabled:
            start_simulation(config, svc)
        elif config.ble.enabled:
            start_ble(svc, ble.BleSubsystem(config.ble, store.emit, clock, store=store))
        start_gpio(config, svc, str(env.config_path))
        start_gate(config, svc)  # before the settings load: it takes the plate_whitelist section
        start_parking(config, svc)
        svc.settings = PushedSettings(config.storage.path.with_name("pushed-settings.json"), svc.config_appliers,
                                      emit=store.emit, clock=clock)
        svc.settings.load()  # before sync's downlink applies its copy: the central server has the last word
        start_sync(config, svc)
        if env.watchdog_usec:
            supervisor.start("watchdog", lambda: _watchdog(store, notifier, env.watchdog_usec or 0))
        # systemctl status shows the last STATUS= sent: replace the "not provisioned" one of the waiting screen
        api_host = f"[{config.api.host}]" if ":" in config.api.host else config.api.host
        notifier.status(f"running: {config.device_id}, API on {api_host}:{config.api.port}")
        notifier.ready()
        log.info("gateway %s running; API on http://%s:%d/", config.device_id, config.api.host, config.api.port)
        await stop.wait()
    except ConfigError as e:  # found only when the hardware is opened (a pin in use, no GPIO chip)
        for line in e.problems:
            log.error("%s", line)
        return 2
    finally:
        log.info("stopping")
        notifier.stopping()
        api.stop()
        await supervisor.stop()
        if svc.gpio:
            svc.gpio.close()  # outputs to their safe state, also if the task was between restarts
        if svc.gate:
            await asyncio.to_thread(svc.gate.close)  # cameras released, also if the task was between restarts
        if svc.parking:
            await asyncio.to_thread(svc.parking.close)
        await asyncio.to_thread(store.close)
        api.close()
    return 0


class _Api:
    """The HTTP server as a supervised task: a crash restarts it on the same port."""

    def __init__(self, app: object, sock: socket.socket, host: str, port: int) -> None:
        self._app, self._sock, self._host, self._port = app, sock, host, port
        self._server: _Server | None = None

    async def serve(self) -> None:
        if self._sock.fileno() == -1:  # uvicorn closes the socket when it shuts down
            self._sock = bind(self._host, self._port)
        # No proxy in front of the gateway: X-Forwarded-* is not trusted, and not parsed on every request.
        self._server = _Server(uvicorn.Config(self._app, log_config=None, access_log=False, lifespan="off",
                                              http="httptools", proxy_headers=False, server_header=False))
        await self._server.serve(sockets=[self._sock])

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True

    def close(self) -> None:
        self._sock.close()


def start_simulation(config: Config, svc: Services) -> None:
    """The simulated building: every subsystem on simulated hardware (see README). GPIO: start_gpio."""
    sim = config.simulate
    start_ble(svc, ble.simulated(config.ble, svc.store.emit, svc.supervisor.clock, speed=sim.speed, seed=sim.seed,
                                   store=svc.store))


def start_ble(svc: Services, subsystem: ble.BleSubsystem) -> None:
    """Wristbands: supervised, in /healthz (adapter state) and /metrics."""
    svc.supervisor.start("ble", subsystem.run, probe=subsystem.health)
    for name in ("advertisements", "readings", "decode_errors", "events"):
        svc.metrics.gauge(f"edge_ble_{name}", f"BLE {name.replace('_', ' ')} since start",
                          lambda n=name: subsystem.health()[n])
    svc.metrics.gauge("edge_ble_unknown_bands", "Distinct unregistered wristbands heard",
                      lambda: len(subsystem.registry.unknown))
    svc.config_appliers["wristbands"] = Applier(wristbands_from_upstream,
                                                lambda bands, _pushed_at: _register(subsystem, bands))


def wristbands_from_upstream(raw: object) -> list[WristbandConfig]:
    """The downlink's `wristbands` section: a list of [[ble.wristbands]] entries, checked as the file's are."""
    return BleConfig.model_validate({"wristbands": raw}).wristbands


def _register(subsystem: ble.BleSubsystem, bands: list[WristbandConfig]) -> dict[str, int]:
    subsystem.registry.replace(bands)
    return {"bands": len(bands)}


def start_sync(config: Config, svc: Services, probe: ClockProbe = system_clock_synchronised) -> None:
    """Push and the downlink when [upstream] is set (the pull API is always there), the clock watch, and sync's
    /metrics and /healthz sections."""
    cfg, store, clock = config.sync, svc.store, svc.clock
    state = SyncState(store, clock)
    state.create()
    outbox = None
    if config.upstream:
        up = config.upstream
        client = UpstreamClient(up.url, up.token, config.device_id, connect_timeout=cfg.connect_timeout_s,
                                read_timeout=cfg.read_timeout_s, ca_bundle=up.ca_bundle)
        outbox = Outbox(store, state, client, cfg, clock=clock, emit=store.emit, bus=svc.bus)
        svc.supervisor.start("sync_push", outbox.run)
        downlink = Downlink(client, svc.config_appliers, config.storage.path.with_name("downlink.json"),
                            emit=store.emit, clock=clock, every=cfg.config_every_s)
        svc.supervisor.start("sync_downlink", downlink.run, critical=False)
    if cfg.clock == "system":
        watch = ClockWatch(store, state, clock, probe, store.emit, cfg.clock_every_s)
        svc.supervisor.start("clock_watch", watch.run, critical=False)
    read = Cached(lambda: snapshot(store, clock.utcnow(), trusted_clock=cfg.clock == "trusted",
                                   boot=store.boot_row, mono_now=clock.monotonic()), 2.0, clock.monotonic)
    svc.metrics.register(SyncCollector(read, lambda: outbox.stats if outbox else None))
    svc.health_probes["sync"] = lambda: health(read(), pushing=outbox is not None,
                                               degraded_after=cfg.degraded_after_s)


def start_gpio(config: Config, svc: Services, source: str) -> None:
    """Bins, lights, buttons, outputs; in simulation the scripted building on mock pins. Raises ConfigError."""
    built = gpio.build(config, svc.store.emit, svc.supervisor.clock, alerts=gpio.Alerts(svc.store, svc.bus),
                       source=source)
    if built is None:
        return
    svc.gpio, building = built
    svc.supervisor.start("gpio", svc.gpio.run, probe=svc.gpio.health)
    svc.metrics.register(gpio.GpioCollector(svc.gpio))
    if building:
        svc.supervisor.start("sim_gpio", building.run, critical=False)


def start_gate(config: Config, svc: Services) -> None:
    """The car-park gate: its cameras, the plate reader, the whitelist and the barrier relay (via GPIO). In
    simulation without [gate], the demo clip plays the gate camera (not critical: a demo extra). The whitelist's
    pushed list is the `plate_whitelist` section (local settings API and the central server's downlink)."""
    if gate_config(config) is None:
        return  # no gate camera: OpenCV is not even imported (about 50 MB less resident memory)
    from edge import gate

    opener = svc.gpio.pulse if svc.gpio else None
    svc.gate = gate.build(config, svc.store.emit, svc.supervisor.clock, opener=opener)
    if svc.gate is None:
        return
    svc.supervisor.start("gate", svc.gate.run, probe=svc.gate.health, critical=config.gate is not None)
    svc.metrics.register(gate.GateCollector(svc.gate))
    svc.config_appliers[WHITELIST] = Applier(whitelist_section, svc.gate.whitelist.replace)


def start_parking(config: Config, svc: Services) -> None:
    """The car-park cameras: occupancy, guidance, parking events. In simulation without [parking], the drawn demo
    car park (not critical: a demo extra)."""
    if parking_config(config) is None:
        return  # no car-park camera: OpenCV is not imported for it
    from edge import parking

    svc.parking = parking.build(config, svc.store.emit, svc.supervisor.clock)
    if svc.parking is None:
        return
    svc.supervisor.start("parking", svc.parking.run, probe=svc.parking.health, critical=config.parking is not None)
    svc.metrics.register(parking.ParkingCollector(svc.parking))


async def _maintain(store: EventStore) -> None:
    while True:
        await asyncio.sleep(MAINTAIN_EVERY)
        await asyncio.to_thread(store.maintain)


async def _watchdog(store: EventStore, notifier: Notifier, usec: int) -> None:
    """WATCHDOG=1 only while the event loop turns and the store commits; otherwise systemd restarts us."""
    interval = usec / 1e6 / 2
    while True:
        try:
            await asyncio.wait_for(asyncio.to_thread(store.ping), timeout=interval)
            notifier.watchdog()
        except (TimeoutError, Exception) as e:
            log.error("watchdog: store not answering (%s); not petting", e)
        await asyncio.sleep(interval)
