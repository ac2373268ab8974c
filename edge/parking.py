"""Parking: car-park cameras -> occupancy per space (vision/occupancy.py) -> smoothing (vision/smoothing.py) ->
free spaces per zone and the nearest free space from each entrance -> events, `GET /api/v1/parking` and the sign.

One supervised task per gateway, one loop per camera; OpenCV runs in worker threads so the event loop never waits.
Guidance is pure and lives here (`zone_counts`, `nearest_free`).

Events (source: the camera's name):
- `parking.space` when a space changes state (after `frames` consistent frames): `space`, `zone`, `occupied`,
  `confidence`, `camera`;
- `parking.summary` every `summary_s`, and a few seconds after a change: `zones` [{zone, free, total}], `nearest`
  [{entrance, space, zone, distance_m?}], `spaces` [{space, zone, occupied, confidence}], `camera`;
- `parking.camera_fault` (high) when a camera gives no frame for a minute (edge/cameras.py) or goes blind (below),
  `parking.camera_ok` when its spaces are read again (closes that alert).

A camera whose spaces have not been read for a minute (no picture, a blank one, the same picture again and again, or
a camera turned since its map was drawn) is blind: its spaces are forgotten (not known: not free, so no driver is
sent to them), and its summary says why in `error` at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.cameras import WAIT_S, CameraSubsystem, parking_config
from edge.clock import Clock, rfc3339
from edge.config import Config, ParkingCameraConfig, ParkingConfig
from edge.events import MAX_DATA_BYTES, EventSink, NewEvent
from edge.files import write_atomic
from vision.camera import CameraStream
from vision.errors import VisionError
from vision.motion import camera_shift, scene
from vision.occupancy import blank_problem
from vision.smoothing import Smoother, SpaceState
from vision.spaces import SpaceMap, SpaceMapError, dumps, load_space_map
from vision.threshold import AdaptiveThreshold

log = logging.getLogger(__name__)

CHANGE_SUMMARY_S = 3.0  # a summary this soon after a change (not at every change: several cars come at once)
BLIND_S = 60.0  # no space read this long (and at least 3 checks): the camera's spaces are not known any more
MOVED_SHARE = 0.3  # the picture moved by this share of a space's width: the map no longer fits ...
MOVED_MIN_PX = 8.0  # ... and by at least this (days of a fixed camera moved it by at most 4 px: vision/motion.py)


class Classifying(Protocol):
    """What parking needs of a classifier (vision.occupancy.OccupancyClassifier)."""

    def classify(self, frame: np.ndarray, spaces: Sequence[Any]) -> Sequence[Any]: ...


# ---- guidance: pure ---------------------------------------------------------------------------------------------

def zone_counts(space_map: SpaceMap, states: dict[str, SpaceState]) -> list[dict[str, Any]]:
    """[{zone, free, total}] in zone order; a space not known yet is not free."""
    out = []
    for zone in space_map.zones:
        ids = [s.id for s in space_map.spaces if s.zone == zone]
        free = sum(1 for i in ids if i in states and states[i].occupied is False)
        out.append({"zone": zone, "free": free, "total": len(ids)})
    return out


def nearest_free(space_map: SpaceMap, states: dict[str, SpaceState]) -> list[dict[str, Any]]:
    """Per entrance, the closest free space: by the map's `distances`, else the straight line in the picture
    (`distance_m` only when the map gives metres). An entrance without any free space gets `space: None`."""
    out = []
    for e in space_map.entrances:
        best: tuple[float, Any, bool] | None = None
        for s in space_map.spaces:
            st = states.get(s.id)
            d = space_map.distance(e, s) if st is not None and st.occupied is False else None
            if d is not None and (best is None or d[0] < best[0]):
                best = (d[0], s, d[1])
        if best is None:
            out.append({"entrance": e.id, "space": None, "zone": None})
        else:
            d, s, metres = best
            out.append({"entrance": e.id, "space": s.id, "zone": s.zone,
                        **({"distance_m": round(d, 1)} if metres else {})})
    return out


def sign_text(zones: Iterable[dict[str, Any]]) -> str:
    """For an entrance sign: one `ZONE FREE/TOTAL` line per zone (a zone seen by several cameras once, their sum),
    then `FREE n`."""
    counts: dict[str, list[int]] = {}
    for z in zones:
        c = counts.setdefault(z["zone"], [0, 0])
        c[0], c[1] = c[0] + z["free"], c[1] + z["total"]
    lines = [f"{zone} {free}/{total}" for zone, (free, total) in counts.items()]
    return "\n".join([*lines, f"FREE {sum(free for free, _ in counts.values())}"]) + "\n"


def move_tolerance(space_map: SpaceMap) -> float:
    """How far (pixels) the picture may move before the spaces are read from the wrong places: MOVED_SHARE of the
    median space's width (at a 20 px move the UFPR05 frame still reads 39 of 40 spaces right, at 50 px 36)."""
    widths = [min(cv2.minAreaRect(np.asarray(s.polygon, np.float32))[1]) for s in space_map.spaces]
    return max(MOVED_MIN_PX, MOVED_SHARE * float(np.median(widths)))


