"""Ingest benchmark: durable appends through the store and through POST /api/v1/events, beside raw SQLite.

Run: .venv/bin/python tests/bench/ingest.py [--seconds S] [--memory-minutes M]
Every acknowledgement counted here is durable (WAL, synchronous=FULL, group commit).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.events import NewEvent  # noqa: E402
from edge.store import INSERT_SQL, EventStore  # noqa: E402
from tests.conftest import base_config, to_toml  # noqa: E402

DATA = {"bin": "bin-1", "level_pct": 42.5, "distance_cm": 61.2}


def raw_sqlite(n_batches: int, batch: int) -> float:
    """Baseline: sqlite3 executemany into the same schema, same pragmas, one commit per batch of `batch`."""
    with tempfile.TemporaryDirectory() as d:
        EventStore.open(Path(d) / "e.db", device_id="bench", building_id="b").close()  # the same schema
        conn = sqlite3.connect(Path(d) / "e.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        data = json.dumps(DATA, separators=(",", ":"))
        seq, t0 = 1, time.perf_counter()
        for _ in range(n_batches):
            rows = [(seq + i, "2026-11-23T08:00:00.000Z", "bin.level", "bin-1", 2, data, 1, 1.0) for i in range(batch)]
            seq += batch
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_SQL, rows)
            conn.execute("COMMIT")
        rate = n_batches * batch / (time.perf_counter() - t0)
        conn.close()
        return rate


def store_rate(n_batches: int, batch: int, threads: int) -> float:
    """Durable appends per second through EventStore.append from `threads` threads."""
    with tempfile.TemporaryDirectory() as d:
        store = EventStore.open(Path(d) / "e.db", device_id="bench", building_id="b", max_mb=4096)
        events = [NewEvent("bin.level", "bin-1", DATA) for _ in range(batch)]
        per = n_batches // threads

        def work() -> None:
            for _ in range(per):
                store.append(events)

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        rate = per * threads * batch / (time.perf_counter() - t0)
        store.close()
        return rate


def commit_ms(n: int) -> float:
    """Median time of one durable append of one event, one at a time: the disk's fsync plus the store's handoff.
    A client that waits for its answer can get no more than 1000 / this answers a second."""
    with tempfile.TemporaryDirectory() as d:
        store = EventStore.open(Path(d) / "e.db", device_id="bench", building_id="b")
        one = [NewEvent("bin.level", "bin-1", DATA)]
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            store.append(one)
            lat.append(time.perf_counter() - t0)
        store.close()
        return sorted(lat)[n // 2] * 1000


def cpu_s(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class Gateway:
    def __init__(self, folder: Path, simulate: bool = False, cameras: bool = True) -> None:
        doc = base_config(folder, storage={"max_mb": 4096})
        if simulate:
            doc["simulate"] = {"enabled": True, "speed": 10.0, "gate": cameras, "parking": cameras}
        self.port, self.token = doc["api"]["port"], doc["api"]["token"]
        (folder / "edge.toml").write_text(to_toml(doc))
        self.proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(folder / "edge.toml")],
                                     cwd=REPO, stderr=open(folder / "log", "wb"))
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                c.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def rss_mb(self) -> float:
        pages = int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def rss_split_mb(self) -> tuple[float, float]:
        """(anonymous, file-backed) parts of the RSS: the process's own memory, and the pages of shared libraries
        and files it has mapped (clean, shared with the page cache; how many of those count depends on the kernel)."""
        kb = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                kb[key] = int(value.split()[0])
        return kb["RssAnon"] / 1024, kb["RssFile"] / 1024

    def cpu_s(self) -> tuple[float, float]:
        return cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class Conn:
    """A lean keep-alive HTTP/1.1 client on a raw socket: the load generator must not be what limits the figures
    (http.client costs ~200 us of CPU a request, and the clients share the two cores with the gateway)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def roundtrip(self, request: bytes) -> int:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(rest) < length:
            self.buf = rest
            self._fill()
            rest = self.buf
        self.buf = rest[length:]
        return int(head[9:12])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk


def post_request(token: str, batch: int) -> bytes:
    one = {"kind": "bin.level", "source": "bin-1", "data": DATA}
    body = json.dumps([one] * batch if batch > 1 else one).encode()
    return (f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def client(port: int, token: str, batch: int, seconds: float, rate: float | None, out: mp.Queue) -> None:
    """Posts batches on one keep-alive connection; paced to `rate` requests/s when given. Reports latencies."""
    request, conn = post_request(token, batch), Conn(port)
    lat, done, t0 = [], 0, time.perf_counter()
    next_at = t0
    while time.perf_counter() - t0 < seconds:
        if rate:
            next_at += 1.0 / rate
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        s = time.perf_counter()
        status = conn.roundtrip(request)
        if status != 201:
            raise RuntimeError(f"status {status}")
        lat.append(time.perf_counter() - s)
        done += batch
    out.put((done, time.perf_counter() - t0, lat))


def http_load(gw: Gateway, clients: int, batch: int, seconds: float, rate: float | None = None):
    q: mp.Queue = mp.Queue()
    ps = [mp.Process(target=client, args=(gw.port, gw.token, batch, seconds, rate, q)) for _ in range(clients)]
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 60) for _ in ps]  # a client that failed never reports: do not hang
    for p in ps:
        p.join()
    events = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return events / elapsed, len(lat) / elapsed, lat


