"""The kiosk and the staff console in a real browser (Debian's Chromium, driven by Playwright) against `edge run`
on a simulated building. Screenshots go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import REPO, Gateway
from tests.edge.web.building import BUSY, DRILL, KIOSK, PRIVATE, SCENE, gateway, history, parking

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "tests" / "artifacts"
SIZES = {"portrait": (1080, 1920), "landscape": (1920, 1080)}
FULL_PLATE = re.compile(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{5,6}")
LIVE_S = 2.0  # the bound: an event shows on the page within two seconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is missing: `sh tests/system-deps.sh` as root installs it (make test does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def building(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One simulated building for the tests that do not stop it."""
    gw = gateway(tmp_path_factory.mktemp("building"), simulate={"enabled": True, "parking": False}).start()
    assert gw.post(history()).status_code == 201
    assert gw.post(SCENE).status_code == 201
    yield gw
    gw.stop()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    contexts = []

    def open_(url: str, size: str = "landscape") -> Page:
        width, height = SIZES[size]
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(url)
        return page

    yield open_
    for ctx in contexts:
        ctx.close()


# Conditions are written as functions: the page's Content-Security-Policy forbids eval, which Playwright would use
# for a bare expression.


def wait_rendered(page: Page) -> None:
    page.wait_for_function("() => document.querySelectorAll('#zones li').length > 0"
                           " && document.querySelector('#lights [data-light]') !== null", timeout=10_000)


def free_of(page: Page, zone: str) -> str:
    return page.inner_text(f"#zones [data-zone='{zone}'] .free")


LAYOUT_JS = """() => {
  const d = document.documentElement;
  const areas = [...document.querySelectorAll('.top, .card, .phones')];
  const boxes = areas.map(e => e.getBoundingClientRect());
  const clipped = [...document.querySelectorAll('.card')]
    .filter(e => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1).map(e => e.className)
    .concat([...document.querySelectorAll('.zone')].filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.dataset.zone));
  const outside = areas.filter((e, i) => boxes[i].top < 0 || boxes[i].left < 0 || boxes[i].bottom > innerHeight + 0.5
    || boxes[i].right > innerWidth + 0.5).map(e => e.className);
  const overlapping = [];
  boxes.forEach((a, i) => boxes.forEach((b, j) => { if (i < j && a.left < b.right - 1 && b.left < a.right - 1
    && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlapping.push([areas[i].className, areas[j].className]); }));
  return {scroll: [d.scrollWidth, d.scrollHeight, innerWidth, innerHeight], clipped, outside, overlapping,
          lang: d.lang};
}"""


@pytest.mark.parametrize("size", ["portrait", "landscape"])
def test_the_kiosk_fits_the_screen_in_both_orientations(building, open_page, size):
    page = open_page(building.url + "/", size)
    wait_rendered(page)
    page.wait_for_function("() => document.querySelector('#entry').hidden === false", timeout=5000)
    layout = page.evaluate(LAYOUT_JS)
    width, height = SIZES[size]
    assert layout["scroll"] == [width, height, width, height]  # nothing to scroll
    assert layout["clipped"] == [] and layout["outside"] == [] and layout["overlapping"] == []
    assert layout["lang"] == "zh-CN"
    state = requests.get(building.url + "/api/v1/kiosk", timeout=5).json()
    assert free_of(page, "A") == str(state["parking"]["zones"][0]["free"])
    text = page.inner_text("body")
    for shown in ("空余车位", "地面 A 区", "最近空位", "A-07", "湘A·***45", "3 楼走廊灯", "已报修", "清运中", "110",
                  "119", "120", "义诊和理发"):
        assert shown in text, shown
    assert page.locator("#zones [data-zone='A'] svg.arrow").get_attribute("aria-label") == "左转"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"kiosk-{size}.png")
    page.click("#lang")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert "Free parking" in page.inner_text("body") and "Surface A" in page.inner_text("body")
    assert page.evaluate(LAYOUT_JS)["clipped"] == []
    page.screenshot(path=ARTIFACTS / f"kiosk-{size}-en.png")


