"""The pull API of a real `edge run`, and `edge sync pull`, the reference client."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO

CONTRACT = {"id", "device_id", "building_id", "seq", "ts", "kind", "source", "priority", "data"}


@pytest.fixture
def gw(make_gateway):
    g = make_gateway(sync={"clock": "trusted"}).start()
    r = g.post([{"kind": "bin.level", "source": "bin-1", "data": {"level_pct": i, "名": "垃圾桶"}} for i in range(25)])
    assert r.status_code == 201
    return g


def lines(body: bytes) -> list[dict]:
    return [json.loads(x) for x in body.decode().splitlines()]


def test_batches_and_ack(gw):
    assert requests.get(gw.url + "/api/v1/sync/batches", timeout=5).status_code == 401
    assert requests.post(gw.url + "/api/v1/sync/ack", json={"through": 1}, timeout=5).status_code == 401
    r = requests.get(gw.url + "/api/v1/sync/batches", params={"after": 0, "limit": 10},
                     headers=gw.auth | {"Accept-Encoding": "identity"}, timeout=5)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    assert "content-encoding" not in r.headers
    page = lines(r.content)
    assert len(page) == 10 and [e["seq"] for e in page] == sorted(e["seq"] for e in page)
    assert all(set(e) == CONTRACT for e in page)
    assert (r.headers["x-edge-first-seq"], r.headers["x-edge-last-seq"]) == (str(page[0]["seq"]),
                                                                              str(page[-1]["seq"]))
    zipped = requests.get(gw.url + "/api/v1/sync/batches", params={"after": 0, "limit": 10},
                          headers=gw.auth | {"Accept-Encoding": "gzip"}, stream=True, timeout=5)
    assert zipped.headers["content-encoding"] == "gzip"
    assert lines(gzip.decompress(zipped.raw.read())) == page
    ack = requests.post(gw.url + "/api/v1/sync/ack", json={"through": page[-1]["seq"]}, headers=gw.auth, timeout=5)
    assert ack.status_code == 200 and ack.json() == {"through": page[-1]["seq"], "acknowledged": 10}
    rest = lines(gw.get("/api/v1/sync/batches").content)  # no `after`: after the last acknowledgement
    assert rest[0]["seq"] == page[-1]["seq"] + 1
    late = requests.post(gw.url + "/api/v1/sync/ack", json={"through": page[2]["seq"]}, headers=gw.auth, timeout=5)
    assert late.json() == {"through": page[2]["seq"], "acknowledged": 0}  # a late, older ack: the cursor stays
    assert lines(gw.get("/api/v1/sync/batches").content) == rest
    for bad in ({"through": rest[-1]["seq"] + 100}, {"through": -1}, {"thru": 3}, [1]):
        r = requests.post(gw.url + "/api/v1/sync/ack", json=bad, headers=gw.auth, timeout=5)
        assert r.status_code == 422, (bad, r.text)
    assert gw.get("/api/v1/sync/batches", params={"after": rest[-1]["seq"]}).content == b""


def test_reference_client_writes_durably_then_acknowledges(gw, tmp_path):
    out = tmp_path / "pulled"
    cmd = [sys.executable, "-m", "edge", "sync", "pull", "--from", gw.url, "--token", gw.token, "--limit", "7"]
    r = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    files = sorted(out.glob("*.ndjson"))
    got = [e for f in files for e in lines(f.read_bytes())]
    assert files[0].name.startswith("t-gw1-") and not list(out.glob("*.tmp"))
    assert [e["seq"] for e in got] == list(range(1, len(got) + 1)) and len(got) >= 25
    assert all(len(lines(f.read_bytes())) <= 7 for f in files)
    status = subprocess.run([sys.executable, "-m", "edge", "sync", "status", "--json", "--config",
                             str(gw.config_path)], capture_output=True, text=True, cwd=REPO, timeout=30)
    s = json.loads(status.stdout)
    assert s["pull_through"] == got[-1]["seq"] and s["backlog"] == 0 and s["mode"].startswith("pull-only")
    gw.post({"kind": "bin.level", "source": "bin-9", "data": {}})
    again = subprocess.run(cmd, capture_output=True, cwd=REPO, timeout=60)  # stdout, after the acknowledgement
    assert again.returncode == 0
    assert [e["source"] for e in lines(again.stdout)] == ["bin-9"]
    wrong = subprocess.run([*cmd[:-4], "--token", "wrong-token-0123456789"], capture_output=True, text=True,
                           cwd=REPO, timeout=60)
    assert wrong.returncode == 1 and "401" in wrong.stderr


def ack(gw, through: int) -> requests.Response:
    return requests.post(gw.url + "/api/v1/sync/ack", json={"through": through}, headers=gw.auth, timeout=5)


def synced(gw) -> int:
    with sqlite3.connect(gw.db) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE synced = 1").fetchone()[0]


def test_an_ack_beyond_what_was_served_is_refused_and_stores_nothing(gw):
    page = lines(gw.get("/api/v1/sync/batches", params={"after": 0, "limit": 10}).content)
    assert page[-1]["seq"] == 10
    r = ack(gw, 15)  # events 11-15 exist, but were never handed out
    assert r.status_code == 409 and "beyond the last event served (10)" in r.json()["detail"], r.text
    assert synced(gw) == 0 and lines(gw.get("/api/v1/sync/batches", params={"limit": 1}).content)[0]["seq"] == 1
    assert ack(gw, 10).json() == {"through": 10, "acknowledged": 10}


def test_a_page_served_before_a_restart_is_acknowledged_after_it(gw):
    """A power cut between a puller's fetch and its ack: the mark of what was served is in the database."""
    page = lines(gw.get("/api/v1/sync/batches", params={"after": 0, "limit": 12}).content)
    assert page[-1]["seq"] == 12
    gw.stop()
    gw.start()
    assert ack(gw, 12).json() == {"through": 12, "acknowledged": 12}
    assert ack(gw, 13).status_code == 409 and synced(gw) == 12  # still never served
    assert ack(gw, 10).json() == {"through": 10, "acknowledged": 0}  # a late ack stays harmless


