"""The parking calibration page in a real browser (Debian's Chromium, Playwright) against `edge run` with a parking
camera: refused without a login; with one, select and rename a space, drag a corner, delete a space, draw a new one,
save (the file on disk changes); a self-crossing polygon is refused naming the space, and the file stays. Place,
rename and move an entrance and give the scale: guidance from it reaches the public parking API, in metres."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Gateway
from tests.edge.api.test_parking import parking_gateway, public, wait_for
from tests.edge.web.test_pages import ARTIFACTS, CONTRAST_JS, browser  # noqa: F401 - the fixture

W, H = 1280, 720  # the fixture frame


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    yield ctx.new_page()
    ctx.close()


def at(page: Page, x: float, y: float) -> tuple[float, float]:
    """Image pixels -> page coordinates."""
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    return box["x"] + x / W * box["width"], box["y"] + y / H * box["height"]


def click_image(page: Page, x: float, y: float) -> None:
    page.mouse.click(*at(page, x, y))


def test_draw_edit_delete_and_save(tmp_path: Path, make_gateway: Callable[..., Gateway], page: Page) -> None:
    gw, spaces = parking_gateway(tmp_path, make_gateway)
    page.goto(gw.url + "/staff/parking")
    assert page.locator("#overlay").count() == 0 and page.locator("input#token").is_visible()
    page.fill("#token", gw.token)
    page.click("button[type=submit]")
    page.wait_for_url(gw.url + "/staff/parking")  # back to the page the installer asked for
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    assert page.locator("#overlay polygon").count() == 40

    page.locator("#spaces button", has_text="A-01").click()  # select from the list
    assert page.is_visible("#edit") and page.input_value("#space-id") == "A-01"
    page.fill("#space-id", "X-01")
    page.fill("#space-zone", "X")
    corner = page.locator("#overlay circle[data-vertex='0']")
    box = corner.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(*at(page, 600, 640), steps=5)
    page.mouse.up()

    page.locator("#spaces button", has_text="A-02").click()
    deleted = json.loads(spaces.read_text())["spaces"][1]["polygon"]
    page.click("#delete")
    assert page.locator("#overlay polygon").count() == 39

    page.click("#add")
    for x, y in ((40, 40), (160, 40), (160, 200), (40, 200)):
        click_image(page, x, y)
    page.keyboard.press("Enter")
    assert page.locator("#overlay polygon").count() == 40
    new_id = page.input_value("#space-id")
    page.screenshot(path=_artifact("calibrate.png"))
    page.click("#save")
    page.wait_for_selector("#message .ok", timeout=5000)

    saved = {s["id"]: s for s in json.loads(spaces.read_text())["spaces"]}
    assert len(saved) == 40 and new_id == "A-01"  # the first free id of the zone (A-01 was renamed X-01)
    assert deleted not in [s["polygon"] for s in saved.values()]
    assert saved["X-01"]["zone"] == "X" and abs(saved["X-01"]["polygon"][0][0] - 600) < 3
    drawn = saved[new_id]["polygon"]  # its id: the first free one of the zone
    assert all(abs(a - b) < 1.5 for p, q in zip(drawn, [[40, 40], [160, 40], [160, 200], [40, 200]], strict=True)
               for a, b in zip(p, q, strict=True))

    before = spaces.read_text()
    page.click("#add")
    for x, y in ((300, 40), (400, 200), (400, 40), (300, 200)):  # a bow tie
        click_image(page, x, y)
    page.keyboard.press("Enter")
    bad_id = page.input_value("#space-id")
    page.click("#save")
    page.wait_for_selector("#message .error", timeout=5000)
    message = page.inner_text("#message")
    assert bad_id in message and "crosses itself" in message
    assert spaces.read_text() == before


def test_place_an_entrance_and_the_scale(tmp_path: Path, make_gateway: Callable[..., Gateway], page: Page) -> None:
    gw, spaces = parking_gateway(tmp_path, make_gateway)
    page.goto(gw.url + "/staff/parking")
    page.fill("#token", gw.token)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    first = json.loads(spaces.read_text())["spaces"][0]
    x0, y0 = (sum(p[k] for p in first["polygon"]) / 4 for k in (0, 1))

    page.click("#add-entrance")
    click_image(page, 20, 700)  # placed where clicked, then selected
    assert page.input_value("#entrance-id") == "gate-1"
    page.fill("#entrance-id", "north")
    mark = page.locator("#overlay polygon.entrance").bounding_box()
    assert mark is not None
    page.mouse.move(mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] * 0.6)
    page.mouse.down()
    page.mouse.move(*at(page, x0, y0 + 1), steps=5)  # dragged onto the first space: it is the nearest
    page.mouse.up()
    page.fill("#mpp", "0.05")
    page.screenshot(path=_artifact("calibrate-entrance.png"))
    page.click("#save")
    page.wait_for_selector("#message .ok:has-text('Saved')", timeout=5000)  # not the placing hint

    saved = json.loads(spaces.read_text())
    assert [e["id"] for e in saved["entrances"]] == ["north"] and saved["metres_per_pixel"] == 0.05
    ex, ey = saved["entrances"][0]["point"]
    assert abs(ex - x0) < 3 and abs(ey - y0 - 1) < 3
    body = wait_for(lambda: public(gw), lambda b: any(n["entrance"] == "north" for n in b["nearest"]))
    (north,) = [n for n in body["nearest"] if n["entrance"] == "north"]
    free = {sp["space"] for sp in body["spaces"] if sp["occupied"] is False}
    assert free, body  # the fixture frame has free spaces

    def metres(space: dict) -> float:
        cx, cy = (sum(p[k] for p in space["polygon"]) / len(space["polygon"]) for k in (0, 1))
        return ((cx - ex) ** 2 + (cy - ey) ** 2) ** 0.5 * 0.05

    closest = min((sp for sp in saved["spaces"] if sp["id"] in free), key=metres)
    assert north["space"] == closest["id"] and abs(north["distance_m"] - metres(closest)) <= 0.1


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def test_a_blind_camera_says_so_over_its_picture(tmp_path: Path, make_gateway: Callable[..., Gateway],
                                                 page: Page) -> None:
    gw, _ = parking_gateway(tmp_path, make_gateway)
    moved = ("no space read for 61 s: the camera has moved by [41, -3] px since its space map was drawn: turn it "
             "back, or draw the map again at /staff/parking")
    fault = {"kind": "parking.camera_fault", "source": "lot", "priority": "high",  # as edge/cameras.py raises it
             "data": {"camera": "lot", "source": "frames", "error": moved}}
    assert gw.post([fault]).status_code == 201
    page.goto(gw.url + "/staff/parking")
    page.fill("#token", gw.token)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    assert page.is_visible("#fault") and moved in page.inner_text("#fault")  # the page showed nothing of it
    assert "看不清" in page.inner_text("#fault")
    page.screenshot(path=_artifact("calibrate-blind.png"))
    assert gw.post([{"kind": "parking.camera_ok", "source": "lot", "data": {"camera": "lot"}}]).status_code == 201
    page.click("#refresh")  # its spaces read again: the alert is resolved, and the warning goes
    page.wait_for_selector("#fault", state="hidden", timeout=5000)


def test_the_pages_words_can_be_read_on_its_light_background(tmp_path: Path, make_gateway: Callable[..., Gateway],
                                                           page: Page) -> None:
    gw, _ = parking_gateway(tmp_path, make_gateway)
    page.goto(gw.url + "/staff/parking")
    page.fill("#token", gw.token)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    page.locator("#spaces button", has_text="A-02").click()
    page.fill("#space-id", "A-01")  # two spaces named alike: refused, and the page says so
    page.click("#save")
    page.wait_for_selector("#message .error", timeout=5000)
    # WCAG AA (4.5:1) for a desk screen; the drawing's labels (SVG) have their own outline
    measured = [m for m in page.evaluate(CONTRAST_JS) if not m[0].startswith("text")]
    assert {"P.error", "A."} <= {m[0] for m in measured}  # the refusal and the link back to the console
    assert [m for m in measured if m[2] < 4.5] == []
