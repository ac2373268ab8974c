"""What the camera subsystems (the car-park gate, the parking cameras) share: whether there is one (configured, or
simulated), one task per camera lane under one supervised task, the model loaded once in a worker thread,
`<kind>.camera_fault` / `<kind>.camera_ok` events, events a full store refuses logged rather than raised, and when a
camera counts as healthy. Free of OpenCV, so that a gateway without cameras never loads it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from edge.clock import Clock
from edge.config import Config, GateConfig, ParkingConfig
from edge.errors import StoreFullError
from edge.events import EventSink, NewEvent, Priority
from vision.errors import VisionError

if TYPE_CHECKING:
    from vision.camera import CameraStream

log = logging.getLogger(__name__)

CAMERA_FAULT_AFTER_S = 60.0  # no frame this long: an alert (a camera that drops for a moment is not one)
WAIT_S = 0.5  # how long a lane waits for a frame before it looks at the clock


class Named(Protocol):
    name: str


class CameraLane(Protocol):
    """What a subsystem's lane has: its camera's config, stream, last frame time and fault state."""

    cfg: Named
    stream: CameraStream
    last_frame: float | None
    faulted: bool


L = TypeVar("L", bound=CameraLane)
M = TypeVar("M")


class CameraSubsystem(Generic[L, M]):
    """Base of GateSubsystem and ParkingSubsystem. Subclasses set `kind` and `stale_s` and write `_watch(lane)`."""

    kind = "camera"
    stale_s = 10.0  # a camera without a frame this long makes the subsystem unhealthy (/healthz 503)

    def __init__(self, lanes: list[L], emit: EventSink, clock: Clock, model: Callable[[], M]) -> None:
        self.lanes, self._emit_to_store, self.clock = lanes, emit, clock
        self._make_model, self._model = model, None
        self.model_error: str | None = None
        self._started = clock.monotonic()

    async def run(self) -> None:
        """The supervised task: load the model (a failure shows in /healthz and the supervisor retries), then watch
        every camera until one fails or the task is cancelled; the cameras are released either way."""
        await self._prepare()
        if self._model is None:
            try:
                self._model = await asyncio.to_thread(self._make_model)
                self.model_error = None
            except VisionError as e:
                self.model_error = str(e)
                raise
        try:
            async with asyncio.TaskGroup() as tg:
                for lane in self.lanes:
                    tg.create_task(self._watch(lane))
        finally:
            await asyncio.to_thread(self.close)

    async def _prepare(self) -> None:
        """Anything to do before the model loads (the simulated car park writes its map)."""

    async def _watch(self, lane: L) -> None:
        raise NotImplementedError

    async def _camera_state(self, lane: L, now: float, blind: str | None = None) -> None:
        """A camera without frames for CAMERA_FAULT_AFTER_S, or one whose frames cannot be used (`blind`: why, e.g.
        the car park's frozen, blank or turned camera), raises `<kind>.camera_fault`; its first usable frame after
        that records `<kind>.camera_ok`."""
        since = lane.last_frame if lane.last_frame is not None else self._started
        no_frames = now - since >= CAMERA_FAULT_AFTER_S
        down = no_frames or blind is not None
        if down != lane.faulted:
            lane.faulted = down
            stats = lane.stream.stats()
            kind, prio = (f"{self.kind}.camera_fault", Priority.HIGH) if down else (f"{self.kind}.camera_ok",
                                                                                     Priority.NORMAL)
            error = stats["error"] if no_frames or not down else blind
            await self._emit(NewEvent(kind, lane.cfg.name, {"camera": lane.cfg.name, "source": stats["source"],
                                                            "error": error}, prio))

    async def _emit(self, event: NewEvent) -> None:
        try:
            await self._emit_to_store(event)
        except StoreFullError as e:  # only normal/low are refused when the disk is full
            log.warning("%s: %s from %s not stored: %s", self.kind, event.kind, event.source, e)

    def fresh(self, stats: dict[str, Any]) -> bool:
        """A camera is healthy with a frame in the last stale_s; while the subsystem starts, also before its first
        frame unless opening it has failed (a stream being reopened for a moment is not a degraded gateway)."""
        age = stats["last_frame_age_s"]
        if age is not None:
            return age <= self.stale_s
        return self.clock.monotonic() - self._started < self.stale_s and not stats["open_failures"]

    def close(self) -> None:
        for lane in self.lanes:
            lane.stream.close()


# ---- which cameras there are ----------------------------------------------------------------------------------

def gate_config(config: Config) -> GateConfig | None:
    """The [gate] section; in simulation without one, the demo building's gate camera; else None."""
    if config.gate is not None:
        return config.gate
    if not (config.simulate.enabled and config.simulate.gate):
        return None
    from edge.gpio import gpio_config

    gpio = gpio_config(config)
    relays = [o.name for o in gpio.outputs if o.role == "relay"] if gpio else []
    return gate_demo_config(relay="gate" if "gate" in relays else (relays[0] if relays else None))


def gate_demo_config(relay: str | None) -> GateConfig:
    """The simulated building's gate: the packaged clip (vision/demo) played in a loop, its residents."""
    from vision import demo

    return GateConfig.model_validate({
        "cameras": [{"name": "gate", "source": str(demo.GATE_CLIP), "loop": True, "roi": demo.GATE_ROI,
                     "inbound": demo.GATE_INBOUND}],
        "residents": list(demo.RESIDENTS), "relay": relay,
    })


def parking_config(config: Config) -> ParkingConfig | None:
    """The [parking] section; in simulation without one, the demo building's car-park camera; else None."""
    if config.parking is not None:
        return config.parking
    if not (config.simulate.enabled and config.simulate.parking):
        return None
    from vision.demo import carpark

    spaces = config.storage.path.parent / "carpark" / "SPACES.json"
    return ParkingConfig.model_validate({
        "cameras": [{"name": "carpark", "source": str(carpark.CLIP), "spaces": str(spaces), "loop": True}],
        # the clip plays in real time whatever the speed: cars come and go every ten seconds or so
        "check_s": 1.0 / carpark.FPS, "frames": 2, "summary_s": 30})
