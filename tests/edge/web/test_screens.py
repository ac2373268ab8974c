"""The kiosk and the staff console as residents and staff see them, in Debian's Chromium (Playwright) against
`edge run`: what a review of the simulated building found cut, crowded or unexplained, checked by the layout
(getBoundingClientRect), the text and the classes; no pixel comparisons."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.edge.web.building import BUSY, KIOSK, parking
from tests.edge.web.test_pages import ARTIFACTS, CONTRAST_JS, LAYOUT_JS, browser, open_page  # noqa: F401 - fixtures


def notice(i: int) -> dict[str, Any]:
    return {"kind": "kiosk.notice", "source": "api",
            "data": {"id": f"short-{i}", "zh": f"第 {i} 条：周六上午义诊。", "en": f"Notice {i}: check-ups."}}


def test_short_notices_that_fit_are_shown_together_not_one_at_a_time(make_gateway, open_page):  # noqa: F811
    gw = make_gateway(kiosk=KIOSK).start()
    assert gw.post([parking(12), *(notice(i) for i in range(1, 4))]).status_code == 201
    page = open_page(gw.url + "/", "portrait")
    page.wait_for_function("() => document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    # three one-line notices take three lines of a card with room for six: all at once, no turns, no parts
    assert page.locator("#notices li").count() == 3
    assert page.locator("#notices li.parts").count() == 0 and page.inner_text("#pager") == ""


LAYOUT_CLEAN = """() => [...document.querySelectorAll('.card, .zone, .zone .name, .guide p')]
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className || e.textContent)"""


def test_zones_and_spaces_with_ids_as_long_as_a_map_allows_keep_their_names(make_gateway, open_page):  # noqa: F811
    east, west = "Underground-Level-2-East", "Underground-Level-2-West"  # the same first 20 characters
    space = "Underground-Level-2-East-Wing-0017"  # 34: a map takes ids of up to 40
    places = {**KIOSK["places"], east: {"zh": "地下二层东区", "en": "Level -2 east", "arrow": "left"},
              west: {"zh": "地下二层西区", "en": "Level -2 west", "arrow": "right"}}
    gw = make_gateway(kiosk={**KIOSK, "places": places}).start()
    summary = {"kind": "parking.summary", "source": "cam-1", "data": {
        "zones": [{"zone": east, "free": 3, "total": 40}, {"zone": west, "free": 5, "total": 40}],
        "nearest": [{"entrance": "north", "space": space, "zone": east, "distance_m": 60}]}}
    assert gw.post([summary]).status_code == 201
    page = open_page(gw.url + "/", "portrait")
    page.wait_for_function("() => document.querySelectorAll('#zones li').length > 0", timeout=10_000)
    # two zones, not one summed under a cut id; each under its configured name; the space named in full
    zones = page.eval_on_selector_all("#zones li", "els => els.map(e => [e.dataset.zone, e.querySelector('.name')"
                                                    ".textContent, e.querySelector('.free').textContent])")
    assert zones == [[east, "地下二层东区", "3"], [west, "地下二层西区", "5"]]
    assert f"{space} 地下二层东区" in page.inner_text("#guide")
    assert page.evaluate(LAYOUT_CLEAN) == []


# Each zone tile: its parts (name, arrow, count) inside it and apart from each other, no text running out of it, and
# no two tiles over each other.
TILES_JS = """() => {
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1
    && a.bottom <= b.bottom + 1;
  const apart = (a, b) => a.right <= b.left + 1 || b.right <= a.left + 1 || a.bottom <= b.top + 1
    || b.bottom <= a.top + 1;
  const tiles = [...document.querySelectorAll('#zones .zone')];
  const boxes = tiles.map(t => t.getBoundingClientRect());
  const wrong = [];
  tiles.forEach((t, i) => {
    const parts = [...t.querySelectorAll('.name, svg.arrow, .count')].filter(e => e.getClientRects().length)
      .map(e => [e, e.getBoundingClientRect()]);  // a full zone's arrow is hidden
    parts.forEach(([e, r]) => { if (!inside(r, boxes[i])) wrong.push(`${t.dataset.zone} ${e.tagName} outside`); });
    const [name, arrow] = [parts.find(p => p[0].matches('.name')), parts.find(p => p[0].matches('svg'))];
    for (const line of name ? name[0].getClientRects() : []) {
      if (arrow && !apart(line, arrow[1])) wrong.push(t.dataset.zone + ' name over the arrow');
    }
    if (t.scrollWidth > t.clientWidth + 1) wrong.push(t.dataset.zone + ' runs over');
    boxes.forEach((b, j) => { if (j > i && !apart(boxes[i], b)) wrong.push(t.dataset.zone + ' over another'); });
  });
  return wrong;
}"""


@pytest.mark.parametrize("size", ["portrait", "landscape"])
def test_english_zone_names_with_long_words_stay_in_their_tiles(make_gateway, open_page, size):  # noqa: F811
    places = {**KIOSK["places"], "A": {"zh": "地面 A 区", "en": "Surface car park A", "arrow": "left"},
              "B": {"zh": "地下 B 区", "en": "Underground car park B", "arrow": "ahead-right"},
              "C": {"zh": "C 区", "en": "Underground C", "arrow": "right"},
              "D": {"zh": "D 区", "en": "Visitors' parking", "arrow": "back"}}
    gw = make_gateway(kiosk={**KIOSK, "places": places}).start()
    assert gw.post(BUSY).status_code == 201  # four zones, seven bins, six faults, notices
    page = open_page(gw.url + "/?lang=en", size)
    page.wait_for_function("() => document.querySelectorAll('#zones li').length === 4"
                           " && document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"kiosk-long-names-{size}-en.png")
    assert page.evaluate(TILES_JS) == []
    layout = page.evaluate(LAYOUT_JS)  # and the cards still fit the screen, apart from the emergency numbers
    assert layout["clipped"] == [] and layout["outside"] == [] and layout["overlapping"] == []
    assert "Underground car park B" in page.inner_text("#zones")


@pytest.mark.parametrize("size", ["portrait", "landscape"])
def test_the_buildings_name_is_shown_whole_beside_the_clock(make_gateway, open_page, size):  # noqa: F811
    gw = make_gateway(kiosk={**KIOSK, "title_en": "Xingfuli Community, Building 7"}).start()  # the demo's name
    assert gw.post([parking(12)]).status_code == 201
    page = open_page(gw.url + "/?lang=en", size)
    page.wait_for_function("() => document.querySelector('#building').textContent.startsWith('Xingfuli')",
                           timeout=10_000)
    title = page.evaluate("""() => { const h = document.getElementById('building'), r = document.createRange();
      r.selectNodeContents(h);
      const a = r.getBoundingClientRect(), b = h.getBoundingClientRect(), c = document.getElementById('clock')
        .getBoundingClientRect();
      const line = parseFloat(getComputedStyle(h).lineHeight);  // the glyphs reach a little past their lines
      return {inside: a.right <= b.right + 1 && a.bottom <= b.bottom + line / 2,
              wide: h.scrollWidth <= h.clientWidth + 1, apart: b.right <= c.left}; }""")
    assert title == {"inside": True, "wide": True, "apart": True}
    assert page.evaluate(LAYOUT_JS)["overlapping"] == []


def blind(source: str, zones: dict[str, int]) -> dict[str, Any]:
    """A blind camera's summary (edge/parking.py): its zones with nothing free, no guidance, and why."""
    return {"kind": "parking.summary", "source": source, "data": {
        "zones": [{"zone": z, "free": 0, "total": n} for z, n in zones.items()], "nearest": [],
        "error": "no space read for 61 s: the camera sends the same picture again and again (frozen)"}}


