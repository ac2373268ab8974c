"""Gate benchmark: what the gate costs while nothing happens, with motion gating and without, and how soon a
resident's car is let in.

The gate subsystem (camera thread, motion gate, plate reader, passages, a real store) runs on
1. an idle lane: the demo clip's empty lane (with sensor noise) for `--seconds`: CPU with motion gating on, then
   the baseline with it off (the reader runs on every looked-at frame, as a gate without gating would);
2. the whole demo clip once (three cars, real time), gating on: CPU, frames read, what was decided, and how many
   seconds after the resident's car came into view the relay was pulsed (it reaches the barrier at 3.5 s).
Also the cost of each step on one frame: decoding, the motion check, reading plates in the region.
CPU is the process's CPU time over wall time (one core = 100 %), on this machine. Run by `make bench`; needs the
plate models in vision/models/.

    .venv/bin/python tests/bench/gate.py [--seconds 15]
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edge.clock import Clock  # noqa: E402
from edge.config import GateConfig  # noqa: E402
from edge.gate import GateSubsystem, make_lane  # noqa: E402
from edge.store import EventStore  # noqa: E402
from edge.whitelist import Whitelist  # noqa: E402
from vision import demo  # noqa: E402
from vision.errors import VisionError  # noqa: E402
from vision.motion import MotionDetector, Roi  # noqa: E402
from vision.plates import PlateReader  # noqa: E402


def idle_clip(path: Path, seconds: float) -> Path:
    """The demo's empty lane (its first frame) with fresh sensor noise in every frame."""
    cap = cv2.VideoCapture(str(demo.GATE_CLIP))
    ok, lane = cap.read()
    cap.release()
    assert ok, demo.GATE_CLIP
    rng = np.random.default_rng(1)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), demo.FPS, demo.SIZE)
    for _ in range(int(seconds * demo.FPS)):
        vw.write(np.clip(lane + rng.normal(0, 1.0, lane.shape), 0, 255).astype(np.uint8))
    vw.release()
    return path


async def run(source: Path, seconds: float, reader: PlateReader, *, motion: bool) -> dict:
    cfg = GateConfig.model_validate({
        "cameras": [{"name": "gate", "source": str(source), "loop": True, "roi": list(demo.GATE_ROI),
                     "inbound": demo.GATE_INBOUND}],
        "residents": list(demo.RESIDENTS), "relay": "gate", "motion": motion})
    pulses: list[float] = []

    async def opener(relay: str, seconds: float = 1.0, *, reason: str = "") -> None:
        pulses.append(time.monotonic())

    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open(Path(tmp) / "b.db", device_id="bench", building_id="b", clock=Clock())
        gate = GateSubsystem(cfg, [make_lane(cfg, cfg.cameras[0], Clock())], Whitelist(cfg.residents),
                             store.emit, Clock(), reader=lambda: reader, opener=opener)
        task = asyncio.create_task(gate.run())
        while gate.lanes[0].stream.counts["frames"] == 0:
            await asyncio.sleep(0.01)
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        kinds = [e.kind for e in store.events(limit=1000)]
        store.close()
    lane = gate.lanes[0]
    return {"cpu": cpu, "looked": lane.counts["looked"], "read": lane.counts["read"], "t0": t0, "pulses": pulses,
            "events": {k: kinds.count(k) for k in sorted(set(kinds))}}


def step_costs(reader: PlateReader, n: int = 30) -> dict[str, float]:
    """Median milliseconds per frame of each step, on the demo clip's frame with the resident at the barrier."""
    cap = cv2.VideoCapture(str(demo.GATE_CLIP))
    frames, decode = [], []
    for _ in range(n * 2):
        t = time.perf_counter()
        ok, f = cap.read()
        decode.append((time.perf_counter() - t) * 1000)
        frames.append(f)
    cap.release()
    car = frames[int((demo.CARS[0].start_s + 3.0) * demo.FPS)]
    roi = Roi(*demo.GATE_ROI)
    detector, motion, read = MotionDetector(), [], []
    for f in frames[:n]:
        t = time.perf_counter()
        detector.changed(roi.cut(f)[0])
        motion.append((time.perf_counter() - t) * 1000)
    region = np.ascontiguousarray(roi.cut(car)[0])
    for _ in range(n):
        t = time.perf_counter()
        reader.read(region)
        read.append((time.perf_counter() - t) * 1000)
    return {"decode": statistics.median(decode), "motion": statistics.median(motion),
            "read": statistics.median(read)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each idle measurement")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        reader = PlateReader()
    except VisionError as e:
        sys.exit(f"gate bench: {e}")
    costs = step_costs(reader)
    print(f"per frame (median ms, one core): decode {costs['decode']:.1f}, motion check {costs['motion']:.2f}, "
          f"plate reading in the region {costs['read']:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        idle = idle_clip(Path(tmp) / "idle.mp4", 10.0)
        gated = await run(idle, args.seconds, reader, motion=True)
        ungated = await run(idle, args.seconds, reader, motion=False)
    print(f"idle lane, {args.seconds:g} s at 5 looked-at frames/s:")
    print(f"  motion gating on : CPU {gated['cpu']:6.1%} of one core, plates read in {gated['read']} of "
          f"{gated['looked']} frames")
    print(f"  baseline (off)   : CPU {ungated['cpu']:6.1%} of one core, plates read in {ungated['read']} of "
          f"{ungated['looked']} frames")
    full = await run(demo.GATE_CLIP, demo.LENGTH_S, reader, motion=True)
    first = (full["pulses"][0] - full["t0"]) if full["pulses"] else None
    print(f"demo clip once ({demo.LENGTH_S:g} s, 3 cars), gating on: CPU {full['cpu']:.1%}, plates read in "
          f"{full['read']} of {full['looked']} frames; events {full['events']}")
    print("  resident let in " + (f"{first - demo.CARS[0].start_s:.1f} s after coming into view (at the barrier "
                                  "after 3.5 s)" if first is not None else "never: the reader did not read the plate"))


if __name__ == "__main__":
    asyncio.run(main())
