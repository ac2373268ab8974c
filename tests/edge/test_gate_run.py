"""The gate in `edge run`: the simulated building's gate camera (the packaged clip, real plate models) opens the
barrier for a resident and logs a visitor; /healthz and /metrics show the camera; `edge doctor` prints a line per
camera, live or opened on the spot."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.config import parse_config
from edge.doctor import Account, DoctorContext, LiveHealth, Status, camera_result, check_cameras
from tests.conftest import Gateway, base_config
from vision import demo

MODELS = Path(demo.__file__).parent.parent / "models"
needs_models = pytest.mark.skipif(
    not (MODELS / "plate_det.onnx").exists(),
    reason="the plate models (vision/models/*.onnx) are made and shipped by the plates work "
           "(vision/training/plates); without them there is nothing to read plates with")


def wait_for(gw: Gateway, kind: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = gw.get("/api/v1/events", params={"kind": kind, "limit": 100}).json()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {kind} in {timeout} s:\n{gw.log.read_text()[-3000:]}")


@needs_models
def test_the_simulated_gate_lets_a_resident_in_and_logs_a_visitor(make_gateway):
    # the demo clip played three times as fast as `edge demo` plays it, so the test takes seconds, not a minute
    gw = make_gateway(simulate={"enabled": True}, gate={
        "cameras": [{"name": "gate", "source": str(demo.GATE_CLIP), "loop": True, "fps": 30,
                     "roi": list(demo.GATE_ROI), "inbound": demo.GATE_INBOUND}],
        "residents": list(demo.RESIDENTS), "check_fps": 15, "motion_hold_s": 1.0, "settle_s": 1.0,
        "end_after_s": 1.0}).start()
    opened = wait_for(gw, "gate.opened")
    assert opened[0]["data"]["plate"] == demo.CARS[0].plate and opened[0]["data"]["direction"] == "entry"
    pulses = wait_for(gw, "relay.pulsed")
    assert pulses[0]["source"] == "gate" and demo.CARS[0].plate in pulses[0]["data"]["reason"]
    visitors = wait_for(gw, "plate.visitor")
    assert visitors[0]["data"]["plate"] == demo.CARS[1].plate
    reads = wait_for(gw, "plate.read")
    assert reads[0]["data"]["plate"] == demo.CARS[0].plate and reads[0]["data"]["decision"] == "opened"
    health = gw.get("/healthz").json()["subsystems"]["gate"]
    camera = health["cameras"]["gate"]
    assert health["ok"] and (camera["width"], camera["height"]) == demo.SIZE and camera["frames"] > 0
    assert 'edge_gate_decisions_total{decision="opened"}' in gw.get("/metrics").text


def test_without_models_or_cameras_the_gate_is_reported_not_hidden(make_gateway, tmp_path):
    gw = make_gateway(gate={"cameras": [{"name": "lane-1", "source": str(tmp_path / "none.mp4")}], "relay": ""})
    gw.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = gw.get("/healthz")
        if r.status_code == 503 and "gate" in r.json()["subsystems"]:
            break
        time.sleep(0.1)
    section = r.json()["subsystems"]["gate"]
    assert r.status_code == 503 and section["ok"] is False  # a configured gate is critical
    assert section["cameras"]["lane-1"]["opened"] is False


# ---- edge doctor ------------------------------------------------------------------------------------------------

def ctx_for(tmp_path: Path, **sections: Any) -> DoctorContext:
    config = parse_config(base_config(tmp_path, **sections), "test", environ={})
    return DoctorContext(tmp_path / "edge.toml", config, [], Account.default(), timeout=2.0)


def test_doctor_prints_a_line_per_camera_from_the_live_gateway(tmp_path):
    ctx = ctx_for(tmp_path, gate={"cameras": [{"name": "in", "source": "rtsp://u:pw@10.0.0.9/1"},
                                              {"name": "out", "source": "1"}], "relay": ""})
    ctx.live = LiveHealth("u", 503, {"status": "degraded", "subsystems": {"gate": {"ok": False, "cameras": {
        "in": {"source": "rtsp://u:***@10.0.0.9/1", "opened": True, "width": 1280, "height": 720, "fps": 12.5,
               "frames": 900, "corrupt": 0, "error": None},
        "out": {"source": "1", "opened": False, "width": None, "height": None, "fps": None, "frames": 0,
                "error": "1: cannot open the device (unplugged, wrong address, refused or not a video)"}}}}})
    first, second = check_cameras(ctx)
    assert first.status is Status.PASS and first.detail == "gate camera in (rtsp://u:***@10.0.0.9/1): open, " \
        "1280x720 at 12.5 fps"
    assert second.status is Status.FAIL and "cannot open the device" in second.detail and "v4l2-ctl" in second.action


def test_doctor_opens_the_cameras_itself_when_no_gateway_answers(tmp_path):
    clip = tmp_path / "lane.avi"
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for i in range(10):
        vw.write(np.full((240, 320, 3), i * 20, np.uint8))
    vw.release()
    ctx = ctx_for(tmp_path, gate={"cameras": [{"name": "in", "source": str(clip)},
                                              {"name": "out", "source": str(tmp_path / "gone.mp4")}], "relay": ""})
    ctx.live = LiveHealth("u", error="[Errno 111] Connection refused")
    found, missing = check_cameras(ctx)
    assert found.status is Status.PASS and re.search(r"open, 320x240 at [\d.]+ fps \(opened here", found.detail)
    assert missing.status is Status.FAIL and "no such video file" in missing.detail


def test_a_camera_losing_many_frames_is_a_warning():
    stats = {"source": "rtsp://cam/1", "opened": True, "width": 640, "height": 360, "fps": 10.0, "frames": 500,
             "corrupt": 40, "error": None}
    result = camera_result("gate", "in", stats)
    assert result.status is Status.WARN and "40 corrupt frames of 540" in result.detail
    assert check_cameras(ctx_for(Path("/tmp"))) == []  # no gate: no camera lines
