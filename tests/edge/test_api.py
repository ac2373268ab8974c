"""The HTTP API of a real `edge run` on 127.0.0.1."""

import gzip
import json

import pytest
import requests


def count(gw) -> int:
    """Events stored, not counting the gateway's own health reports."""
    return sum(e["kind"] != "gateway.health" for e in gw.get("/api/v1/events", params={"limit": 1000}).json())


def test_health_and_metrics_are_public(gateway):
    r = requests.get(gateway.url + "/healthz", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["device_id"] == "t-gw1"
    assert body["subsystems"]["store"]["ok"] is True and body["subsystems"]["api"]["state"] == "running"
    gateway.post({"kind": "bin.level", "source": "bin-1", "data": {"level_pct": 5}})
    m = requests.get(gateway.url + "/metrics", timeout=5)
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'edge_events_written_total{kind="bin.level",priority="normal"} 1.0' in m.text
    assert "edge_store_used_bytes" in m.text and "edge_store_max_bytes 6.7108864e+07" in m.text


def test_a_failing_commit_is_a_503_and_degrades_healthz_until_a_commit_succeeds(gateway):
    import sqlite3

    other = sqlite3.connect(gateway.doc["storage"]["path"], isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the database longer than the store waits
    try:
        r = gateway.post({"kind": "bin.level", "source": "bin-1"})
        assert r.status_code == 503 and "locked" in r.json()["detail"]
        health = requests.get(gateway.url + "/healthz", timeout=5)
        assert health.status_code == 503 and "locked" in health.json()["subsystems"]["store"]["last_error"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert gateway.post({"kind": "bin.level", "source": "bin-1"}).status_code == 201
    assert requests.get(gateway.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/events"), ("POST", "/api/v1/events"),
                                         ("GET", "/api/v1/alerts"), ("POST", "/api/v1/alerts/1/ack")])
def test_token_required(gateway, method, path):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic abc"}):
        r = requests.request(method, gateway.url + path, headers=headers, json=[], timeout=5)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_post_one_or_many_then_read_back_in_seq_order(gateway):
    r = gateway.post({"kind": "wristband.seen", "source": "band-1", "data": {"flat": "3-201", "rssi": -70}})
    assert r.status_code == 201 and r.json()["accepted"] == 1
    [first] = r.json()["ids"]
    n = int(first.split(":")[1])
    assert first == f"t-gw1:{n}"
    batch = [{"kind": "bin.level", "source": f"bin-{i}", "data": {"level_pct": i}, "ts": "2026-11-23T08:00:00+08:00"}
             for i in range(5)]
    r = gateway.post(batch)
    assert r.status_code == 201 and r.json()["ids"] == [f"t-gw1:{i}" for i in range(n + 1, n + 6)]
    got = gateway.get("/api/v1/events", params={"after": n + 1, "kind": "bin.level", "limit": 3}).json()
    assert [e["seq"] for e in got] == [n + 2, n + 3, n + 4]
    assert got[0]["ts"] == "2026-11-23T00:00:00.000Z" and got[0]["priority"] == "normal"
    assert set(got[0]) == {"id", "device_id", "building_id", "seq", "ts", "kind", "source", "priority", "data"}
    r = gateway.post({"kind": "bin.level", "source": "bin-9", "ts": None})  # null ts: the gateway's clock
    assert r.status_code == 201 and gateway.get("/api/v1/events", params={"kind": "bin.level"}).json()[-1]["ts"]


BAD_BODIES = [
    (b"not json", 400, "one event object or a JSON list"),
    (b"", 400, "one event object"),
    (b"[{]", 422, "not valid JSON"),
    (b"[]", 422, "empty"),
    (b'{"kind": "bin.level"}', 422, "source"),
    (b'{"kind": "Bin Level", "source": "b"}', 422, "pattern"),
    (b'{"kind": "bin.level", "source": "' + b"b" * 101 + b'"}', 422, "at most 100 characters"),
    (b'{"kind": "bin.level", "source": ""}', 422, "pattern"),
    (b'{"kind": "bin.level", "source": "bin 1"}', 422, "pattern"),
    (b'{"kind": "bin.level", "source": "b", "priority": "urgent"}', 422, "critical"),
    (b'{"kind": "bin.level", "source": "b", "data": [1, 2]}', 422, "should be an object"),
    (b'{"kind": "bin.level", "source": "b", "colour": "red"}', 422, "Extra inputs"),
    (b'{"kind": "bin.level", "source": "b", "ts": "2026-11-23T08:00:00"}', 422, "timezone"),
    (b'{"kind": "bin.level", "source": "b", "ts": "yesterday"}', 422, "datetime"),
    (b'{"kind": "bin.level", "source": "b", "ts": "9999-12-31T23:59:59-14:00"}', 422, "between 2000 and 2100"),
    (b'{"kind": "bin.level", "source": "b", "ts": "0001-01-01T00:00:00Z"}', 422, "between 2000 and 2100"),
    (b'{"kind": "bin.level", "source": "b", "data": {"v": NaN}}', 422, "JSON"),
    (b'{"kind": "bin.level", "source": "b", "data": {"v": "' + b"x" * 20000 + b'"}}', 422, "at most 16384"),
    (b'[1, 2]', 422, "should be an object"),
    (b'{"kind": "bin.' + b"l" * 61 + b'", "source": "b"}', 422, "at most 64 characters"),
]


@pytest.fixture(scope="module")
def quiet_gateway(tmp_path_factory):
    """One gateway for the many bad requests below: none of them may store anything."""
    from tests.conftest import Gateway, base_config, to_toml

    folder = tmp_path_factory.mktemp("gw")
    doc = base_config(folder)
    (folder / "edge.toml").write_text(to_toml(doc))
    gw = Gateway(folder / "edge.toml", doc).start()
    yield gw
    gw.stop()


@pytest.mark.parametrize("body,status,reason", BAD_BODIES)
def test_bad_requests_get_a_reason_and_store_nothing(quiet_gateway, body, status, reason):
    gateway = quiet_gateway
    good = b'{"kind": "bin.level", "source": "b", "data": {}}'
    if body.startswith(b"[") and body not in (b"[]", b"[{]"):
        body = b"[" + good + b"," + body[1:]  # a bad event after a good one: the good one is not stored either
    r = requests.post(gateway.url + "/api/v1/events", data=body, headers=gateway.auth, timeout=5)
    assert r.status_code == status, r.text
    assert reason in r.text
    assert count(gateway) == 0


def test_too_many_events_in_one_request(gateway):
    r = gateway.post([{"kind": "bin.level", "source": "b"}] * 1001)
    assert r.status_code == 413 and "at most 1000" in r.json()["detail"]
    assert count(gateway) == 0


def test_bad_query_parameters_are_4xx(gateway):
    for params in ({"after": -1}, {"limit": 0}, {"limit": 5000}, {"after": "x"}, {"kind": "DROP TABLE"}):
        assert gateway.get("/api/v1/events", params=params).status_code == 422, params
    assert gateway.get("/api/v1/alerts", params={"state": "maybe"}).status_code == 422
    r = requests.post(gateway.url + "/api/v1/alerts/abc/ack", headers=gateway.auth, timeout=5)
    assert r.status_code == 422
    r = requests.post(gateway.url + "/api/v1/alerts/5/ack", headers=gateway.auth, timeout=5)
    assert r.status_code == 404 and "no alert with id 5" in r.text
    r = requests.post(gateway.url + "/api/v1/alerts/5/ack", headers=gateway.auth, data=b"{oops", timeout=5)
    assert r.status_code == 422


def test_too_large_bodies_are_a_413_before_they_are_read(quiet_gateway):
    from edge.api.limits import MAX_BODY

    url = quiet_gateway.url + "/api/v1/events"
    r = requests.post(url, data=b"[" + b" " * MAX_BODY + b"]", headers=quiet_gateway.auth, timeout=30)
    assert r.status_code == 413 and f"at most {MAX_BODY}" in r.json()["detail"]

    def chunks():  # no Content-Length: the bound is met while the body arrives
        yield b"["
        for _ in range(MAX_BODY // 65536 + 1):
            yield b'{"kind": "bin.level", "source": "b"},'.ljust(65536)

    r = requests.post(url, data=chunks(), headers=quiet_gateway.auth, timeout=30)
    assert r.status_code == 413 and f"at most {MAX_BODY}" in r.json()["detail"]
    assert count(quiet_gateway) == 0


@pytest.mark.parametrize("method,path", [("POST", "/api/v1/events"), ("POST", "/api/v1/alerts/1/ack"),
                                         ("POST", "/api/v1/sync/ack"), ("PUT", "/api/v1/gate/whitelist"),
                                         ("POST", "/api/v1/kiosk/notices"), ("PUT", "/api/v1/settings/wristbands"),
                                         ("POST", "/staff/api/notices")])
def test_without_the_token_a_body_is_not_even_read(quiet_gateway, method, path):
    # FastAPI parses a body before it runs the token dependency: a 422 about the body told a stranger what the route
    # takes, and a stranger's body was parsed whole
    r = requests.request(method, quiet_gateway.url + path, data=b"{nope", timeout=5,
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 401, r.text


def test_routes_that_store_an_event_answer_507_when_the_store_refuses(make_gateway):
    gw = make_gateway(storage={"max_mb": 0.6}).start()
    sos = {"kind": "wristband.sos", "source": "band-1", "priority": "critical", "data": {"pad": "x" * 16000}}
    for _ in range(60):  # past the bound with events that are never evicted: the store refuses the rest
        assert gw.post([sos] * 10).status_code == 201
    assert gw.post({"kind": "bin.level", "source": "b"}).status_code == 507
    r = requests.post(gw.url + "/api/v1/kiosk/notices", json={"zh": "停水通知"}, headers=gw.auth, timeout=5)
    assert r.status_code == 507 and "refused" in r.json()["detail"]
    assert gw.post(sos).status_code == 201  # SOS still taken


UNENCODABLE = [b"1e999", b'{"v": NaN}', b"\xff\xfe", b'{"through": Infinity}']
JSON_ENDPOINTS = [("POST", "/api/v1/alerts/1/ack"), ("POST", "/api/v1/sync/ack"), ("PUT", "/api/v1/gate/whitelist"),
                  ("POST", "/api/v1/kiosk/notices")]


@pytest.mark.parametrize("method,path", JSON_ENDPOINTS)
def test_bodies_that_cannot_be_echoed_back_are_a_422_not_a_500(quiet_gateway, method, path):
    # FastAPI's own handler echoes the input, which fails for NaN, Infinity and bytes that are not UTF-8
    for body in UNENCODABLE:
        r = requests.request(method, quiet_gateway.url + path, data=body, timeout=5,
                             headers={**quiet_gateway.auth, "Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
        assert all(set(e) == {"loc", "msg", "type"} for e in r.json()["detail"]), r.text


def test_ids_beyond_what_sqlite_holds_are_a_422_and_the_store_goes_on(quiet_gateway):
    huge = 2**70
    for method, path, body in (("POST", f"/api/v1/alerts/{huge}/ack", None),
                               ("POST", "/api/v1/sync/ack", {"through": huge}),
                               ("GET", f"/api/v1/events?after={huge}", None),
                               ("GET", f"/api/v1/sync/batches?after={huge}", None)):
        r = requests.request(method, quiet_gateway.url + path, json=body, headers=quiet_gateway.auth, timeout=5)
        assert r.status_code == 422, (path, r.text)
    r = requests.post(quiet_gateway.url + "/api/v1/alerts/1/ack", headers=quiet_gateway.auth, timeout=5)
    assert r.status_code == 404  # answered: the store's writer is alive


def test_gzip_request_body_is_refused_cleanly_not_500(gateway):
    body = gzip.compress(json.dumps({"kind": "bin.level", "source": "b"}).encode())
    r = requests.post(gateway.url + "/api/v1/events", data=body, timeout=5,
                      headers={**gateway.auth, "Content-Encoding": "gzip"})
    assert 400 <= r.status_code < 500


def test_alerts_list_critical_first_and_ack(gateway):
    gateway.post([{"kind": "bin.full", "source": "bin-1", "priority": "high", "data": {"level_pct": 85}},
                  {"kind": "wristband.sos", "source": "band-9", "priority": "critical", "data": {"flat": "2-302"}}])
    alerts = gateway.get("/api/v1/alerts").json()
    assert [a["kind"] for a in alerts] == ["wristband.sos", "bin.full"]
    assert alerts[0]["event_id"].startswith("t-gw1:") and alerts[0]["state"] == "open"
    r = requests.post(f"{gateway.url}/api/v1/alerts/{alerts[0]['id']}/ack", json={"by": "staff-li"},
                      headers=gateway.auth, timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "acked" and r.json()["acked_by"] == "staff-li"
    assert [a["kind"] for a in gateway.get("/api/v1/alerts").json()] == ["bin.full"]
    assert gateway.get("/api/v1/events", params={"kind": "alert.acked"}).json()[0]["data"]["by"] == "staff-li"


def test_openapi_documents_the_contract(gateway):
    spec = requests.get(gateway.url + "/openapi.json", timeout=5).json()
    assert {"/healthz", "/metrics", "/api/v1/events", "/api/v1/alerts", "/api/v1/alerts/{alert_id}/ack", "/"} <= set(
        spec["paths"])
    assert "requestBody" in spec["paths"]["/api/v1/events"]["post"]
    # no Swagger page: it would load a CDN's scripts into the gateway's origin
    assert requests.get(gateway.url + "/docs", timeout=5).status_code == 404


def test_kiosk_is_public_chinese_html(gateway):
    r = requests.get(gateway.url + "/", timeout=5)
    assert r.status_code == 200 and 'lang="zh-CN"' in r.text


def test_a_source_of_100_word_characters_in_any_script_is_stored(gateway):
    source = "楼-1." + "门" * 96
    r = gateway.post({"kind": "bin.level", "source": source})
    assert r.status_code == 201, r.text
    assert count(gateway) == 1
