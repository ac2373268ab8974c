"""The gate subsystem with a real store and the real GPIO subsystem on gpiozero's MockFactory: residents open the
barrier (the relay pulses), a poor read never does, visitors are logged, one plate.read per passage; camera faults
become alerts; the frame loop gates recognition on motion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.clock import Clock, FakeClock
from edge.config import Config, GateConfig, GpioConfig, SiteConfig, parse_config
from edge.events import Priority
from edge.gate import GateCollector, GateSubsystem, Lane, build, decide, make_lane
from edge.gpio import GpioSubsystem
from edge.store import EventStore
from edge.whitelist import Whitelist
from sensors.gpio import GpioDevices
from tests.conftest import TOKEN
from vision.passage import Passage
from vision.plates import PlateRead

RESIDENT, VISITOR = "湘A12345", "粤B7Q2X5"


def gate_cfg(**kw: Any) -> GateConfig:
    return GateConfig.model_validate({"cameras": [{"name": "gate-1", "source": "/nonexistent.mp4"}],
                                      "residents": [RESIDENT], "relay": "gate", "pulse_s": 0.1, **kw})


def relay_gpio(pins: MockFactory, store: EventStore, clock: FakeClock, name: str = "gate") -> GpioSubsystem:
    cfg = GpioConfig.model_validate({"outputs": [{"name": name, "pin": 26, "role": "relay"}]})
    return GpioSubsystem(cfg, SiteConfig(), GpioDevices.open(cfg, pins), store.emit, clock, factory=pins,
                         factory_kind="mock")


class NoPlates:
    """A recogniser that finds nothing, counting the frames it was given (for the motion gate)."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, image: np.ndarray) -> list[PlateRead]:
        self.calls += 1
        return []


def make_gate(store: EventStore, clock: FakeClock, gpio: GpioSubsystem | None, tmp_path: Path,
              **kw: Any) -> tuple[GateSubsystem, Lane]:
    cfg = gate_cfg(**kw)
    lane = make_lane(cfg, cfg.cameras[0], clock)
    gate = GateSubsystem(cfg, [lane], Whitelist(cfg.residents), store.emit, clock,
                         reader=NoPlates, opener=gpio.pulse if gpio else None)
    return gate, lane


async def drive(gate: GateSubsystem, lane: Lane, plate: str, confidences: list[float], *, t0: float = 0.0,
                step: float = 0.2, down: bool = True) -> None:
    """A car passing the camera: one read per frame with these confidences, moving down (entry) or up, then gone."""
    t = t0
    for i, conf in enumerate(confidences):
        y = 100 + (i if down else len(confidences) - i) * 20
        await gate.handle(lane, lane.tracker.observe([PlateRead(plate, "blue", conf, (300, y, 100, 32))], t))
        t += step
    for _ in range(15):
        await gate.handle(lane, lane.tracker.tick(t))
        t += step


def kinds(store: EventStore, *names: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, dict(e.data)) for e in store.events(limit=1000) if e.kind in names]


