"""Sync benchmark: catch-up of a 1,000,000-event backlog by a real `edge run` to a local receiver, bytes on the
wire per event, and the gateway's CPU while offline with that backlog.

Run: .venv/bin/python tests/bench/sync.py [--events N] [--offline-seconds S]

The backlog is a month of a building as the subsystems record it (wristbands, bins, parking, plates, health,
a few alerts), with realistic time stamps. The receiver is a separate process that keeps batches by
Idempotency-Key as the contract asks and counts every byte of HTTP it reads and writes.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.events import NewEvent, Priority  # noqa: E402
from edge.store import EventStore  # noqa: E402
from sync.state import SYNC_COLUMNS, load_timebase  # noqa: E402
from sync.wire import gzip_bytes, ndjson  # noqa: E402
from tests.conftest import base_config, free_port, to_toml  # noqa: E402

TOKEN = "bench-central-token-0123"
SEQ = re.compile(rb'"seq":(\d+)')


# ---- the backlog ----------------------------------------------------------------------------------------------

def building(n: int, seed: int = 1):
    """n events of a building, ~2.6 s apart (a month per million), as the subsystems emit them."""
    rng = random.Random(seed)
    bands = [f"{rng.getrandbits(32):08x}" for _ in range(60)]
    flats = [f"{rng.randint(1, 6)}-{rng.randint(1, 6)}0{rng.randint(1, 4)}" for _ in bands]
    t = datetime(2026, 10, 1, tzinfo=UTC)
    for i in range(n):
        t += timedelta(milliseconds=rng.randint(1, 5200))
        r, b = rng.random(), rng.randrange(len(bands))
        band = {"band": bands[b], "flat": flats[b]}
        if r < 0.40:
            e = NewEvent("wristband.heart_rate", f"band-{bands[b]}", band | {"bpm": rng.randint(55, 105)})
        elif r < 0.55:
            e = NewEvent("wristband.seen", f"band-{bands[b]}",
                         band | {"rssi": rng.randint(-95, -40), "battery_pct": rng.randint(20, 100)})
        elif r < 0.85:
            k = f"bin-{rng.randint(1, 12)}"
            e = NewEvent("bin.level", k, {"bin": k, "level_pct": round(rng.uniform(0, 100), 1)})
        elif r < 0.95:
            e = NewEvent("parking.space", "cam-1", {"space": f"A-{rng.randint(1, 80):02d}", "zone": "A",
                                                    "occupied": rng.random() < 0.5,
                                                    "confidence": round(rng.uniform(0.8, 1), 2)})
        elif r < 0.99:
            e = NewEvent("plate.read", "gate-1", {"plate": f"京A{rng.randint(0, 99999):05d}", "color": "blue",
                                                  "confidence": round(rng.uniform(0.7, 1), 2), "direction": "in"})
        elif r < 0.999:
            e = NewEvent("gateway.health", "gateway", {"rss_mb": round(rng.uniform(80, 120), 1),
                                                       "load1": round(rng.uniform(0, 2), 2), "unsynced": i},
                         Priority.LOW)
        else:
            k = f"bin-{rng.randint(1, 12)}"
            e = NewEvent("bin.full", k, {"bin": k, "level_pct": round(rng.uniform(80, 100), 1)}, Priority.HIGH)
        yield NewEvent(e.kind, e.source, e.data, e.priority, t)


def make_backlog(path: Path, n: int) -> float:
    store = EventStore.open(path, device_id="bench-gw1", building_id="b07", max_mb=4096)
    t0, batch = time.perf_counter(), []
    for e in building(n):
        batch.append(e)
        if len(batch) == 20_000:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    store.close()
    return time.perf_counter() - t0


def encode_only(path: Path, batch: int) -> tuple[float, int, int]:
    """Baseline: read, encode and gzip the whole backlog in this process, no HTTP, no acknowledgements."""
    store = EventStore.open(path, device_id="bench-gw1", building_id="b07", max_mb=4096)
    timebase = load_timebase(store, trusted=True)
    t0, after, n, raw, wire = time.perf_counter(), 0, 0, 0, 0
    while rows := store.query(f"SELECT {SYNC_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                              (after, batch)):
        body = ndjson(rows, store.event_json, timebase)
        raw, wire, n, after = raw + len(body), wire + len(gzip_bytes(body)), n + len(rows), rows[-1][0]
    elapsed = time.perf_counter() - t0
    flagged = ndjson(store.query(f"SELECT {SYNC_COLUMNS} FROM events ORDER BY seq LIMIT ?", (batch,)),
                     store.event_json, load_timebase(store, trusted=False))
    store.close()
    return n / elapsed, raw // n, len(gzip_bytes(flagged)) / batch


# ---- the receiver (a separate process) ------------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stats = {"events": 0, "batches": 0, "duplicates": 0, "wire_bytes": 0, "first": None, "last": None}
    keys: set[str] = set()
    seqs: set[int] = set()
    lock = threading.Lock()

    def log_message(self, *a) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        head = len(self.raw_requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items()) + 2
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        seqs = [int(s) for s in SEQ.findall(gzip.decompress(body))]
        with self.lock:
            dup = key in self.keys
            self.keys.add(key)
            st = self.stats
            st["duplicates"] += dup
            if not dup:
                self.seqs.update(seqs)
                st["events"], st["batches"] = len(self.seqs), st["batches"] + 1
            st["first"] = st["first"] or time.time()
            st["last"] = time.time()
        reply = b'{"ok":true}'
        self.send_response(409 if dup else 200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        out = len(f"HTTP/1.1 200 OK\r\nServer: {self.version_string()}\r\nDate: {self.date_time_string()}\r\n"
                  f"Content-Length: {len(reply)}\r\n\r\n") + len(reply)
        with self.lock:
            self.stats["wire_bytes"] += head + len(body) + out

    def do_GET(self) -> None:  # noqa: N802
        with self.lock:
            body = json.dumps(self.stats).encode()
        self.send_response(200 if self.path == "/stats" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Receiver).serve_forever()


def receiver_stats(port: int) -> dict:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/stats")
    return json.loads(c.getresponse().read())


# ---- the gateway ----------------------------------------------------------------------------------------------

def start_gateway(folder: Path, db: Path, upstream_port: int | None) -> subprocess.Popen:
    doc = base_config(folder, storage={"path": str(db), "max_mb": 4096}, sync={"clock": "trusted"})
    if upstream_port:
        doc["upstream"] = {"url": f"http://127.0.0.1:{upstream_port}/api", "token": TOKEN}
    (folder / "edge.toml").write_text(to_toml(doc))
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(folder / "edge.toml")],
                            cwd=REPO, stderr=open(folder / "gateway.log", "ab"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", doc["api"]["port"], timeout=1)
            c.request("GET", "/healthz")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gateway did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def idle_cpu(folder: Path, db: Path, upstream_port: int | None, seconds: float) -> float:
    """Share of one core the gateway uses over `seconds`, after 10 s to settle."""
    proc = start_gateway(folder, db, upstream_port)
    try:
        time.sleep(10)
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
    finally:
        stop(proc)


def catch_up(folder: Path, db: Path, n: int) -> dict:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=REPO)
    try:
        for _ in range(100):
            try:
                receiver_stats(port)
                break
            except OSError:
                time.sleep(0.05)
        t0 = time.time()
        proc = start_gateway(folder, db, port)
        while (st := receiver_stats(port))["events"] < n:
            if time.time() - t0 > 600:
                raise RuntimeError(f"catch-up did not finish in 600 s: {st}")
            time.sleep(0.1)
        done = time.time()
        cpu = cpu_seconds(proc.pid)
        stop(proc)
        return st | {"started": t0, "done": done, "gateway_cpu_s": cpu}
    finally:
        receiver.kill()
        receiver.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--offline-seconds", type=float, default=30.0)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve)
    n = a.events
    print(f"sync benchmark on {os.cpu_count()} cores: a backlog of {n:,} events (a building's month)")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        db, spare = folder / "edge.db", folder / "spare" / "edge.db"
        built = make_backlog(db, n)
        spare.parent.mkdir()
        shutil.copy(db, spare)
        print(f"  backlog written in {built:.1f} s ({os.path.getsize(db) / 2**20:.0f} MB)")
        rate, raw, flagged = encode_only(spare, 10_000)
        print(f"  baseline: read + encode + gzip in one process, no HTTP : {rate:>9,.0f} events/s "
              f"({n / rate:.1f} s for the backlog); {raw} bytes/event as NDJSON")
        st = catch_up(folder, db, n)
        total, drain = st["done"] - st["started"], st["last"] - st["first"]
        print(f"  catch-up, edge run -> local receiver                   : {total:.1f} s from the start of edge run "
              f"({n / total:,.0f} events/s; target <= 30 s)")
        print(f"    startup (imports, database check) {total - drain:.1f} s, then first to last batch {drain:.1f} s "
              f"({n / max(drain, 1e-9):,.0f} events/s)")
        print(f"    {st['batches']} batches (avg {n // max(1, st['batches']):,} events), {st['duplicates']} "
              f"re-sent, gateway CPU {st['gateway_cpu_s']:.1f} s")
        print(f"  bytes on the wire per event (HTTP both ways, gzip)     : {st['wire_bytes'] / n:.1f} "
              f"(NDJSON {raw}; target <= 30)")
        print(f"    with unsynchronised-clock fields (boot, mono)        : {flagged:.1f} (gzip body only)")
        offline = idle_cpu(folder / "spare", spare, free_port(), a.offline_seconds)
        print(f"  CPU of edge run offline with the backlog ({a.offline_seconds:g} s)        : {offline:.2%} of a core "
              "(target: near zero)")
        baseline = idle_cpu(folder / "spare", spare, None, a.offline_seconds)
        print(f"    baseline: the same gateway without [upstream] (pull-only) : {baseline:.2%} of a core")


if __name__ == "__main__":
    main()
