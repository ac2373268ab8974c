"""Parking on a real `edge run`: a camera (an image sequence of a real frame) and its map -> the public state and
sign, the summary events, /healthz; the calibration endpoints behind the token: snapshot, a bad map refused
(naming the space, nothing changed), a good map saved and used at once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import requests

from tests.conftest import Gateway
from vision.spaces import dumps, from_pklot_xml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "parking"
FRAME = FIXTURES / "ufpr05_2013-02-22_07_15_01.jpg"


def parking_gateway(folder: Path, make: Callable[..., Gateway]) -> tuple[Gateway, Path]:
    frames = folder / "frames"
    frames.mkdir()
    image = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    for i in range(3):  # three encodings: a live camera never sends one picture twice (the same one is frozen)
        cv2.imwrite(str(frames / f"{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90 - 2 * i])
    spaces = folder / "SPACES.json"
    spaces.write_text(dumps(from_pklot_xml(FRAME.with_suffix(".xml"))))
    gw = make(parking={"cameras": [{"name": "lot", "source": str(frames / "%04d.jpg"), "spaces": str(spaces),
                                    "loop": True, "fps": 4}], "check_s": 0.5, "frames": 1, "summary_s": 5})
    return gw.start(), spaces


def wait_for(fetch: Callable[[], Any], ok: Callable[[Any], bool], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture
def lot(tmp_path: Path, make_gateway: Callable[..., Gateway]) -> Iterator[tuple[Gateway, Path]]:
    yield parking_gateway(tmp_path, make_gateway)


def public(gw: Gateway) -> dict[str, Any]:
    r = requests.get(gw.url + "/api/v1/parking", timeout=5)  # no token: public
    assert r.status_code == 200
    return r.json()


def test_public_state_sign_events_and_health(lot: tuple[Gateway, Path]) -> None:
    gw, _ = lot
    state = wait_for(lambda: public(gw), lambda s: len(s["spaces"]) == 40)
    assert state["zones"] == [{"zone": "A", "free": state["free"], "total": 40, "camera": "lot"}]
    assert 24 <= state["free"] <= 32  # 28 free in the labels; a camera the model has seen
    assert all(set(s) == {"space", "zone", "occupied", "confidence", "camera"} for s in state["spaces"])
    sign = requests.get(gw.url + "/api/v1/parking/sign", timeout=5)
    assert sign.status_code == 200 and sign.headers["content-type"].startswith("text/plain")
    assert sign.text == f"A {state['free']}/40\nFREE {state['free']}\n"
    summaries = wait_for(lambda: gw.get("/api/v1/events?kind=parking.summary").json(), lambda e: e)
    data = summaries[0]["data"]
    assert summaries[0]["source"] == "lot" and data["zones"][0]["total"] == 40 and len(data["spaces"]) == 40
    health = requests.get(gw.url + "/healthz", timeout=5).json()["subsystems"]["parking"]
    assert health["ok"] and health["cameras"]["lot"]["spaces"] == 40 and health["cameras"]["lot"]["ms"] > 0
    assert health["cameras"]["lot"]["cut"] is None  # learnt from one frame a minute: not in the first seconds


def test_calibration_needs_the_token(lot: tuple[Gateway, Path]) -> None:
    gw, spaces = lot
    before = spaces.read_text()
    for method, path in (("get", "/staff/api/parking/cameras"), ("get", "/staff/api/parking/cameras/lot/snapshot"),
                         ("put", "/staff/api/parking/cameras/lot/spaces")):
        r = requests.request(method, gw.url + path, json={"spaces": []}, timeout=5)
        assert r.status_code == 401, path
    assert spaces.read_text() == before
    page = requests.get(gw.url + "/staff/parking", timeout=5)
    assert page.status_code == 200 and 'name="token"' in page.text  # the login form, not the page


def test_snapshot_a_bad_map_refused_and_a_good_one_saved_and_used(lot: tuple[Gateway, Path]) -> None:
    gw, spaces = lot
    snap = wait_for(lambda: gw.get("/staff/api/parking/cameras/lot/snapshot"), lambda r: r.status_code == 200)
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8" and snap.headers["content-type"] == "image/jpeg"
    cams = gw.get("/staff/api/parking/cameras").json()
    assert [c["name"] for c in cams] == ["lot"] and len(cams[0]["map"]["spaces"]) == 40 and cams[0]["width"] == 1280
    before = spaces.read_text()
    doc = json.loads(before)
    bad = {**doc, "spaces": [*doc["spaces"][:2], {"id": "B-09", "zone": "B", "polygon": [[1, 1], [9, 9], [9, 1],
                                                                                          [1, 9]]}]}
    r = requests.put(gw.url + "/staff/api/parking/cameras/lot/spaces", json=bad, headers=gw.auth, timeout=5)
    assert r.status_code == 422
    assert any("B-09" in p and "crosses itself" in p for p in r.json()["detail"]["problems"])
    assert spaces.read_text() == before
    for body in ("not json", "[1, 2]"):
        r = requests.put(gw.url + "/staff/api/parking/cameras/lot/spaces", data=body, headers={
            **gw.auth, "Content-Type": "application/json"}, timeout=5)
        assert r.status_code == 422, body
    beyond = {"spaces": [{"id": "A-01", "zone": "A", "polygon": [[1200, 600], [1300, 600], [1300, 700], [1200, 700]]}]}
    r = requests.put(gw.url + "/staff/api/parking/cameras/lot/spaces", json=beyond, headers=gw.auth, timeout=5)
    assert r.status_code == 422  # no `image` given: checked against the camera's 1280x720 frame
    assert r.json()["detail"]["problems"] == ["spaces[0] (id 'A-01'): polygon point 1 [1300, 600] is outside the "
                                              "image (1280x720)"]
    assert spaces.read_text() == before
    r = requests.put(gw.url + "/staff/api/parking/cameras/nope/spaces", json=doc, headers=gw.auth, timeout=5)
    assert r.status_code == 404
    other = {**doc, "image": {"width": 1920, "height": 1080}}  # drawn on another camera's picture
    r = requests.put(gw.url + "/staff/api/parking/cameras/lot/spaces", json=other, headers=gw.auth, timeout=5)
    assert r.status_code == 422 and r.json()["detail"]["problems"] == [
        "image: the map was drawn on 1920x1080 pixels, but camera 'lot' sends 1280x720 frames"]
    assert spaces.read_text() == before
    good = {"spaces": [{**s, "zone": "B"} for s in doc["spaces"][:5]], "image": {"width": 1280, "height": 720},
            "entrances": [{"id": "north", "point": [640, 0]}], "metres_per_pixel": 0.05}
    r = requests.put(gw.url + "/staff/api/parking/cameras/lot/spaces", json=good, headers=gw.auth, timeout=5)
    assert r.status_code == 200 and r.json()["saved"] == 5
    assert json.loads(spaces.read_text())["entrances"] == [{"id": "north", "point": [640.0, 0.0]}]
    # the zones follow the new map at once, the spaces' states from the next classified frame
    state = wait_for(lambda: public(gw), lambda s: [z["zone"] for z in s["zones"]] == ["B"] and s["spaces"])
    assert state["total"] == 5 and len(state["spaces"]) == 5
    assert [n["entrance"] for n in state["nearest"]] == ["north"]
    assert not list(spaces.parent.glob(".SPACES.json.*"))  # the atomic write left no temporary file


def test_no_parking_camera_is_a_404(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway().start()
    r = requests.get(gw.url + "/api/v1/parking", timeout=5)
    assert r.status_code == 404 and "[parking]" in r.json()["detail"]


def test_the_simulated_car_park_changes_within_the_first_minute(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(simulate={"enabled": True}).start()
    first = wait_for(lambda: public(gw) if requests.get(gw.url + "/api/v1/parking", timeout=5).ok else None,
                     lambda s: s is not None and len(s["spaces"]) == 20)
    assert [z["zone"] for z in first["zones"]] == ["A", "B"] and first["total"] == 20
    assert {n["entrance"] for n in first["nearest"]} == {"west", "east"}
    changes = wait_for(lambda: gw.get("/api/v1/events?kind=parking.space").json(), lambda e: e, seconds=60)
    assert changes and changes[0]["source"] == "carpark"
    assert set(changes[0]["data"]) == {"space", "zone", "occupied", "confidence", "camera"}
    kiosk = requests.get(gw.url + "/api/v1/kiosk", timeout=5).json()["parking"]
    assert [z["zone"] for z in kiosk["zones"]] == ["A", "B"] and kiosk["nearest"]