def test_a_visitors_english_is_not_kept_and_goes_back_to_chinese_by_itself(building, open_page):
    page = open_page(building.url + "/")
    page.clock.install()
    wait_rendered(page)
    page.click("#lang")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.clock.fast_forward(61_000)  # a minute untouched
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    page.click("#lang")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.reload()  # the kiosk's browser keeps its profile across reboots: the choice must not be in it
    wait_rendered(page)
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    for odd in ("constructor", "__proto__", "toString", "fr"):  # not languages: Chinese, with every label
        page.goto(f"{building.url}/?lang={odd}")
        wait_rendered(page)
        assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
        assert "空余车位" in page.inner_text("body")


@pytest.mark.parametrize("size", ["portrait", "landscape"])
def test_a_busy_day_still_fits_with_the_rest_said_to_be_more(make_gateway, open_page, size):
    gw = make_gateway(kiosk=KIOSK).start()
    assert gw.post(BUSY).status_code == 201
    page = open_page(gw.url + "/", size)
    page.wait_for_function("() => document.querySelectorAll('#zones li').length === 4"
                           " && document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"kiosk-busy-{size}.png")
    layout = page.evaluate(LAYOUT_JS)
    assert layout["clipped"] == [] and layout["outside"] == [] and layout["overlapping"] == []
    shown = page.locator("#lights [data-light]").count()
    assert 1 <= shown <= 6
    if shown < 6:
        assert page.inner_text("#lights .more") == f"另有 {6 - shown} 处"
    assert page.locator("#bins [data-bin]").count() + int(
        (page.inner_text("#bins .more") if page.locator("#bins .more").count() else "另有 0 个")[3:-2]) == 7


CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(c => { c /= 255; return c <= 0.03928 ? c / 12.92
    : ((c + 0.055) / 1.055) ** 2.4; }).reduce((a, c, i) => a + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  for (const e of document.querySelectorAll('body *')) {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const fg = lum(rgb(getComputedStyle(e).color)), bg = lum(background(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    out.push([e.tagName + '.' + e.className, e.textContent.trim().slice(0, 20), Math.round(ratio * 10) / 10]);
  }
  return out;
}"""


def test_every_text_on_the_kiosk_has_a_contrast_of_at_least_7_to_1(building, open_page):
    page = open_page(building.url + "/", "landscape")
    wait_rendered(page)
    measured = page.evaluate(CONTRAST_JS)
    assert len(measured) > 20  # the check saw the page's texts
    assert [m for m in measured if m[2] < 7] == []
    chips = {m[0] for m in measured}
    assert {"SPAN.chip nearly_full", "SPAN.chip emptying", "SPAN.chip reported"} <= chips


def test_a_new_event_shows_within_two_seconds_without_a_reload(building, open_page):
    page = open_page(building.url + "/", "portrait")
    wait_rendered(page)
    page.evaluate("window.stillTheSamePage = true")
    before = int(free_of(page, "A"))
    target = 5 if before != 5 else 6
    started = time.monotonic()
    assert building.post(parking(target, 2)).status_code == 201
    page.wait_for_function(f"() => document.querySelector(\"#zones [data-zone='A'] .free\").textContent === '{target}'",
                           timeout=LIVE_S * 1000)
    assert time.monotonic() - started < LIVE_S
    assert free_of(page, "B") == "2"
    light = "#lights [data-light='light-3f'] .chip"
    assert page.inner_text(light) == "已报修"
    alert = next(a for a in building.get("/api/v1/alerts").json() if a["source"] == "light-3f")
    requests.post(f"{building.url}/api/v1/alerts/{alert['id']}/ack", headers=building.auth, timeout=5)
    page.wait_for_function(f"() => document.querySelector(\"{light}\").textContent === '维修中'", timeout=LIVE_S * 1000)
    assert page.evaluate("window.stillTheSamePage") is True


def test_the_kiosk_recovers_by_itself_after_the_gateway_restarts(make_gateway, open_page):
    gw = make_gateway(simulate={"enabled": True, "parking": False}, kiosk=KIOSK).start()
    assert gw.post([parking(12), *SCENE[6:7]]).status_code == 201
    page = open_page(gw.url + "/", "landscape")
    wait_rendered(page)
    page.evaluate("window.stillTheSamePage = true")
    assert free_of(page, "A") == "12" and "live" in page.get_attribute("#status", "class")
    gw.stop()
    page.wait_for_function("() => document.querySelector('#status').classList.contains('down')", timeout=10_000)
    assert free_of(page, "A") == "12"  # the last known state stays on the screen meanwhile
    gw.start()
    assert gw.post(parking(3)).status_code == 201
    page.wait_for_function("() => document.querySelector(\"#zones [data-zone='A'] .free\").textContent === '3'",
                           timeout=15_000)
    assert "live" in page.get_attribute("#status", "class")
    assert page.evaluate("window.stillTheSamePage") is True


def test_the_staff_console_refuses_without_the_token_and_acknowledges_with_it(building, open_page):
    page = open_page(building.url + "/staff", "landscape")
    assert page.locator("#alert-list").count() == 0 and page.locator("input#token").is_visible()
    assert page.evaluate("fetch('/staff/api/overview').then(r => r.status)") == 401
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "staff-login.png")
    page.fill("#token", "not-the-token-at-all")
    page.click("button[type=submit]")
    assert "口令不对" in page.inner_text("[role=alert]")
    assert page.locator("#alert-list").count() == 0
    page.fill("#name", "李梅")
    page.fill("#token", building.token)
    page.click("button[type=submit]")
    page.wait_for_selector("#alert-list li.alert")
    cookie = next(c for c in page.context.cookies() if c["name"] == "edge_staff")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and building.token not in cookie["value"]
    assert "edge_staff" not in page.evaluate("document.cookie")
    classes = page.eval_on_selector_all("#alert-list li.alert", "els => els.map(e => e.className)")
    assert classes == sorted(classes, key=lambda c: "critical" not in c)  # SOS first
    ours = page.locator("#alert-list li.alert", has_text="3-201 室")
    assert "critical" in ours.get_attribute("class") and "紧急呼救" in ours.inner_text()
    fall = {"kind": "wristband.fall", "source": "band-0000fa11", "priority": "critical", "data": {"flat": "9-909"}}
    assert building.post([fall]).status_code == 201
    fallen = page.locator("#alert-list li.alert", has_text="9-909 室")
    fallen.wait_for()
    assert "critical" in fallen.get_attribute("class") and "跌倒报警" in fallen.inner_text()
    first = page.locator("#alert-list li.alert").first
    page.wait_for_selector("#chart-bins svg, #chart-bins .nodata")
    page.screenshot(path=ARTIFACTS / "staff.png", full_page=True)
    sos = first.get_attribute("data-alert")
    # by keyboard alone: the skip link, then the first button of the alerts, a critical one (SOS or fall)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.ack") == sos
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => !document.querySelector('#alert-list li[data-alert=\"{sos}\"]')", timeout=5000)
    acked = building.get("/api/v1/alerts", params={"state": "acked"}).json()
    assert any(str(a["id"]) == sos and a["acked_by"] == "李梅" for a in acked)


def test_the_public_page_and_its_json_show_no_health_data_and_no_full_plate(building, browser):
    requested: list[str] = []
    ctx = browser.new_context(viewport={"width": 1080, "height": 1920})
    page = ctx.new_page()
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(building.url + "/")
        wait_rendered(page)
        page.wait_for_function("() => document.querySelector('#entry').textContent.includes('湘A·***45')", timeout=5000)
        page.click("#lang")
        seen = page.inner_text("body") + page.content()
        page.click("#lang")
        seen += page.inner_text("body") + page.content()
        public = json.dumps(requests.get(building.url + "/api/v1/kiosk", timeout=5).json(), ensure_ascii=False)
        with requests.get(building.url + "/api/v1/kiosk/stream", stream=True, timeout=10) as r:
            streamed = next(line for line in r.iter_lines(decode_unicode=True) if line.startswith("data: "))
    finally:
        ctx.close()
    private = set(PRIVATE) | stored_secrets(building)
    for text in (seen, public, streamed):
        assert [p for p in private if p.lower() in text.lower()] == []
        assert FULL_PLATE.findall(text) == []
    assert "湘A·***45" in public
    assert requested and all(u.startswith(building.url) or u.startswith("data:") for u in requested), requested


def stored_secrets(gw: Gateway) -> set[str]:
    """Flats, band ids and plates in everything stored so far: ours and the simulated building's."""
    found: set[str] = set()
    kinds = ("wristband.sos", "wristband.seen", "wristband.heart_rate", "gate.opened", "plate.visitor", "plate.read")
    for kind in kinds:
        for event in gw.get("/api/v1/events", params={"kind": kind, "limit": 1000}).json():
            found |= {v for k, v in event["data"].items() if k in ("flat", "band", "plate") and isinstance(v, str)}
    assert "3-201" in found and "粤B99999" in found  # the check sees what was posted
    return found


@pytest.fixture
def other_origin() -> Iterator[Callable[[str], str]]:
    """Another web server on the same host (another port: the same site, so SameSite=Strict cookies still go out);
    serve(html) puts up a page there and gives its URL."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(html: str) -> str:
        pages[f"/{len(pages)}.html"] = html.encode()
        return f"http://127.0.0.1:{server.server_port}/{len(pages) - 1}.html"

    yield serve
    server.shutdown()
    server.server_close()


def test_a_page_of_another_origin_cannot_act_with_the_staff_session(building, open_page, other_origin):
    alert = next(a for a in building.get("/api/v1/alerts").json() if a["source"] == "bin-3")
    ack = f"{building.url}/staff/api/alerts/{alert['id']}/ack"
    page = open_page(building.url + "/staff")
    page.fill("#token", building.token)
    page.click("button[type=submit]")
    page.wait_for_selector("#alert-list li.alert")
    # what a malicious page elsewhere on the host can do without CORS: a script's POST and a form's
    attack = other_origin(f"""<!doctype html><form id="f" method="post" action="{ack}"></form><script>
      fetch("{ack}", {{method: "POST", mode: "no-cors", credentials: "include"}})
        .finally(() => {{ document.title = "sent"; }});
    </script>""")
    page.goto(attack)
    page.wait_for_function("() => document.title === 'sent'")
    with page.expect_navigation():
        page.evaluate("() => document.getElementById('f').submit()")
    assert "own pages" in page.content()  # refused
    assert next(a for a in building.get("/api/v1/alerts").json() if a["id"] == alert["id"])["state"] == "open"
    page.goto(building.url + "/staff")  # the console itself still acknowledges with the same session
    page.click(f"button[data-ack='{alert['id']}']")
    page.wait_for_function(f"() => !document.querySelector('#alert-list li[data-alert=\"{alert['id']}\"]')")
    assert next(a for a in building.get("/api/v1/alerts", params={"state": "acked"}).json()
                if a["id"] == alert["id"])["acked_by"] == "staff"


# Whether the last character of the notice ending in `marker` is inside its box (not cut off, clamped or scrolled)
END_SHOWN_JS = """(marker) => {
  const li = [...document.querySelectorAll('#notices li')].find(e => e.textContent.endsWith(marker));
  if (!li) return null;
  const text = li.firstChild, range = document.createRange();
  range.setStart(text, text.length - 1);
  range.setEnd(text, text.length);
  const a = range.getBoundingClientRect(), b = li.getBoundingClientRect();
  return a.top >= b.top - 1 && a.bottom <= b.bottom + 1 && a.left >= b.left - 1 && a.right <= b.right + 1;
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_notice_too_long_for_the_card_is_shown_to_its_end_part_by_part(make_gateway, open_page, lang):
    gw = make_gateway(kiosk=KIOSK).start()
    end = {"zh": "截止到十二月三十一日。", "en": "/until-31-december"}[lang]
    water = "本小区将于下周一至周五进行供水管道改造施工，期间每天上午八点至下午五点停水，请提前储水。" * 5
    zh = water[:200 - len(end)] + (end if lang == "zh" else "")  # 200 characters: the most a notice takes
    en = "Water off: https://example.com/" + "x" * 200 + end  # a web address: no place to break a line
    assert gw.post([parking(12), {"kind": "kiosk.notice", "source": "api",
                                  "data": {"id": "long", "zh": zh, "en": en}}]).status_code == 201
    assert gw.post([{"kind": "kiosk.notice", "source": "api",
                     "data": {"id": "drill", "zh": DRILL, "en": "Fire drill"}}]).status_code == 201
    page = open_page(f"{gw.url}/?lang={lang}", "landscape")
    page.clock.install()
    page.reload()  # its timers made by the fake clock
    page.wait_for_function("() => document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    shown, drill = [], 0
    for _ in range(12):  # each turn 12 s
        shown.append(page.evaluate(END_SHOWN_JS, end))
        drill += {"zh": DRILL, "en": "Fire drill"}[lang] in page.inner_text("#notices")
        assert page.evaluate(LAYOUT_JS)["clipped"] == []
        page.clock.fast_forward(12_100)
    on_screen = [s for s in shown if s is not None]
    assert on_screen[0] is False  # too long for the card: its end is not on screen at first...
    assert True in on_screen  # ...but in a later turn, however long the notice
    assert drill  # and the other notice still gets its turns


@pytest.mark.parametrize("size", ["portrait", "landscape"])
def test_many_zones_with_long_names_leave_the_notices_and_emergency_numbers_their_room(make_gateway, open_page, size):
    places = {**KIOSK["places"], "A": {"zh": "地面停车场 A 区", "arrow": "left"}, "B": {"zh": "地下停车场 B 区"},
              "C": {"zh": "东侧临时停车区", "arrow": "right"}, "D": {"zh": "西侧访客停车区", "arrow": "ahead"},
              "north": {"zh": "小区北门（幼儿园旁）"}, "south": {"zh": "小区南门（菜市场对面）"}}
    gw = make_gateway(kiosk={**KIOSK, "places": places}).start()
    summary = {"kind": "parking.summary", "source": "cam-1", "data": {
        "zones": [{"zone": z, "free": f, "total": 130} for z, f in (("A", 3), ("B", 0), ("C", 17), ("D", 109))],
        "nearest": [{"entrance": "north", "space": "C-112", "zone": "C", "distance_m": 180},
                    {"entrance": "south", "space": "A-102", "zone": "A", "distance_m": 120}]}}
    assert gw.post([summary, *BUSY[1:], *SCENE[7:8]]).status_code == 201  # bins, faults, notices, a car in
    page = open_page(gw.url + "/", size)
    page.wait_for_function("() => document.querySelectorAll('#zones li').length === 4"
                           " && document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    layout = page.evaluate(LAYOUT_JS)
    assert layout["clipped"] == [] and layout["outside"] == [] and layout["overlapping"] == []
    assert [free_of(page, z) for z in "ABCD"] == ["3", "已满", "17", "109"]  # parking itself never gives way
    assert "C-112" in page.inner_text("#guide")  # nor its first guide
    assert page.locator("#notices li").first.is_visible() and page.locator(".phones").is_visible()