def test_a_blind_cameras_zones_stay_on_the_kiosk_said_to_be_not_counted(make_gateway, open_page):  # noqa: F811
    places = {**KIOSK["places"], "C": {"zh": "地下 C 区", "en": "Basement C"}}
    gw = make_gateway(kiosk={**KIOSK, "places": places}).start()
    cam2 = {"kind": "parking.summary", "source": "cam-2", "data": {"zones": [{"zone": "C", "free": 6, "total": 20}],
                                                                   "nearest": []}}
    assert gw.post([parking(12, 3), cam2, blind("cam-2", {"C": 20})]).status_code == 201
    page = open_page(gw.url + "/", "portrait")
    page.wait_for_function("() => document.querySelectorAll('#zones li').length === 3", timeout=10_000)
    tiles = page.eval_on_selector_all("#zones li", "els => els.map(e => [e.className, e.innerText"
                                                   ".replace(/\\s+/g, ' ').trim()])")
    # C is neither 'full' nor free, nor gone: residents who park there read that it is not counted just now
    assert tiles[2] == ["zone unknown", "地下 C 区 暂时无法统计"]
    assert [t[0] for t in tiles[:2]] == ["zone", "zone"] and "A-07" in page.inner_text("#guide")
    assert [m for m in page.evaluate(CONTRAST_JS) if m[2] < 7] == []
    assert gw.post([blind("cam-1", {"A": 40, "B": 24})]).status_code == 201  # every camera blind
    page.wait_for_function("() => document.querySelectorAll('#zones li.unknown').length === 3", timeout=5000)
    assert page.inner_text("#guide") == "摄像头暂时看不清，空位稍后显示"  # not 'no parking data yet'
    assert page.evaluate(LAYOUT_JS)["clipped"] == []
    # the staff console's parking table says why C has no count
    zone_c = next(z for z in requests.get(gw.url + "/api/v1/kiosk", timeout=5).json()["parking"]["zones"]
                  if z["zone"] == "C")
    assert zone_c["free"] is None and zone_c["total"] == 20
    staff = open_page(gw.url + "/staff")
    staff.fill("#token", gw.token)
    staff.click("button[type=submit]")
    staff.wait_for_selector("#zones-list tr")
    assert "地下 C 区 摄像头看不清 20" in staff.inner_text("#zones-list").replace("\t", " ")