def _bare_server(port: int) -> None:
    """A FastAPI route that parses the same request and answers 201, storing nothing: uvicorn, FastAPI and
    the clients alone, with the gateway's server settings (httptools, no access log). The machine's ceiling
    for one request at a time today; its speed varies from day to day by more than 2x."""
    import uvicorn
    from fastapi import Body, FastAPI

    app = FastAPI()

    @app.post("/api/v1/events", status_code=201)
    async def take(event: dict = Body(...)) -> dict:  # noqa: B008 (FastAPI's way); parsed, then dropped
        return {"accepted": 1}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, http="httptools",
                proxy_headers=False, server_header=False)


class BareServer:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = "none"
        self.proc = mp.Process(target=_bare_server, args=(self.port,), daemon=True)
        self.proc.start()
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bare server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def pct(lat: list[float], p: float) -> float:
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each HTTP load")
    ap.add_argument("--memory-minutes", type=float, default=10.0, help="how long to run the simulated building")
    a = ap.parse_args()
    print(f"ingest benchmark on {os.cpu_count()} cores, Linux {platform.release()}; every acknowledgement durable "
          "(WAL, synchronous=FULL)")
    raw = max(raw_sqlite(200, 1000) for _ in range(2))
    print(f"  raw sqlite3 executemany, same schema, batches of 1000 : {raw:>10,.0f} events/s  (baseline)")
    for threads in (1, 4):
        r = max(store_rate(200, 1000, threads) for _ in range(2))
        print(f"  EventStore.append, batches of 1000, {threads} thread(s)      : {r:>10,.0f} events/s  "
              f"({r / raw:.0%} of raw; target >= 200,000)")
    with tempfile.TemporaryDirectory() as d:
        gw = Gateway(Path(d))
        try:
            http_load(gw, 4, 100, 2)  # warm up
            ev, _, _ = http_load(gw, 4, 100, a.seconds)
            print(f"  POST /api/v1/events, 4 clients, batches of 100       : {ev:>10,.0f} events/s  (target >= 60,000)")
            ms = commit_ms(1000)
            print(f"  one durable commit of one event (median, fsync bound): {ms:>10.2f} ms: 4 waiting clients can get "
                  f"at most {4000 / ms:,.0f} req/s")
            before = gw.cpu_s()
            _, req, _ = http_load(gw, 4, 1, a.seconds)
            after, n = gw.cpu_s(), req * a.seconds
            user, kernel = after[0] - before[0], after[1] - before[1]
            print(f"  POST /api/v1/events, 4 clients, one event a request  : {req:>10,.0f} req/s (target >= 4,500)")
            print(f"    gateway CPU a request: {(user + kernel) / n * 1e6:.0f} us ({user / n * 1e6:.0f} us user, "
                  f"{kernel / n * 1e6:.0f} us kernel), {(user + kernel) / a.seconds:.0%} of a core")
            bare = BareServer()
            try:
                http_load(bare, 4, 1, 2)  # warm up
                before = cpu_s(bare.proc.pid)
                _, bare_req, _ = http_load(bare, 4, 1, a.seconds)
                bare_cpu = sum(cpu_s(bare.proc.pid)) - sum(before)
            finally:
                bare.stop()
            print(f"    same clients, a bare FastAPI route storing nothing: {bare_req:>10,.0f} req/s, "
                  f"{bare_cpu / (bare_req * a.seconds) * 1e6:.0f} us CPU a request (baseline: the gateway gets "
                  f"{req / bare_req:.0%} of it)")
            _, req, lat = http_load(gw, 4, 1, a.seconds, rate=250)
            print(f"  ack latency at {req:,.0f} events/s (4 clients x 250/s)   : p50 {pct(lat, 50):.2f} ms, "
                  f"p99 {pct(lat, 99):.2f} ms, max {lat[-1] * 1000:.1f} ms (target p99 <= 20 ms)")
        finally:
            gw.stop()
    if a.memory_minutes > 0:
        memory(a.memory_minutes)


def memory(minutes: float) -> None:
    """RSS of `edge run` on the simulated building, with its two OpenCV cameras (gate, car park) and without them
    (wristbands, GPIO, store, API, kiosk: a building with no camera does not load OpenCV). Both run at once."""
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        gws = {"with its two cameras": Gateway(Path(d1), simulate=True),
               "without cameras": Gateway(Path(d2), simulate=True, cameras=False)}
        try:
            samples: dict[str, list[float]] = {k: [] for k in gws}
            end = time.monotonic() + minutes * 60
            while time.monotonic() < end:
                time.sleep(min(15, max(0.0, end - time.monotonic())))
                for k, gw in gws.items():
                    samples[k].append(gw.rss_mb())
            for k, s in samples.items():
                anon, file = gws[k].rss_split_mb()
                print(f"  edge run, simulated building {k:<21}: RSS after {minutes:g} min {s[-1]:.1f} MB "
                      f"(first minute {s[min(3, len(s) - 1)]:.1f}, max {max(s):.1f}; target < 120 MB)\n"
                      f"    of which anonymous {anon:.1f} MB, file-backed (library code, shared) {file:.1f} MB")
        finally:
            for gw in gws.values():
                gw.stop()

if __name__ == "__main__":
    main()
