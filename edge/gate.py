"""The car-park gate: cameras -> motion gate -> plate reader -> passages -> whitelist -> barrier relay and events.

Decisions are pure and live elsewhere: motion in vision/motion.py, passages in vision/passage.py, the whitelist in
edge/whitelist.py (pushed as the `plate_whitelist` settings section, see edge/main.py), what a passage leads to in
`decide()` below. This module moves frames to them (in a worker thread, so the event loop never waits for OpenCV)
and their outcomes to the relay and the store: one supervised task per gateway, one loop per camera.

Events (full plates: staff and central data; the kiosk masks them):
- `gate.opened` when a resident's car is let through (after `relay.pulsed` from the GPIO subsystem);
- `plate.visitor` when a car not on the whitelist is decided;
- `plate.read` once per passage when the car has gone (the vote over all its reads, best crop, direction, decision);
- `gate.open_failed` (high: an alert) when the relay could not be pulsed for a resident;
- `gate.camera_fault` (high) when a camera gives no frame for a minute (edge/cameras.py), `gate.camera_ok` when it is
  back (closes that alert).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import cv2
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.cameras import WAIT_S, CameraSubsystem, gate_config
from edge.clock import Clock
from edge.config import Config, GateCameraConfig, GateConfig
from edge.events import EventSink, NewEvent, Priority
from edge.whitelist import Whitelist
from vision.camera import CameraStream
from vision.errors import VisionError
from vision.motion import MotionGate, MotionSettings, Roi
from vision.passage import Passage, PassageSettings, PassageTracker, Read

log = logging.getLogger(__name__)

Decision = Literal["opened", "visitor", "uncertain", "resident", "not_opened"]
DECISIONS: tuple[Decision, ...] = ("opened", "visitor", "uncertain", "not_opened", "resident")


class Opener(Protocol):
    """Pulse a relay: the GPIO subsystem's `pulse` (which records `relay.pulsed`)."""

    def __call__(self, relay: str, seconds: float = ..., *, reason: str = ...) -> Awaitable[None]: ...


class PlateReading(Protocol):
    """What the gate needs of a recogniser (vision.plates.PlateReader)."""

    def read(self, image_bgr: np.ndarray) -> Sequence[Read]: ...


@dataclass(frozen=True)
class Outcome:
    """What a decided passage leads to: open the relay (its name) or not, and the decision recorded."""

    decision: Decision
    relay: str | None = None


def decide(p: Passage, *, resident: bool, cfg: GateConfig, relay: str | None, before: Decision | None) -> Outcome:
    """Pure: whether a confirmed or upgraded passage opens the barrier. Only a resident's plate read at or above
    min_confidence, going a way in open_on, opens it, and only once per passage. An upgrade may name another plate
    (the vote flipped from a first misread): a resident's then opens it, even after a visitor was logged."""
    if before == "opened":
        return Outcome("opened")
    if not resident:
        if before in (None, "uncertain") and p.confidence < cfg.visitor_confidence:
            return Outcome("uncertain")  # a glimpse or a misread: plate.read records it, staff are not told
        return Outcome(before if before not in (None, "uncertain") else "visitor")
    if p.confidence < cfg.min_confidence:
        return Outcome("uncertain")  # an upgrade may still open it while the car waits
    if relay is None or p.direction not in cfg.open_on:
        return Outcome("resident" if relay is None else "not_opened")
    return Outcome("opened", relay)


@dataclass
class Lane:
    """One camera and what it decides with: its motion gate and its passage tracker."""

    cfg: GateCameraConfig
    stream: CameraStream
    motion: MotionGate
    tracker: PassageTracker
    relay: str | None
    decisions: dict[int, Decision] = field(default_factory=dict)  # track -> what it led to (until it ends)
    counts: dict[str, int] = field(default_factory=lambda: {"looked": 0, "read": 0, "plates": 0, "read_errors": 0})
    last_frame: float | None = None
    faulted: bool = False