MOVED = ("no space read for 61 s: the camera has moved by [41, -3] px since its space map was drawn: turn it back, "
         "or draw the map again at /staff/parking")
FAULTS: list[dict[str, Any]] = [  # each as its subsystem raises it (README: the kinds and their data)
    {"kind": "parking.camera_fault", "source": "carpark", "priority": "high",
     "data": {"camera": "carpark", "source": "rtsp://10.0.0.9/", "error": MOVED}},
    {"kind": "gate.camera_fault", "source": "gate", "priority": "high",
     "data": {"camera": "gate", "source": "rtsp://10.0.0.8/", "error": None}},
    {"kind": "gateway.disk_full", "source": "store", "priority": "high", "data": {"path": "/var/lib/edge-gateway"}},
    {"kind": "gate.open_failed", "source": "gate", "priority": "high",
     "data": {"plate": "湘A12345", "relay": "gate", "error": "relay gate is closed"}},
    {"kind": "sync.upstream_refused", "source": "sync", "priority": "high",
     "data": {"status": 401, "reason": "401 Unauthorized"}},
    {"kind": "wristband.missing", "source": "band-b0000002", "priority": "high",
     "data": {"band": "b0000002", "flat": "1-102", "silent_hours": 0.01}},
    {"kind": "vendor.pump_pressure_out_of_range", "source": "pump-2", "priority": "high", "data": {}},
]


def test_every_alert_on_the_staff_console_says_what_and_why_at_a_glance(make_gateway, open_page):  # noqa: F811
    gw = make_gateway(kiosk=KIOSK).start()
    assert gw.post(FAULTS).status_code == 201
    page = open_page(gw.url + "/staff")
    page.fill("#token", gw.token)
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#alert-list li.alert').length === 7")
    shown = {li.get_attribute("data-alert"): (li.locator(".kind").inner_text(), li.locator(".where").inner_text())
             for li in page.locator("#alert-list li.alert").all()}
    by_kind = {a["kind"]: shown[str(a["id"])] for a in gw.get("/api/v1/alerts").json()}
    # every kind the gateway raises has its Chinese name (the raw kind showed for these)
    assert {k: v[0] for k, v in by_kind.items() if k != "vendor.pump_pressure_out_of_range"} == {
        "parking.camera_fault": "车场摄像头故障", "gate.camera_fault": "道闸摄像头故障",
        "gateway.disk_full": "存储空间已满", "gate.open_failed": "道闸未能打开",
        "sync.upstream_refused": "中心拒绝网关", "wristband.missing": "手环失联"}
    # and says why: a blind camera's reason (it showed only 'carpark' twice), a camera without frames, the full disk
    camera = by_kind["parking.camera_fault"][1]
    assert "摄像头被移动，需重新标定车位" in camera and MOVED in camera
    assert "没有画面" in by_kind["gate.camera_fault"][1]
    disk = by_kind["gateway.disk_full"][1].split("\n")
    assert disk[0] == "网关存储" and "目录 /var/lib/edge-gateway" in disk[1]
    assert "车牌 湘A12345" in by_kind["gate.open_failed"][1] and "HTTP 401" in by_kind["sync.upstream_refused"][1]
    assert "1 分钟未收到" in by_kind["wristband.missing"][1]  # not '0.01 小时未收到'
    # a kind it has no name for is shown as it is, inside its column, not over the place beside it
    overlaps = page.evaluate("""() => [...document.querySelectorAll('#alert-list li.alert')].filter(li => {
      const k = li.querySelector('.kind').getBoundingClientRect();
      return k.right > li.querySelector('.where').getBoundingClientRect().left; })
      .map(li => li.querySelector('.kind').textContent)""")
    assert overlaps == []