async def until(cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    return value


# ---- decisions --------------------------------------------------------------------------------------------------

def passage(conf: float, direction: str = "entry") -> Passage:
    return Passage(RESIDENT, "blue", conf, direction, (0, 0, 100, 32), 0.0, 1.0, 5, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("resident, conf, direction, relay, before, expected", [
    (True, 0.95, "entry", "gate", None, ("opened", "gate")),
    (True, 0.90, "exit", "gate", None, ("opened", "gate")),  # at the threshold is enough
    (True, 0.89, "entry", "gate", None, ("uncertain", None)),  # below it never opens
    (False, 0.99, "entry", "gate", None, ("visitor", None)),
    (False, 0.59, "entry", "gate", None, ("uncertain", None)),  # a glimpse of something: no visitor for staff
    (False, 0.70, "entry", "gate", "uncertain", ("visitor", None)),  # ... until it is read well enough
    (False, 0.50, "entry", "gate", "visitor", ("visitor", None)),
    (True, 0.95, "entry", None, None, ("resident", None)),  # no relay: record only
    (True, 0.95, "entry", "gate", "opened", ("opened", None)),  # once per passage
    (True, 0.95, "entry", "gate", "uncertain", ("opened", "gate")),  # an upgrade opens it
])
def test_decide(resident, conf, direction, relay, before, expected):
    out = decide(passage(conf, direction), resident=resident, cfg=gate_cfg(), relay=relay, before=before)
    assert (out.decision, out.relay) == expected


def test_decide_keeps_the_barrier_shut_for_directions_not_let_through():
    cfg = gate_cfg(open_on=["entry"])
    out = decide(passage(0.99, "exit"), resident=True, cfg=cfg, relay="gate", before=None)
    assert (out.decision, out.relay) == ("not_opened", None)


# ---- passages -> relay and events --------------------------------------------------------------------------------

def test_a_resident_read_surely_pulses_the_relay_and_records_one_read(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)
    relay = pins.pin(26)
    relay.clear_states()

    async def scenario() -> None:
        await drive(gate, lane, RESIDENT, [0.93, 0.95, 0.97, 0.96, 0.94, 0.91, 0.98, 0.95])
        await until(lambda: [s.state for s in relay.states] == [False, True, False])  # closed 0.1 s, then open

    asyncio.run(scenario())
    gpio.close()
    events = kinds(store, "relay.pulsed", "gate.opened", "plate.read", "plate.visitor")
    assert [k for k, _ in events] == ["relay.pulsed", "gate.opened", "plate.read"]
    opened, read = events[1][1], events[2][1]
    assert opened == {"plate": RESIDENT, "color": "blue", "confidence": 0.97, "direction": "entry",
                      "camera": "gate-1", "relay": "gate", "seconds": 0.1}  # decided at the third frame
    assert read["plate"] == RESIDENT and read["confidence"] == 0.98 and read["reads"] == 8  # the best crop
    assert read["decision"] == "opened" and read["resident"] is True and read["direction"] == "entry"
    assert events[0][1]["reason"] == f"resident {RESIDENT} at gate-1"
    assert gate.counts["opened"] == 1 and gate.counts["passages"] == 1


def test_a_resident_at_a_barrier_held_open_leaves_it_held(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)
    relay = pins.pin(26)
    gpio.set_relay("gate", True)  # staff hold the barrier open
    relay.clear_states()
    asyncio.run(drive(gate, lane, RESIDENT, [0.97] * 8))
    time.sleep(0.3)  # the pulse (0.1 s) would have ended by now
    assert [s.state for s in relay.states] == [True]  # still held: the pulse's end did not close it
    gpio.close()
    assert [k for k, _ in kinds(store, "gate.opened", "plate.read")] == ["gate.opened", "plate.read"]


def test_a_resident_read_below_the_threshold_never_opens_the_gate(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path, min_confidence=0.9)
    relay = pins.pin(26)
    relay.clear_states()
    asyncio.run(drive(gate, lane, RESIDENT, [0.85, 0.88, 0.89, 0.86, 0.8, 0.7, 0.88, 0.89, 0.87, 0.85, 0.8, 0.82]))
    time.sleep(0.2)  # a pulse would have shown by now
    gpio.close()
    assert [s.state for s in relay.states] == [False]  # never closed
    events = kinds(store, "relay.pulsed", "gate.opened", "plate.read", "plate.visitor")
    assert [k for k, _ in events] == ["plate.read"]
    assert events[0][1]["decision"] == "uncertain" and events[0][1]["confidence"] == 0.89


def test_a_visitor_is_logged_and_the_gate_stays_shut(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)
    asyncio.run(drive(gate, lane, VISITOR, [0.97] * 8))
    gpio.close()
    events = kinds(store, "relay.pulsed", "gate.opened", "plate.read", "plate.visitor")
    assert [k for k, _ in events] == ["plate.visitor", "plate.read"]
    assert events[0][1] == {"plate": VISITOR, "color": "blue", "confidence": 0.97, "direction": "entry",
                            "camera": "gate-1"}
    assert events[1][1]["decision"] == "visitor" and events[1][1]["resident"] is False


def test_a_resident_read_poorly_at_first_is_let_in_once_the_read_is_sure(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path, settle_s=1.0)
    asyncio.run(drive(gate, lane, RESIDENT, [0.6] * 8 + [0.95] * 4))
    gpio.close()
    events = kinds(store, "gate.opened", "plate.read", "plate.visitor")
    assert [k for k, _ in events] == ["gate.opened", "plate.read"]
    assert events[0][1]["confidence"] == 0.95 and events[1][1]["decision"] == "opened"


def test_a_resident_misread_surely_in_the_first_frame_is_let_in_when_the_vote_flips(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)

    async def scenario() -> None:
        reads = [("湘A12845", 0.95)] + [(RESIDENT, 0.93 + (i > 0) / 100) for i in range(9)]
        for i, (text, conf) in enumerate(reads):
            read = PlateRead(text, "blue", conf, (300, 100 + i * 30, 100, 32))  # decided at the second frame
            await gate.handle(lane, lane.tracker.observe([read], i * 0.2))
        for i in range(30):
            await gate.handle(lane, lane.tracker.tick(2.0 + i * 0.2))

    asyncio.run(scenario())
    gpio.close()
    events = kinds(store, "plate.visitor", "gate.opened", "plate.read")
    assert [k for k, _ in events] == ["plate.visitor", "gate.opened", "plate.read"]
    assert events[1][1]["plate"] == RESIDENT
    read = events[2][1]
    assert (read["plate"], read["resident"], read["decision"]) == (RESIDENT, True, "opened")


def test_a_visitor_read_poorly_at_first_is_logged_once_read_at_the_visitor_confidence(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path, visitor_confidence=0.6)
    asyncio.run(drive(gate, lane, VISITOR, [0.5] * 15 + [0.85] * 8))  # confirmed (settled) at 0.5
    gpio.close()
    events = kinds(store, "plate.visitor", "plate.read")
    assert [k for k, _ in events] == ["plate.visitor", "plate.read"]
    assert events[0][1]["confidence"] == 0.85 and events[1][1]["decision"] == "visitor"


def test_a_resident_read_poorly_then_lost_for_a_moment_is_let_in_when_read_surely(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)

    async def scenario() -> None:
        await drive(gate, lane, RESIDENT, [0.8] * 10)  # uncertain; gone from view for a few seconds
        await drive(gate, lane, RESIDENT, [0.97] * 10, t0=12.0)  # back, within same_plate_s, read surely

    asyncio.run(scenario())
    gpio.close()
    events = kinds(store, "gate.opened", "plate.read")
    assert [(k, d.get("decision")) for k, d in events] == [("plate.read", "uncertain"), ("gate.opened", None),
                                                          ("plate.read", "opened")]


def test_a_whitelist_push_takes_effect_at_once(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path)

    async def scenario() -> None:
        await drive(gate, lane, VISITOR, [0.97] * 6)
        assert gate.whitelist.replace([VISITOR.lower()], clock.utcnow()) == {"plates": 1, "total": 2}
        await drive(gate, lane, VISITOR, [0.97] * 6, t0=100.0)

    asyncio.run(scenario())
    gpio.close()
    assert [k for k, _ in kinds(store, "plate.visitor", "gate.opened")] == ["plate.visitor", "gate.opened"]


def test_a_relay_that_cannot_pulse_raises_an_alert(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock, name="barrier")  # the gate names a relay the GPIO does not have
    gate, lane = make_gate(store, clock, gpio, tmp_path)
    asyncio.run(drive(gate, lane, RESIDENT, [0.97] * 6))
    gpio.close()
    (_, failed), = kinds(store, "gate.open_failed")
    assert failed["plate"] == RESIDENT and "no relay named 'gate'" in failed["error"]
    [alert] = store.alerts(state="open")
    assert alert.kind == "gate.open_failed" and alert.priority is Priority.HIGH
    assert kinds(store, "plate.read")[0][1]["decision"] == "not_opened"


# ---- a car standing in view --------------------------------------------------------------------------------------

class SeesCar:
    """A recogniser that reads RESIDENT on the bright block (the car) wherever it is in the picture."""

    def read(self, image: np.ndarray) -> list[PlateRead]:
        ys, xs = np.nonzero(image[:, :, 0] > 200)
        if not len(ys):
            return []
        x, y, w, h = int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
        return [PlateRead(RESIDENT, "blue", 0.95, (x + w // 4, y + h - 20, w // 2, 16))]


def lane_frame(car_y: int | None) -> np.ndarray:
    img = np.full((180, 320, 3), 90, np.uint8)
    if car_y is not None and car_y < 180:
        img[max(car_y, 0): car_y + 60, 100:220] = 230
    return img


async def film(gate: GateSubsystem, lane: Lane, car_ys: list[int | None], t0: float) -> float:
    """Each position of the car is one looked-at frame, 0.2 s apart, through the lane's motion gate and tracker."""
    t = t0
    for y in car_ys:
        await gate.handle(lane, gate._look(lane, lane_frame(y), t))
        t += 0.2
    return t


@pytest.mark.parametrize("hold_s", [3.0, 0.0])  # 0: still read end_after_s after motion, or a car never leaves
def test_a_car_waiting_in_view_without_reads_is_one_passage_and_a_later_visit_another(pins, store, clock, tmp_path,
                                                                                      hold_s):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path, motion_hold_s=hold_s)
    gate._model = SeesCar()

    async def scenario() -> None:
        t = await film(gate, lane, [None] * 5 + list(range(-40, 40, 8)), 0.0)  # comes in: let in
        t = await film(gate, lane, [40] * 300, t)  # waits a minute, standing still: nothing moves, nothing read
        t = await film(gate, lane, list(range(40, 200, 8)) + [None] * 150, t)  # drives on and away; 30 s empty
        await film(gate, lane, list(range(-40, 40, 8)) + [40] * 10 + list(range(40, 200, 8)) + [None] * 50, t)

    asyncio.run(scenario())
    gpio.close()
    events = kinds(store, "gate.opened", "plate.read")
    assert [k for k, _ in events] == ["gate.opened", "plate.read", "gate.opened", "plate.read"]  # one opening a visit
    assert events[1][1]["duration_s"] > 60  # the first visit is one passage, waiting included


# ---- the frame loop ---------------------------------------------------------------------------------------------

def write_clip(path: Path, n: int = 40, moving_from: int = 20) -> Path:
    """A still lane for `moving_from` frames, then a bright block driving down it."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50, (320, 180))
    for i in range(n):
        img = np.full((180, 320, 3), 90, np.uint8)
        if i >= moving_from:
            y = (i - moving_from) * 8
            img[y: y + 60, 100:220] = 230
        vw.write(img)
    vw.release()
    return path


def test_the_loop_reads_plates_only_while_something_moves(store, tmp_path):
    cfg = gate_cfg(cameras=[{"name": "gate-1", "source": str(write_clip(tmp_path / "lane.avi")), "loop": False}],
                   check_fps=30, motion_hold_s=0.0)
    reader = NoPlates()
    gate = GateSubsystem(cfg, [make_lane(cfg, cfg.cameras[0], Clock())], Whitelist([]), store.emit, Clock(),
                         reader=lambda: reader)

    async def scenario() -> None:
        task = asyncio.create_task(gate.run())
        await until(lambda: gate.lanes[0].stream.counts["frames"] >= 40)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    lane = gate.lanes[0]
    assert lane.counts["looked"] >= 10 and 0 < reader.calls < lane.counts["looked"]
    assert reader.calls == lane.counts["read"]
    health = gate.health()["cameras"]["gate-1"]
    assert (health["width"], health["height"]) == (320, 180) and health["frames"] >= 40
    assert lane.stream.opened is False  # released when the task stopped


def test_without_motion_gating_every_looked_at_frame_is_read(store, tmp_path):
    cfg = gate_cfg(cameras=[{"name": "gate-1", "source": str(write_clip(tmp_path / "lane.avi")), "loop": True}],
                   motion=False, check_fps=30)
    reader = NoPlates()
    gate = GateSubsystem(cfg, [make_lane(cfg, cfg.cameras[0], Clock())], Whitelist([]), store.emit, Clock(),
                         reader=lambda: reader)

    async def scenario() -> None:
        task = asyncio.create_task(gate.run())
        await until(lambda: gate.lanes[0].counts["looked"] >= 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert reader.calls == gate.lanes[0].counts["looked"]


def test_a_camera_without_frames_raises_an_alert_and_its_return_closes_it(store, clock, tmp_path):
    clip = tmp_path / "lane.avi"
    cfg = gate_cfg(cameras=[{"name": "gate-1", "source": str(clip), "loop": True}])
    lane = make_lane(cfg, cfg.cameras[0], clock)
    lane.stream.backoff_base_s = lane.stream.backoff_cap_s = 0.05
    gate = GateSubsystem(cfg, [lane], Whitelist([]), store.emit, clock, reader=NoPlates)

    async def scenario() -> None:
        task = asyncio.create_task(gate.run())
        await until(lambda: lane.stream.counts["open_failures"] >= 1)
        clock.advance(61)
        await until(lambda: kinds(store, "gate.camera_fault"))
        assert store.alerts(state="open")[0].kind == "gate.camera_fault"
        assert gate.health()["ok"] is False
        write_clip(clip)  # the camera is back
        await until(lambda: kinds(store, "gate.camera_ok"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    (_, fault), = kinds(store, "gate.camera_fault")
    assert fault["camera"] == "gate-1" and "no such video file" in fault["error"]
    assert store.alerts(state="open") == []  # camera_ok resolved it


def test_metrics_collect_decisions_and_camera_frames(store, clock, tmp_path):
    gate, lane = make_gate(store, clock, None, tmp_path)
    names = {m.name for m in GateCollector(gate).collect()}
    assert names == {"edge_gate_decisions", "edge_gate_open_failures", "edge_gate_camera_frames",
                     "edge_gate_camera_up"}


def decisions_metric(gate: GateSubsystem) -> dict[str, float]:
    (family,) = [m for m in GateCollector(gate).collect() if m.name == "edge_gate_decisions"]
    return {s.labels["decision"]: s.value for s in family.samples}


def test_each_passage_is_counted_once_under_its_final_decision(pins, store, clock, tmp_path):
    gpio = relay_gpio(pins, store, clock)
    gate, lane = make_gate(store, clock, gpio, tmp_path, settle_s=1.0)
    asyncio.run(drive(gate, lane, RESIDENT, [0.6] * 8 + [0.95] * 4))  # uncertain at first, then let in
    gpio.close()
    assert [r["decision"] for _, r in kinds(store, "plate.read")] == ["opened"]
    assert decisions_metric(gate) == {"opened": 1, "visitor": 0, "uncertain": 0, "not_opened": 0, "resident": 0}
    assert gate.counts["uncertain"] == 0 and gate.counts["passages"] == 1


# ---- building it from the configuration -------------------------------------------------------------------------

def config(tmp_path: Path, **sections: Any) -> Config:
    doc = {"device_id": "t-gw1", "building_id": "b01", "storage": {"path": str(tmp_path / "edge.db")},
           "api": {"token": TOKEN}, **sections}
    return parse_config(doc, "edge.toml", {})


def test_build_uses_the_gate_section(store, clock, tmp_path):
    cfg = config(tmp_path, gate={"cameras": [{"source": "0"}], "residents": ["湘A·12345"], "relay": ""})
    gate = build(cfg, store.emit, clock, opener=None, reader=NoPlates)
    assert gate is not None and RESIDENT in gate.whitelist and gate.lanes[0].relay is None
    assert build(config(tmp_path), store.emit, clock, opener=None) is None  # no [gate], no simulation


def test_the_simulated_gate_plays_the_packaged_clip_with_the_demo_relay(store, clock, tmp_path):
    from vision import demo

    gate = build(config(tmp_path, simulate={"enabled": True}), store.emit, clock, opener=None, reader=NoPlates)
    assert gate is not None
    (lane,) = gate.lanes
    assert lane.stream.source == str(demo.GATE_CLIP) and lane.stream.loop and lane.relay == "gate"
    assert demo.GATE_CLIP.stat().st_size < 2_000_000
    assert set(demo.RESIDENTS) <= {p for p in demo.RESIDENTS if p in gate.whitelist}