class GateSubsystem(CameraSubsystem[Lane, PlateReading]):
    """Every gate camera; run() (in CameraSubsystem) is the supervised task, health() feeds /healthz and
    `edge doctor`."""

    kind = "gate"

    def __init__(self, cfg: GateConfig, lanes: list[Lane], whitelist: Whitelist, emit: EventSink, clock: Clock, *,
                 reader: Callable[[], PlateReading], opener: Opener | None = None) -> None:
        super().__init__(lanes, emit, clock, reader)
        self.cfg, self.whitelist, self.opener = cfg, whitelist, opener
        self._reader_lock = threading.Lock()
        self.counts = {"passages": 0, "opened": 0, "visitors": 0, "uncertain": 0, "open_failed": 0}
        self.decisions: dict[Decision, int] = dict.fromkeys(DECISIONS, 0)  # ended passages by final decision

    # ---- the supervised task ------------------------------------------------------------------------------

    async def _watch(self, lane: Lane) -> None:
        lane.stream.start()
        period, seq = 1.0 / self.cfg.check_fps, 0
        while True:
            frame = await asyncio.to_thread(lane.stream.wait, seq, WAIT_S)
            now = self.clock.monotonic()
            if frame is None:
                await self._camera_state(lane, now)
                await self.handle(lane, lane.tracker.tick(now))
                continue
            seq, lane.last_frame = frame.seq, frame.t
            await self._camera_state(lane, now)
            passages = await asyncio.to_thread(self._look, lane, frame.image, frame.t)
            await self.handle(lane, passages)
            await asyncio.sleep(max(0.0, frame.t + period - self.clock.monotonic()))

    def _look(self, lane: Lane, image: np.ndarray, t: float) -> list[Passage]:
        """In a worker thread: the motion gate, then (if something moves) the plates in the lane's region."""
        lane.counts["looked"] += 1
        if not lane.motion.should_read(image, t):
            return lane.tracker.tick(t, still=True)  # nothing moved: a car in view is still there
        region, (ox, oy) = lane.motion.roi.cut(image)
        lane.counts["read"] += 1
        try:
            with self._reader_lock:  # one cv2.dnn network, several lanes
                assert self._model is not None
                reads = self._model.read(np.ascontiguousarray(region))
        except (VisionError, cv2.error) as e:  # one frame's failure: counted, and the next frame is read
            lane.counts["read_errors"] += 1
            log.warning("gate %s: frame not read: %s", lane.cfg.name, e)
            return lane.tracker.tick(t)
        lane.counts["plates"] += len(reads)
        shifted = [_Shifted(r.text, r.color, r.confidence, (r.box[0] + ox, r.box[1] + oy, r.box[2], r.box[3]))
                   for r in reads]
        return lane.tracker.observe(shifted, t)

    # ---- passages -> relay and events ---------------------------------------------------------------------

    async def handle(self, lane: Lane, passages: Iterable[Passage]) -> None:
        """What a lane's passages lead to: the relay, gate.opened, plate.visitor, and plate.read when they end."""
        for p in passages:
            if p.stage == "ended":
                decision = lane.decisions.pop(p.track, "uncertain")
                self.decisions[decision] += 1  # each passage once, under what it finally led to
                self.counts["uncertain"] += decision == "uncertain"
                await self._emit(NewEvent("plate.read", lane.cfg.name, {
                    **self._plate_data(lane, p), "reads": p.reads, "agreeing": p.agreeing,
                    "duration_s": round(p.duration_s, 1), "box": list(p.box), "resident": p.plate in self.whitelist,
                    "decision": decision}))
                continue
            before = lane.decisions.get(p.track)
            outcome = decide(p, resident=p.plate in self.whitelist, cfg=self.cfg, relay=lane.relay, before=before)
            if outcome.relay:
                outcome = await self._open(lane, p, outcome.relay)
            elif outcome.decision == "visitor" and before in (None, "uncertain"):
                self.counts["visitors"] += 1
                await self._emit(NewEvent("plate.visitor", lane.cfg.name, self._plate_data(lane, p)))
            self.counts["passages"] += p.stage == "confirmed"
            lane.decisions[p.track] = outcome.decision

    async def _open(self, lane: Lane, p: Passage, relay: str) -> Outcome:
        assert self.opener is not None
        try:
            await self.opener(relay, self.cfg.pulse_s, reason=f"resident {p.plate} at {lane.cfg.name}")
        except Exception as e:  # no such relay, GPIO closed: the resident waits, so staff must know
            self.counts["open_failed"] += 1
            log.error("gate %s: could not open %s for %s: %s", lane.cfg.name, relay, p.plate, e)
            await self._emit(NewEvent("gate.open_failed", lane.cfg.name,
                                      {**self._plate_data(lane, p), "relay": relay, "error": str(e)[:300]},
                                      Priority.HIGH))
            return Outcome("not_opened")
        self.counts["opened"] += 1
        await self._emit(NewEvent("gate.opened", lane.cfg.name,
                                  {**self._plate_data(lane, p), "relay": relay, "seconds": self.cfg.pulse_s}))
        return Outcome("opened")

    @staticmethod
    def _plate_data(lane: Lane, p: Passage) -> dict[str, Any]:
        return {"plate": p.plate, "color": p.color, "confidence": p.confidence, "direction": p.direction,
                "camera": lane.cfg.name}

    # ---- state ----------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """ok while the plate models are loaded and every camera has given a frame in the last STALE_S (a stream
        being reopened for a moment is not a degraded gateway; a camera that stays down is)."""
        cameras = {lane.cfg.name: {**lane.stream.stats(), **lane.counts,
                                   "motion": round(lane.motion.share, 4), "tracks": lane.tracker.active}
                   for lane in self.lanes}
        ok = self.model_error is None and all(self.fresh(c) for c in cameras.values())
        return {"ok": ok, "cameras": cameras, "whitelist": len(self.whitelist), **self.counts,
                "reader_error": self.model_error}


@dataclass(frozen=True)
class _Shifted:
    """A read moved from the region's pixels to the frame's."""

    text: str
    color: str
    confidence: float
    box: tuple[int, int, int, int]


class GateCollector(Collector):
    """Prometheus: passages and openings, and each camera's frames, corrupt frames and reconnections."""

    def __init__(self, gate: GateSubsystem) -> None:
        self._gate = gate

    def collect(self) -> Iterable[Metric]:
        g = self._gate
        passages = CounterMetricFamily("edge_gate_decisions", "Gate passages (when they end) by what they led to, "
                                       "as in plate.read", labels=["decision"])
        for name in DECISIONS:
            passages.add_metric([name], g.decisions[name])
        yield passages
        yield CounterMetricFamily("edge_gate_open_failures", "Relay pulses for a resident that failed",
                                  value=g.counts["open_failed"])
        frames = CounterMetricFamily("edge_gate_camera_frames", "Frames by camera and fate", labels=["camera", "fate"])
        up = GaugeMetricFamily("edge_gate_camera_up", "1 while the camera delivers frames", labels=["camera"])
        for lane in g.lanes:
            c = lane.stream.counts
            for fate, n in (("read", c["frames"]), ("dropped", c["dropped"]), ("corrupt", c["corrupt"]),
                            ("looked_at", lane.counts["looked"]), ("recognised", lane.counts["read"])):
                frames.add_metric([lane.cfg.name, fate], n)
            up.add_metric([lane.cfg.name], float(lane.stream.opened and lane.stream.error is None))
        yield frames
        yield up


