"""The staff console over HTTP: login, the session cookie, the data, acknowledging an alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import Gateway
from tests.edge.web.building import SCENE, gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = gateway(tmp_path_factory.mktemp("staff-api")).start()
    assert g.post(SCENE).status_code == 201
    yield g
    g.stop()


def login(gw: Gateway, token: str, name: str = "李梅") -> requests.Response:
    return requests.post(gw.url + "/staff/login", data={"name": name, "token": token}, allow_redirects=False,
                         timeout=10)


def test_without_a_session_there_is_only_the_login_form(gw):
    page = requests.get(gw.url + "/staff", timeout=5)
    assert page.status_code == 200 and 'action="/staff/login"' in page.text and "alert-list" not in page.text
    for method, path in (("GET", "/staff/api/overview"), ("POST", "/staff/api/alerts/1/ack"),
                         ("GET", "/staff/api/stream"), ("POST", "/staff/api/notices")):
        assert requests.request(method, gw.url + path, timeout=5).status_code == 401, path
    forged = {"edge_staff": "9999999999.bGk.0123456789abcdef"}
    assert requests.get(gw.url + "/staff/api/overview", cookies=forged, timeout=5).status_code == 401
    wrong = login(gw, "not-the-token-at-all")
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text and "set-cookie" not in wrong.headers


def test_login_gives_a_strict_http_only_cookie_that_is_not_the_token(gw):
    r = login(gw, gw.token)
    assert r.status_code == 303 and r.headers["location"] == "/staff"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/staff" in cookie
    assert gw.token not in cookie
    session = r.cookies["edge_staff"]
    page = requests.get(gw.url + "/staff", cookies={"edge_staff": session}, timeout=5)
    assert 'id="alert-list"' in page.text
    out = requests.post(gw.url + "/staff/logout", cookies={"edge_staff": session}, allow_redirects=False, timeout=5)
    assert out.status_code == 303 and 'edge_staff=""' in out.headers["set-cookie"]


def test_a_login_leads_back_only_to_a_staff_page(gw):
    def where(next_page: str) -> str:
        r = requests.post(gw.url + "/staff/login", data={"token": gw.token, "next": next_page},
                          allow_redirects=False, timeout=10)
        assert r.status_code == 303
        return r.headers["location"]

    assert where("/staff/parking") == "/staff/parking"
    for elsewhere in ("https://evil.example/", "//evil.example", "/api/v1/events", ""):
        assert where(elsewhere) == "/staff", elsewhere  # never an open redirect


def test_the_overview_and_acknowledging_with_the_session(gw):
    s = requests.Session()
    s.cookies.set("edge_staff", login(gw, gw.token, "李梅").cookies["edge_staff"])
    view = s.get(gw.url + "/staff/api/overview", timeout=10).json()
    assert view["user"] == "李梅"
    open_alerts = [a for a in view["alerts"] if a["state"] == "open"]
    assert open_alerts[0]["kind"] == "wristband.sos" and open_alerts[0]["flat"] == "3-201"
    assert {a["kind"] for a in open_alerts} == {"wristband.sos", "bin.full", "light.fault"}
    assert [g["plate"] for g in view["gate"]] == ["粤B99999", "湘A12345"]  # staff see full plates
    assert view["kiosk"]["bins"] and view["device"]["store"]["events"] >= len(SCENE)
    assert view["health"]["subsystems"]["kiosk"]["state"] == "running"
    assert set(view["charts"]) == {"occupancy_day", "bins_week"}
    r = s.post(f"{gw.url}/staff/api/alerts/{open_alerts[0]['id']}/ack", timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "acked" and r.json()["acked_by"] == "李梅"
    assert s.post(f"{gw.url}/staff/api/alerts/99999/ack", timeout=5).status_code == 404
    # the bearer token works as well, for scripts
    assert requests.get(gw.url + "/staff/api/overview", headers=gw.auth, timeout=10).json()["user"] == "api"


def test_staff_publish_and_remove_notices(gw):
    s = requests.Session()
    s.cookies.set("edge_staff", login(gw, gw.token).cookies["edge_staff"])
    r = s.post(gw.url + "/staff/api/notices", json={"zh": "电梯检修", "en": "Lift maintenance"}, timeout=5)
    assert r.status_code == 201
    nid = r.json()["id"]
    assert nid in [n["id"] for n in s.get(gw.url + "/staff/api/overview", timeout=10).json()["notices"]]
    assert s.delete(f"{gw.url}/staff/api/notices/{nid}", timeout=5).status_code == 200


def test_a_staff_action_from_another_origin_is_refused(gw):
    s = requests.Session()
    s.cookies.set("edge_staff", login(gw, gw.token).cookies["edge_staff"])
    alert = next(a for a in gw.get("/api/v1/alerts").json() if a["source"] == "light-gate")
    ack = f"{gw.url}/staff/api/alerts/{alert['id']}/ack"
    for foreign in ({"Origin": "http://127.0.0.1:1"}, {"Origin": "null"}, {"Sec-Fetch-Site": "same-site"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": gw.url}):
        r = s.post(ack, headers=foreign, timeout=5)
        assert r.status_code == 403 and "own pages" in r.text, foreign
        notice = s.post(gw.url + "/staff/api/notices", json={"zh": "假通知"}, headers=foreign, timeout=5)
        assert notice.status_code == 403
    assert next(a for a in gw.get("/api/v1/alerts").json() if a["id"] == alert["id"])["state"] == "open"
    assert s.get(gw.url + "/staff/api/overview", headers={"Origin": "http://127.0.0.1:1"}, timeout=10).ok  # reads
    # the bearer token is no cookie a page elsewhere could ride on
    assert requests.post(ack, headers={**gw.auth, "Sec-Fetch-Site": "cross-site"}, timeout=5).status_code == 200
    assert s.post(ack, headers={"Origin": gw.url}, timeout=5).status_code == 200  # the console's own page