# ---- the cameras ------------------------------------------------------------------------------------------------

@dataclass
class ParkingLane:
    """One camera, its map and what it has seen."""

    cfg: ParkingCameraConfig
    stream: CameraStream
    smoother: Smoother
    threshold: AdaptiveThreshold | None = None  # None: the network's own cut ([parking] adapt = false)
    cut_file: Path | None = None  # the learnt cut kept across restarts, with the polygons it was learnt on
    polygons: str | None = None  # digest of the map's spaces: a map saved with new polygons starts learning again
    saved_cut: float | None = None
    scene_file: Path | None = None  # the picture the map fits, kept across restarts with the polygons
    reference: np.ndarray | None = None  # that picture (vision.motion.scene): None until a frame is read
    tolerance: float = MOVED_MIN_PX  # how far the picture may move (move_tolerance)
    picture: int | None = None  # checksum of the newest frame: a camera that repeats one picture is frozen
    scene: np.ndarray | None = None  # the newest frame's
    last_read: float | None = None  # monotonic time of the last frame whose spaces were read
    problem: str | None = None  # why the newest frame's spaces were not read
    blind: str | None = None  # why the camera's spaces are not known now (none read for BLIND_S)
    space_map: SpaceMap | None = None
    map_error: str | None = None
    states: dict[str, SpaceState] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"classified": 0, "changes": 0, "errors": 0})
    last_frame: float | None = None
    last_ms: float | None = None
    faulted: bool = False
    summary_due: float = 0.0  # monotonic time of the next summary

    def load_map(self) -> None:
        try:
            self.set_map(load_space_map(self.cfg.spaces))
        except SpaceMapError as e:
            self.space_map, self.map_error = None, str(e)
            if Path(self.cfg.spaces).exists():
                log.error("parking %s: space map not used: %s", self.cfg.name, e)
            else:
                self.map_error = f"{self.cfg.spaces}: no space map yet (draw it at /staff/parking)"
                log.warning("parking %s: %s", self.cfg.name, self.map_error)

    def set_map(self, space_map: SpaceMap) -> None:
        self.space_map, self.map_error = space_map, None
        keep = {s.id for s in space_map.spaces}
        self.smoother.forget(keep)
        self.states = {k: v for k, v in self.states.items() if k in keep}
        polygons = hashlib.sha256(json.dumps([[s.id, s.polygon] for s in space_map.spaces]).encode()).hexdigest()
        if self.threshold is not None and polygons != self.polygons:
            self.threshold.reset()
            self.saved_cut = None
            if (cut := self._saved(polygons)) is not None:
                self.threshold.restore(cut)
                self.saved_cut = cut
        if polygons != self.polygons:  # new polygons fit the picture of the next frame read
            self.reference, self.tolerance = self._saved_scene(polygons), move_tolerance(space_map)
        self.polygons = polygons

    def picture_problem(self, image: np.ndarray) -> str | None:
        """Why this frame's spaces are not to be read, or None: it is the picture before it again (a frozen camera
        repeats one; a live one never gives two alike), or the camera has turned since its map was drawn."""
        checksum = zlib.crc32(np.ascontiguousarray(image))
        if checksum == self.picture:
            return "the camera sends the same picture again and again (frozen)"
        self.picture, self.scene = checksum, scene(image)
        if self.reference is None:
            return None
        dx, dy = camera_shift(self.reference, self.scene, image.shape[1])
        if math.hypot(dx, dy) <= self.tolerance:
            return None
        return (f"the camera has moved by [{round(dx)}, {round(dy)}] px since its space map was drawn: turn it back, "
                "or draw the map again at /staff/parking")

    def _saved_scene(self, polygons: str) -> np.ndarray | None:
        """The picture these polygons were read on by an earlier run, if any (a bad file is taken again)."""
        if self.scene_file is None or not self.scene_file.exists():
            return None
        try:
            with np.load(io.BytesIO(self.scene_file.read_bytes()), allow_pickle=False) as kept:
                return kept["scene"] if str(kept["polygons"]) == polygons else None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            log.warning("parking %s: %s unreadable; taken again", self.cfg.name, self.scene_file)
            return None

    def keep_scene(self) -> None:
        """The newest frame, just read, is the picture the map fits: a camera turned later is told by it."""
        self.reference = self.scene
        if self.scene_file is None or self.reference is None or self.polygons is None:
            return
        buf = io.BytesIO()
        np.savez_compressed(buf, scene=self.reference, polygons=np.str_(self.polygons))
        try:
            write_atomic(self.scene_file, buf.getvalue())
        except OSError as e:
            log.warning("parking %s: cannot keep the picture in %s: %s", self.cfg.name, self.scene_file, e)

    def _saved(self, polygons: str) -> float | None:
        """The cut saved for these polygons by an earlier run, if any (a bad file is ignored: it is learnt again)."""
        if self.cut_file is None or not self.cut_file.exists():
            return None
        try:
            doc = json.loads(self.cut_file.read_text())
            if isinstance(doc, dict) and doc.get("polygons") == polygons:
                return float(doc["cut"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("parking %s: %s unreadable; the cut is learnt again", self.cfg.name, self.cut_file)
        return None

    def save_cut(self) -> None:
        """Keep a newly learnt cut (when it moved by more than 0.05 log-odds: a few writes a day, not a minute)."""
        t = self.threshold
        if self.cut_file is None or t is None or not t.learnt or self.polygons is None:
            return
        if self.saved_cut is not None and abs(t.shift - self.saved_cut) <= 0.05:
            return
        try:
            write_atomic(self.cut_file, json.dumps({"camera": self.cfg.name, "polygons": self.polygons,
                                                    "cut": t.shift}) + "\n")
            self.saved_cut = t.shift
        except OSError as e:
            log.warning("parking %s: cannot keep the learnt cut in %s: %s", self.cfg.name, self.cut_file, e)


class ParkingSubsystem(CameraSubsystem[ParkingLane, Classifying]):
    """Every parking camera; run() (in CameraSubsystem) is the supervised task, health() feeds /healthz, view()
    the API."""

    kind = "parking"
    stale_s = 30.0  # frames are looked at every check_s (2 s by default), not 5-10 times a second as at the gate

    def __init__(self, cfg: ParkingConfig, lanes: list[ParkingLane], emit: EventSink, clock: Clock, *,
                 classifier: Callable[[], Classifying], prepare: Callable[[], object] | None = None) -> None:
        super().__init__(lanes, emit, clock, classifier)
        self.cfg, self._before = cfg, prepare
        self.updated: str | None = None

    def lane(self, name: str) -> ParkingLane | None:
        return next((lane for lane in self.lanes if lane.cfg.name == name), None)

    async def _prepare(self) -> None:
        if self._before is not None:
            await asyncio.to_thread(self._before)
            self._before = None

    async def _watch(self, lane: ParkingLane) -> None:
        await asyncio.to_thread(lane.load_map)
        lane.stream.start()
        seq = 0
        while True:
            frame = await asyncio.to_thread(lane.stream.wait, seq, WAIT_S)
            now = self.clock.monotonic()
            await self._camera_state(lane, now, lane.blind)  # a blind camera is a fault for staff too
            changed: list[SpaceState] = []
            if frame is not None:
                seq, lane.last_frame = frame.seq, frame.t
                if lane.space_map is not None:
                    changed = await asyncio.to_thread(self._look, lane, frame.image, now)
            if lane.space_map is not None:
                self.judge(lane, now)
                if frame is not None or lane.blind is not None:  # a blind camera's summaries go on
                    await self.publish(lane, changed, now)
            if frame is not None:
                await asyncio.sleep(max(0.0, frame.t + self.cfg.check_s - self.clock.monotonic()))

    def _look(self, lane: ParkingLane, image: np.ndarray, now: float) -> list[SpaceState]:
        """In a worker thread: classify every space, smooth; the states that changed."""
        space_map = lane.space_map
        assert space_map is not None and self._model is not None
        t0 = self.clock.monotonic()
        try:
            space_map.check_frame(image.shape[1], image.shape[0])  # a camera of another size: its map is wrong
            problem = blank_problem(image) or lane.picture_problem(image)
            result = [] if problem else self._model.classify(image, space_map.spaces)
        except (VisionError, cv2.error) as e:
            problem = str(e)
        if problem:
            lane.counts["errors"] += 1
            if problem != lane.problem:  # once, not every check_s
                log.warning("parking %s: frame not classified: %s", lane.cfg.name, problem)
            lane.problem = problem
            return []
        lane.problem, lane.last_read = None, now
        if lane.reference is None:
            lane.keep_scene()
        self.updated = rfc3339(self.clock.utcnow())
        lane.last_ms = round((self.clock.monotonic() - t0) * 1000, 1)
        lane.counts["classified"] += 1
        p = [r.p_occupied for r in result]
        if lane.threshold is not None:
            lane.threshold.observe(p, t0)
            lane.save_cut()
            p = lane.threshold.adjust(p).tolist()
        changed = []
        for r, q in zip(result, p, strict=True):
            before = lane.states.get(r.space)
            st = lane.smoother.update(r.space, q)
            lane.states[r.space] = st
            if st.changed and before is not None and before.occupied is not None:
                changed.append(st)
        return changed

    def judge(self, lane: ParkingLane, now: float) -> None:
        """A camera with no space read for BLIND_S (or 3 checks) is blind: its spaces are forgotten, so that they
        count as not free and no driver is sent to them, and a summary says why at once; the first frame read
        again sets them anew (without parking.space events: nothing is known of what changed meanwhile)."""
        limit = max(BLIND_S, 3 * self.cfg.check_s)
        since = lane.last_read if lane.last_read is not None else self._started
        why = None
        if now - since >= limit:
            seen = lane.last_frame is not None and now - lane.last_frame < limit
            why = f"no space read for {now - since:.0f} s: " + (lane.problem if seen and lane.problem
                                                                else "no picture from the camera")
        if (why is None) != (lane.blind is None):
            lane.summary_due = 0.0
            if why:
                lane.states.clear()
                lane.smoother.forget(set())
                log.warning("parking %s: blind, its spaces are not known: %s", lane.cfg.name, why)
            else:
                log.info("parking %s: spaces read again", lane.cfg.name)
        lane.blind = why

    async def publish(self, lane: ParkingLane, changed: list[SpaceState], now: float) -> None:
        """parking.space for each change; parking.summary when due (and soon after changes)."""
        assert lane.space_map is not None
        zones = {s.id: s.zone for s in lane.space_map.spaces}
        for st in changed:
            lane.counts["changes"] += 1
            await self._emit(NewEvent("parking.space", lane.cfg.name, {
                "space": st.space, "zone": zones.get(st.space), "occupied": st.occupied,
                "confidence": st.confidence, "camera": lane.cfg.name}))
        if changed:
            lane.summary_due = min(lane.summary_due, now + CHANGE_SUMMARY_S)
        if now >= lane.summary_due:
            lane.summary_due = now + self.cfg.summary_s
            data = {**self.summary(lane), "camera": lane.cfg.name}
            if len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_DATA_BYTES:
                del data["spaces"]  # many spaces with long ids: the counts and guidance still go, the store's bound
            await self._emit(NewEvent("parking.summary", lane.cfg.name, data))

    def summary(self, lane: ParkingLane) -> dict[str, Any]:
        """Free and total per zone, the nearest free space per entrance, every known space; `error` says why none
        is known when the camera is blind."""
        if lane.space_map is None:
            return {"zones": [], "nearest": [], "spaces": []}
        return {
            "zones": zone_counts(lane.space_map, lane.states),
            "nearest": nearest_free(lane.space_map, lane.states),
            "spaces": [{"space": s.id, "zone": s.zone, "occupied": lane.states[s.id].occupied,
                        "confidence": lane.states[s.id].confidence}
                       for s in lane.space_map.spaces if s.id in lane.states],
            **({"error": lane.blind} if lane.blind else {}),
        }

    def view(self) -> dict[str, Any]:
        """Every camera together, for `GET /api/v1/parking`: zones, the nearest free space per entrance (the
        closest any camera offers), every space."""
        zones: list[dict[str, Any]] = []
        nearest: dict[str, dict[str, Any]] = {}
        spaces: list[dict[str, Any]] = []
        for lane in self.lanes:
            s = self.summary(lane)
            zones += [{**z, "camera": lane.cfg.name, **({"error": s["error"]} if "error" in s else {})}
                      for z in s["zones"]]
            spaces += [{**sp, "camera": lane.cfg.name} for sp in s["spaces"]]
            for n in s["nearest"]:
                old = nearest.get(n["entrance"])
                if old is None or (n["space"] and (not old["space"] or _far(n) < _far(old))):
                    nearest[n["entrance"]] = n
        return {"updated": self.updated, "free": sum(z["free"] for z in zones),
                "total": sum(z["total"] for z in zones), "zones": zones, "nearest": list(nearest.values()),
                "spaces": spaces}

    def save_map(self, name: str, space_map: SpaceMap) -> None:
        """Write the camera's map (atomically: a power cut leaves the old map or the new) and use it at once."""
        lane = self.lane(name)
        if lane is None:
            raise KeyError(name)
        path = Path(lane.cfg.spaces)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, dumps(space_map))
        lane.set_map(space_map)
        lane.summary_due = 0.0  # a new map: a fresh summary with the next frame
        log.info("parking %s: space map saved to %s (%d spaces)", name, path, len(space_map.spaces))

    def snapshot(self, name: str) -> bytes | None:
        """The camera's newest frame as JPEG, or None when it has none."""
        lane = self.lane(name)
        frame = lane.stream.latest() if lane else None
        if frame is None:
            return None
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return jpeg.tobytes() if ok else None

    def health(self) -> dict[str, Any]:
        """ok while the model is loaded and every camera has a map, gave a frame in the last stale_s and is not
        blind."""
        cameras = {lane.cfg.name: {**lane.stream.stats(), **lane.counts, "map": str(lane.cfg.spaces),
                                   "spaces": len(lane.space_map.spaces) if lane.space_map else 0,
                                   "map_error": lane.map_error, "ms": lane.last_ms, "blind": lane.blind,
                                   "cut": _cut(lane.threshold)} for lane in self.lanes}
        ok = self.model_error is None and all(self.fresh(c) and c["map_error"] is None and c["blind"] is None
                                              for c in cameras.values())
        return {"ok": ok, "cameras": cameras, "classifier_error": self.model_error}


def _cut(threshold: AdaptiveThreshold | None) -> float | None:
    """The camera's learnt cut as P(occupied), for /healthz (None: not learnt yet, or adapt = false)."""
    cut = threshold.cut if threshold else None
    return None if cut is None else round(cut, 3)


def _far(n: dict[str, Any]) -> float:
    return n.get("distance_m", float("inf"))


class ParkingCollector(Collector):
    """Prometheus: free and total spaces per zone, frames classified and state changes per camera."""

    def __init__(self, parking: ParkingSubsystem) -> None:
        self._parking = parking

    def collect(self) -> Iterable[Metric]:
        free = GaugeMetricFamily("edge_parking_free", "Free spaces by zone", labels=["camera", "zone"])
        total = GaugeMetricFamily("edge_parking_spaces", "Spaces by zone", labels=["camera", "zone"])
        frames = CounterMetricFamily("edge_parking_frames", "Frames classified", labels=["camera"])
        changes = CounterMetricFamily("edge_parking_changes", "Space state changes", labels=["camera"])
        for lane in self._parking.lanes:
            for z in self._parking.summary(lane)["zones"]:
                free.add_metric([lane.cfg.name, z["zone"]], z["free"])
                total.add_metric([lane.cfg.name, z["zone"]], z["total"])
            frames.add_metric([lane.cfg.name], lane.counts["classified"])
            changes.add_metric([lane.cfg.name], lane.counts["changes"])
        yield from (free, total, frames, changes)


# ---- building it ----------------------------------------------------------------------------------------------

def make_lane(cfg: ParkingConfig, camera: ParkingCameraConfig, clock: Clock, state: Path | None = None) -> ParkingLane:
    """`state`: the folder where the camera's learnt cut is kept across restarts (beside the database)."""
    stream = CameraStream(camera.source, name=camera.name, loop=camera.loop, fps=camera.fps,
                          monotonic=clock.monotonic)
    return ParkingLane(camera, stream, Smoother(cfg.frames, cfg.min_confidence),
                       AdaptiveThreshold() if cfg.adapt else None,
                       state / f"parking-{camera.name}.cut.json" if state and cfg.adapt else None,
                       scene_file=state / f"parking-{camera.name}.scene.npz" if state else None)


def default_classifier() -> Classifying:
    from vision.occupancy import OccupancyClassifier

    return OccupancyClassifier()


def build(config: Config, emit: EventSink, clock: Clock,
          classifier: Callable[[], Classifying] = default_classifier) -> ParkingSubsystem | None:
    """The parking subsystem for this configuration, or None. Cameras open and maps load when it runs."""
    cfg = parking_config(config)
    if cfg is None:
        return None
    lanes = [make_lane(cfg, camera, clock, config.storage.path.parent) for camera in cfg.cameras]
    prepare = None
    if config.parking is None:  # the simulated car park: its map is written when it first runs
        from vision.demo import carpark

        folder = config.storage.path.parent / "carpark"
        prepare = lambda: carpark.prepare(folder)  # noqa: E731
    return ParkingSubsystem(cfg, lanes, emit, clock, classifier=classifier, prepare=prepare)
