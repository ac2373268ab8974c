"""The kiosk's HTTP side on a real `edge run`: public JSON and stream, notices behind the token, static files."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from edge.web.assets import STATIC
from tests.conftest import Gateway
from tests.edge.web.building import PRIVATE, SCENE, gateway, parking

FULL_PLATE = re.compile(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{5,6}")
# Every key the public JSON may have: the page's fields and nothing else.
PUBLIC_KEYS = {"building", "zh", "en", "now", "timezone", "version", "parking", "zones", "zone", "arrow", "free",
               "total", "nearest", "entrance", "space", "distance_m", "updated", "entry", "plate", "ts", "bins", "id",
               "level_pct", "state", "lights", "since", "notices", "phones", "number"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = gateway(tmp_path_factory.mktemp("kiosk-api")).start()
    assert g.post(SCENE).status_code == 201
    yield g
    g.stop()


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(keys(v) for v in value))
    return set()


def kiosk_state(gw: Gateway) -> dict[str, Any]:
    r = requests.get(gw.url + "/api/v1/kiosk", timeout=5)  # no token: public
    assert r.status_code == 200
    return r.json()


def test_the_public_json_shows_the_building_and_nothing_private(gw):
    deadline = time.monotonic() + 5
    while not (state := kiosk_state(gw))["lights"] and time.monotonic() < deadline:
        time.sleep(0.1)
    text = json.dumps(state, ensure_ascii=False)
    assert keys(state) <= PUBLIC_KEYS
    assert not [p for p in PRIVATE if p in text]
    assert not FULL_PLATE.search(text)
    assert state["parking"]["entry"]["plate"] == "湘A·***45"
    assert [(z["zh"], z["free"], z["arrow"]) for z in state["parking"]["zones"]] == [("地面 A 区", 12, "left"),
                                                                                    ("地下 B 区", 0, "ahead-right")]
    assert {b["id"]: b["state"] for b in state["bins"]} == {"bin-3": "nearly_full", "bin-4": "emptying"}
    assert [f["zh"] for f in state["lights"]] == ["3 楼走廊灯", "大门路灯"]


def read_event(lines: Iterator[str]) -> tuple[str, Any]:
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            return event, json.loads(line[6:])
    raise AssertionError("the stream ended")


def test_the_stream_sends_the_state_at_once_and_again_on_a_change(gw):
    with requests.get(gw.url + "/api/v1/kiosk/stream", stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines(decode_unicode=True)
        event, state = read_event(lines)
        assert event == "state" and state["parking"]["zones"][0]["free"] == 12
        assert gw.post(parking(7)).status_code == 201
        event, state = read_event(lines)
        assert state["parking"]["zones"][0]["free"] == 7
        assert gw.post(parking(12)).status_code == 201


def test_notices_are_pushed_and_removed_with_the_token_only(gw):
    body = {"id": "water", "zh": "明天停水", "en": "No water tomorrow", "until": "2099-01-01T00:00:00+08:00"}
    assert requests.post(gw.url + "/api/v1/kiosk/notices", json=body, timeout=5).status_code == 401
    assert requests.get(gw.url + "/api/v1/kiosk/notices", timeout=5).status_code == 401
    r = requests.post(gw.url + "/api/v1/kiosk/notices", json=body, headers=gw.auth, timeout=5)
    assert r.status_code == 201 and r.json()["id"] == "water"
    listed = gw.get("/api/v1/kiosk/notices").json()
    assert [(n["id"], n["source"]) for n in listed] == [("water", "api"), ("config-0", "config")]
    assert [n["zh"] for n in kiosk_state(gw)["notices"]] == ["明天停水", listed[1]["zh"]]
    bad = requests.post(gw.url + "/api/v1/kiosk/notices", json={"zh": "x", "colour": "red"}, headers=gw.auth,
                        timeout=5)
    assert bad.status_code == 422
    assert requests.delete(gw.url + "/api/v1/kiosk/notices/water", timeout=5).status_code == 401
    assert requests.delete(gw.url + "/api/v1/kiosk/notices/water", headers=gw.auth, timeout=5).status_code == 200
    assert requests.delete(gw.url + "/api/v1/kiosk/notices/water", headers=gw.auth, timeout=5).status_code == 404
    r = requests.delete(gw.url + "/api/v1/kiosk/notices/config-0", headers=gw.auth, timeout=5)
    assert r.status_code == 404 and "config file" in r.json()["detail"]
    kinds = [e["kind"] for e in gw.get("/api/v1/events", params={"limit": 1000}).json()]
    assert kinds.count("kiosk.notice") == 1 and kinds.count("kiosk.notice_removed") == 1


def test_the_page_and_its_files_come_from_the_gateway(gw):
    page = requests.get(gw.url + "/", timeout=5)
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]  # nothing from elsewhere, no framing
    assert "frame-ancestors 'none'" in requests.get(gw.url + "/staff", timeout=5).headers["content-security-policy"]
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith(("/static/", "data:")), src
        if src.startswith("/static/"):
            r = requests.get(gw.url + src, timeout=5)
            assert r.status_code == 200 and r.headers["etag"]
            tag = r.headers["etag"]
            for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):  # as browsers and proxies send it
                again = requests.get(gw.url + src, headers={"If-None-Match": header}, timeout=5)
                assert again.status_code == 304, header
            assert requests.get(gw.url + src, headers={"If-None-Match": '"other"'}, timeout=5).status_code == 200
    for path in ("/", "/static/kiosk.js", "/static/kiosk.css"):  # HEAD answers as GET does, without the body
        got, head = requests.get(gw.url + path, timeout=5), requests.head(gw.url + path, timeout=5)
        assert head.status_code == 200 and head.content == b"", path
        assert {k: head.headers[k] for k in ("etag", "content-type", "content-length")} == {
            k: got.headers[k] for k in ("etag", "content-type", "content-length")}, path
    assert requests.head(gw.url + "/static/nothing.js", timeout=5).status_code == 404
    assert requests.get(gw.url + "/static/kiosk.js", timeout=5).headers["content-type"].startswith("text/javascript")
    for wrong in ("/static/nothing.js", "/static/..%2Fassets.py", "/static/%2E%2E/feed.py"):
        assert requests.get(gw.url + wrong, timeout=5).status_code == 404


def test_no_file_of_the_pages_reaches_outside_the_gateway():
    """Offline: no CDN, no web font, no external URL in any page, script or style."""
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = [u for u in re.findall(r"https?://[^\s\"')]+", text) if u != "http://www.w3.org/2000/svg"]
        assert not urls, f"{path.name}: {urls}"
        assert "@import" not in text and "@font-face" not in text, path.name


def test_a_time_out_of_range_is_refused_and_a_stored_one_does_not_stop_the_screen(gw):
    far = "9999-12-31T23:59:59-14:00"  # cannot even be written in UTC
    r = requests.post(gw.url + "/api/v1/kiosk/notices", json={"zh": "x", "until": far}, headers=gw.auth, timeout=5)
    assert r.status_code == 422 and "between 2000 and 2100" in r.text
    # an event's data is free-form: a notice event carrying that time is stored, and the kiosk must go on
    assert gw.post({"kind": "kiosk.notice", "source": "api", "data": {"id": "odd", "zh": "怪", "until": far}}
                   ).status_code == 201
    good = {"id": "lift", "zh": "电梯检修", "until": "2099-01-01T00:00:00+08:00"}
    assert requests.post(gw.url + "/api/v1/kiosk/notices", json=good, headers=gw.auth, timeout=5).status_code == 201
    deadline = time.monotonic() + 10
    while "电梯检修" not in [n["zh"] for n in kiosk_state(gw)["notices"]] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "电梯检修" in [n["zh"] for n in kiosk_state(gw)["notices"]]
    assert requests.get(gw.url + "/healthz", timeout=5).json()["subsystems"]["kiosk"]["ok"] is True
