"""Sync of a real `edge run` (a subprocess) to the failing central server on 127.0.0.1."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.conftest import REPO
from tests.sync.central import TOKEN, Central


def upstream(central: Central, **sync: object) -> dict[str, object]:
    return {"upstream": {"url": central.url, "token": TOKEN}, "sync": {"linger_s": 0.2, **sync}}


def post_backlog(gw, n: int, source: str = "bin-1") -> list[str]:
    ids: list[str] = []
    with requests.Session() as s:
        for start in range(0, n, 1000):
            batch = [{"kind": "bin.level", "source": source, "data": {"level_pct": i % 100, "i": i}}
                     for i in range(start, min(n, start + 1000))]
            r = s.post(gw.url + "/api/v1/events", json=batch, headers=gw.auth, timeout=30)
            assert r.status_code == 201, r.text
            ids += r.json()["ids"]
    return ids


def test_sos_behind_a_backlog_of_30000_arrives_first_within_a_second_of_the_link(make_gateway, central):
    central.stop()  # the link is down
    gw = make_gateway(**upstream(central)).start()
    ids = post_backlog(gw, 30_000)
    r = gw.post({"kind": "wristband.sos", "source": "band-0a1b2c3d", "priority": "critical",
                 "data": {"band": "0a1b2c3d", "flat": "3-201"}})
    [sos_id] = r.json()["ids"]
    time.sleep(2.0)  # both lanes fail and back off
    central.start()
    back = time.monotonic()
    central.wait_for(lambda: set(ids) | {sos_id} <= set(central.events()), timeout=60)
    first = next(a for a in central.arrivals if a.answer in ("200", "409"))
    assert [e["id"] for e in first.events] == [sos_id]
    assert first.at - back < 1.0, f"the SOS arrived {first.at - back:.2f}s after the link came back"
    assert not central.violations
    assert all(len(keys) == 1 for keys in central.keys_by_id().values())


def writer(gw, stop: threading.Event, acked: dict[str, dict], seed: int) -> None:
    rng = random.Random(seed)
    with requests.Session() as s:
        while not stop.is_set():
            prio = "critical" if rng.random() < 0.05 else "normal"
            batch = [{"kind": "bin.level", "source": f"w{seed}", "priority": prio, "data": {"n": rng.random()}}
                     for _ in range(rng.randint(1, 50))]
            try:
                r = s.post(gw.url + "/api/v1/events", json=batch, headers=gw.auth, timeout=5)
            except requests.RequestException:
                return  # the gateway died: what was not answered was not acknowledged
            if r.status_code == 201:
                acked.update(zip(r.json()["ids"], (e["data"] for e in batch), strict=True))


@pytest.mark.parametrize("crash", ["kill -9", "power cut"])
def test_a_crash_during_sync_loses_nothing_and_duplicates_only_under_the_same_key(make_gateway, central, crash,
                                                                                   request):
    rng = random.Random(3)
    # answers are slow and sometimes lost, so that crashes land while batches are in flight or unanswered
    central.rule = lambda key, events: ("slow", 0.15) if rng.random() < 0.7 else ("lost",)
    storage = {}
    if crash == "power cut":  # the database on a disk that keeps only what was fsynced (tests/powercut.py)
        disk = request.getfixturevalue("disk")
        storage = {"storage": {"path": str(disk.where / "data" / "edge.db")}}
    gw = make_gateway(**upstream(central, max_batch_events=400, backoff_max_s=1.0), **storage)
    acked: dict[str, dict] = {}
    for round_ in range(3):
        gw.start()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(gw, stop, acked, round_ * 10 + i)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(1.5, 2.5))
        gw.kill9()
        if crash == "power cut":
            disk.cut(random.Random(round_) if round_ else None)
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked) > 1000
    central.rule = None
    gw.start()
    central.wait_for(lambda: set(acked) <= set(central.events()), timeout=90)
    held = central.events()
    assert all(held[i]["data"] == data for i, data in acked.items())  # an id never stands for another event
    assert not central.violations
    twice = {i: k for i, k in central.keys_by_id().items() if len(k) > 1}
    assert not twice, list(twice.items())[:3]
    assert any(a.answer == "409" for a in central.arrivals)  # lost answers were re-sent under their key
    gw.stop()


def test_status_metrics_and_health_while_the_link_is_down(make_gateway, central):
    central.stop()
    gw = make_gateway(**upstream(central, degraded_after_s=1.0)).start()
    post_backlog(gw, 200)
    time.sleep(2.5)
    health = requests.get(gw.url + "/healthz", timeout=5)
    assert health.status_code == 503
    section = health.json()["subsystems"]["sync"]
    assert section["ok"] is False and section["mode"] == "push" and section["backlog"] >= 200
    assert section["oldest_unsent_age_s"] > 1.0 and "Connection" in section["last_error"]
    metrics = requests.get(gw.url + "/metrics", timeout=5).text
    assert 'edge_sync_backlog_events{lane="backlog"}' in metrics
    assert "edge_sync_oldest_unsent_age_seconds" in metrics and "edge_sync_last_error_info{error=" in metrics
    assert "edge_sync_up 0.0" in metrics
    out = subprocess.run([sys.executable, "-m", "edge", "sync", "status", "--config", str(gw.config_path)],
                         capture_output=True, text=True, cwd=REPO, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"push to {central.url}" in out.stdout and "last success    never" in out.stdout
    assert "backlog         2" in out.stdout and "Connection" in out.stdout
    central.start()
    deadline = time.monotonic() + 30
    while requests.get(gw.url + "/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, requests.get(gw.url + "/healthz", timeout=5).json()
        time.sleep(0.2)
    metrics = requests.get(gw.url + "/metrics", timeout=5).text
    assert "edge_sync_up 1.0" in metrics and 'edge_sync_events_total{lane="backlog",outcome="acked"}' in metrics


def test_downlink_wristbands_reach_the_ble_subsystem_without_a_restart(make_gateway, central):
    central.config_doc = {"wristbands": [{"band": "0a1b2c3d", "flat": "3-201"}, {"band": "0a1b2c3e", "flat": "3-202"}],
                          "thresholds": {"bin_full_pct": 80}}
    gw = make_gateway(**upstream(central), simulate={"enabled": True}).start()
    deadline = time.monotonic() + 20
    while not (applied := gw.get("/api/v1/events", params={"kind": "gateway.config_applied"}).json()):
        assert time.monotonic() < deadline, "no gateway.config_applied event"
        time.sleep(0.1)
    assert applied[0]["data"] == {"etag": '"v1"', "source": "upstream", "applied": {"wristbands": {"bands": 2}},
                                  "failed": {}, "ignored": ["thresholds"]}
    assert requests.get(gw.url + "/healthz", timeout=5).json()["subsystems"]["ble"]["bands"] == 2
    assert (gw.db.parent / "downlink.json").exists()