def test_the_reference_client_pulls_across_a_restart_and_fetches_again_when_an_ack_fails(gw, tmp_path):
    from sync.client import PullClient
    from sync.errors import PullError
    from sync.pull import file_writer, pull_loop

    to_file, spans = file_writer(tmp_path / "pulled"), []

    def write(body: bytes, device: str, first: int, last: int) -> None:
        to_file(body, device, first, last)
        spans.append((first, last))
        if len(spans) == 1:  # the gateway restarts between serving the first page and its acknowledgement
            gw.stop()
            gw.start()

    client = PullClient(gw.url, gw.token)
    real_ack, lost = client.ack, []

    def ack_answer_lost_once(through: int) -> None:
        if through == 20 and not lost:  # the second page's ack: the link breaks before the answer
            lost.append(through)
            raise PullError("connection broken")
        real_ack(through)

    client.ack = ack_answer_lost_once  # type: ignore[method-assign]
    try:
        n = pull_loop(client, write, after=None, limit=10, follow=False, interval=0)
    finally:
        client.close()
    assert spans[:3] == [(1, 10), (11, 20), (11, 20)]  # acknowledged after the restart; fetched again after the loss
    got = [e["seq"] for f in sorted((tmp_path / "pulled").glob("*.ndjson")) for e in lines(f.read_bytes())]
    assert got == list(range(1, n + 1)) and n >= 25
    assert synced(gw) == n


def test_on_a_full_disk_pulling_leaves_the_reserve_to_sos(make_gateway, small_disk):
    """A puller paging through the backlog of a full disk: each new page's served mark and each ack was a commit
    (the ack rewriting the page's rows), spent from the room kept for SOS. The pages are served, the mark kept in
    memory, and the acks refused (507) until there is room again."""
    gw = make_gateway(storage={"path": str(small_disk / "edge.db"), "max_mb": 16}, sync={"clock": "trusted"}).start()
    for i in range(10_000):  # a bound of 16 MB on a 4 MB disk: the disk fills first
        r = gw.post([{"kind": "bin.level", "source": "bin-1", "data": {"i": i, "blob": "z" * 2000}}] * 10)
        if r.status_code == 507:
            break
        assert r.status_code == 201, r.text
    assert "disk full" in r.json()["detail"]
    served = 0
    while page := lines(gw.get("/api/v1/sync/batches", params={"after": served, "limit": 20}).content):
        served = page[-1]["seq"]
        r = ack(gw, served)
        assert r.status_code == 507 and "acknowledgements wait" in r.json()["detail"], r.text
    assert served > 100 and synced(gw) == 0
    for i in range(25):  # a commit each, with its alert: whole pages in the log, about 30 kB each
        r = gw.post({"kind": "wristband.sos", "source": f"band-{i}", "priority": "critical", "data": {"i": i}})
        assert r.status_code == 201, (i, r.text)
    with sqlite3.connect(gw.db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'sync.served_through'").fetchone() is None
