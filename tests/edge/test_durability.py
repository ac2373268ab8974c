"""Acknowledged events survive kill -9 of `edge run` in the middle of concurrent writes."""

import random
import threading

import requests


def writer(gw, stop: threading.Event, acked: dict[str, dict], seed: int) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    n = 0
    while not stop.is_set():
        batch = [{"kind": "bin.level", "source": f"w{seed}", "data": {"n": (n := n + 1), "w": seed}}
                 for _ in range(rng.randint(1, 20))]
        try:
            r = session.post(gw.url + "/api/v1/events", json=batch, headers=gw.auth, timeout=5)
        except requests.RequestException:
            return  # the gateway died: whatever was not answered was not acknowledged
        if r.status_code == 201:
            for event_id, ev in zip(r.json()["ids"], batch, strict=True):
                acked[event_id] = ev["data"]


def all_events(gw) -> dict[str, dict]:
    out, after = {}, 0
    while True:
        page = gw.get("/api/v1/events", params={"after": after, "limit": 1000}).json()
        if not page:
            return out
        for e in page:
            out[e["id"]] = e
        after = page[-1]["seq"]


def test_kill9_during_concurrent_writes_loses_no_acknowledged_event(make_gateway):
    gw = make_gateway()
    acked: dict[str, dict] = {}
    last_seq = 0
    rng = random.Random(1)
    for round_ in range(4):
        gw.start()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(gw, stop, acked, round_ * 10 + i)) for i in range(4)]
        for t in threads:
            t.start()
        threading.Event().wait(rng.uniform(0.4, 1.2))  # let writes pile up, then pull the plug mid-flight
        before = len(acked)
        gw.kill9()
        stop.set()
        for t in threads:
            t.join(10)
        assert before > 0, "the writers never got an acknowledgement"
        gw.start()
        stored = all_events(gw)
        missing = [i for i in acked if i not in stored]
        assert not missing, f"round {round_}: {len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        for event_id, data in acked.items():
            assert stored[event_id]["data"] == data
        seqs = sorted(e["seq"] for e in stored.values())
        assert seqs == sorted(set(seqs))
        new = gw.post({"kind": "bin.level", "source": "after", "data": {}}).json()["ids"][0]
        new_seq = int(new.split(":")[1])
        assert new_seq > max(seqs) and new_seq > last_seq  # seq never goes back
        last_seq = new_seq
        gw.stop()