# ---- building it ----------------------------------------------------------------------------------------------

def passage_settings(cfg: GateConfig, camera: GateCameraConfig) -> PassageSettings:
    return PassageSettings(inbound=camera.inbound, min_reads=cfg.min_reads, sure_confidence=cfg.min_confidence,
                           settle_s=cfg.settle_s, end_after_s=cfg.end_after_s, same_plate_s=cfg.same_plate_s,
                           notice_confidence=cfg.visitor_confidence)


def make_lane(cfg: GateConfig, camera: GateCameraConfig, clock: Clock) -> Lane:
    stream = CameraStream(camera.source, name=camera.name, loop=camera.loop, fps=camera.fps,
                          monotonic=clock.monotonic)
    # still frames do not end a passage (a waiting car has not gone): keep reading end_after_s after the last
    # motion, or a car that has left would be found gone only when the next one comes
    hold_s = max(cfg.motion_hold_s, cfg.end_after_s)
    motion = MotionGate(Roi(*camera.roi), MotionSettings(min_share=cfg.motion_share, hold_s=hold_s), enabled=cfg.motion)
    return Lane(camera, stream, motion, PassageTracker(passage_settings(cfg, camera)), camera.relay or cfg.relay)


def default_reader() -> PlateReading:
    from vision.plates import PlateReader

    return PlateReader()


def build(config: Config, emit: EventSink, clock: Clock, *, opener: Opener | None,
          reader: Callable[[], PlateReading] = default_reader) -> GateSubsystem | None:
    """The gate subsystem for this configuration, or None when there is no gate. Cameras open when it runs.

    A configured gate loads the plate models when it runs (a failure shows in /healthz and is retried). The
    simulated gate loads them here, and is left out, with a warning, when they are missing (a checkout whose
    models have not been made yet still runs the rest of the demo)."""
    cfg = gate_config(config)
    if cfg is None:
        return None
    if config.gate is None:
        try:
            loaded = reader()
        except VisionError as e:
            log.warning("simulated gate camera off: %s (the models are made by vision/training/plates)", e)
            return None
        reader = lambda: loaded  # noqa: E731 - the one already loaded
    whitelist = Whitelist(cfg.residents)
    lanes = [make_lane(cfg, camera, clock) for camera in cfg.cameras]
    return GateSubsystem(cfg, lanes, whitelist, emit, clock, reader=reader, opener=opener)
