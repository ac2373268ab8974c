"""Acknowledged events survive kill -9 of `edge run`, and a power cut, in the middle of concurrent writes."""

import random
import sqlite3
import threading
from collections.abc import Callable

import requests

from edge.files import fsync_dir


def writer(gw, stop: threading.Event, acked: dict[str, dict], seed: int, critical: float) -> None:
    """Posts batches of 1-20 events, a `critical` share of them critical (said in their data too)."""
    rng = random.Random(seed)
    session = requests.Session()
    n = 0
    while not stop.is_set():
        batch = []
        for _ in range(rng.randint(1, 20)):
            sos = rng.random() < critical
            batch.append({"kind": "wristband.sos" if sos else "bin.level", "source": f"w{seed}",
                          "priority": "critical" if sos else "normal",
                          "data": {"n": (n := n + 1), "w": seed, "sos": sos, "pad": "x" * 600}})
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


def crash_rounds(gw, crash: Callable[[], None], rounds: int, evicting: bool = False) -> tuple[dict, dict]:
    """Four clients write while the gateway is crashed `rounds` times at a random moment; after each restart every
    acknowledged event (`evicting`: every critical one; the store may have evicted others) is there with its data,
    seqs are unique, and a new event gets a seq above all before. Returns what was acknowledged and what is stored."""
    acked: dict[str, dict] = {}
    last_seq = 0
    rng = random.Random(1)
    critical = 0.1 if evicting else 0.0  # the share of SOS among the writes
    for round_ in range(rounds):
        gw.start()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(gw, stop, acked, round_ * 10 + i, critical)) for i in range(4)]
        for t in threads:
            t.start()
        threading.Event().wait(rng.uniform(0.4, 1.2))  # let writes pile up, then pull the plug mid-flight
        before = len(acked)
        crash()
        stop.set()
        for t in threads:
            t.join(10)
        assert before > 0, "the writers never got an acknowledgement"
        gw.start()
        stored = all_events(gw)
        kept = {i: data for i, data in acked.items() if data["sos"] or not evicting}
        missing = [i for i in kept if i not in stored]
        assert not missing, f"round {round_}: {len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        for event_id, data in acked.items():
            assert event_id not in stored or stored[event_id]["data"] == data
        seqs = sorted(e["seq"] for e in stored.values())
        assert seqs == sorted(set(seqs))
        new = gw.post({"kind": "bin.level", "source": "after", "data": {}}).json()["ids"][0]
        new_seq = int(new.split(":")[1])
        assert new_seq > max(seqs) and new_seq > last_seq  # seq never goes back
        last_seq = new_seq
        assert not list(gw.db.parent.glob("*.corrupt-*")), "the database was not intact after the crash"
        gw.stop()
    return acked, stored


def test_kill9_during_concurrent_writes_loses_no_acknowledged_event(make_gateway):
    gw = make_gateway()
    crash_rounds(gw, gw.kill9, rounds=4)


def test_power_cut_during_concurrent_writes_loses_no_acknowledged_event(disk, make_gateway):
    """kill -9 keeps what reached the kernel; a power cut only what was fsynced, and perhaps some of the rest, torn:
    the store must have synced every event before it answered for it (and the seq lease, and the folder's entries,
    before relying on them), and recover from whatever part of the unsynced writes reached the disk."""
    gw = make_gateway(storage={"path": str(disk.where / "data" / "edge.db")})

    cuts = iter([None, random.Random(2), random.Random(3)])  # all that was not synced lost; then a random part of it

    def power_cut() -> None:
        gw.kill9()
        disk.cut(next(cuts))

    crash_rounds(gw, power_cut, rounds=3)
    assert disk.fs.syncs > 0


def test_power_cuts_while_the_store_evicts_keep_every_critical_event(disk, make_gateway):
    """At a 1 MB bound the store evicts normal events all the time; cuts in the middle of that lose no SOS."""
    gw = make_gateway(storage={"path": str(disk.where / "data" / "edge.db"), "max_mb": 1})
    cuts = iter([None, random.Random(4), random.Random(5)])

    def power_cut() -> None:
        gw.kill9()
        disk.cut(next(cuts))

    acked, stored = crash_rounds(gw, power_cut, rounds=3, evicting=True)
    assert set(acked) - set(stored), "the store never evicted: the bound was not reached"


def test_the_power_cut_filesystem_loses_what_was_not_synced(disk):
    """The power-cut tests can fail: SQLite with synchronous=OFF (commits never fsynced) loses its committed rows in
    a cut, with synchronous=FULL keeps them."""
    counts = {}
    for sync in ("OFF", "FULL"):
        conn = sqlite3.connect(disk.where / "data" / f"{sync}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {sync}")
        conn.execute("CREATE TABLE t (x)")
        for i in range(50):
            conn.execute("INSERT INTO t VALUES (?)", (i,))  # each its own committed transaction
        conn.close()  # a clean close checkpoints; sync=OFF still never fsyncs
    fsync_dir(disk.where / "data")
    disk.cut()
    for sync in ("OFF", "FULL"):
        conn = sqlite3.connect(disk.where / "data" / f"{sync}.db")
        try:
            counts[sync] = conn.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.DatabaseError:
            counts[sync] = 0  # not even the table survived
        finally:
            conn.close()
    assert counts == {"OFF": 0, "FULL": 50}
