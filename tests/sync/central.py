"""A central server for the tests: real HTTP on 127.0.0.1 (http.server, keep-alive) that stores batches by
Idempotency-Key, as the contract asks of the real one, and fails on purpose when told to.

Faults are taken one per request from `faults` (a request with none left is served normally), or chosen by
`rule(key, events)`:
- ("status", code, retry_after|None): answer that status, store nothing
- ("drop",): read the request, close the connection without an answer, store nothing
- ("lost",): store the batch, then close without an answer (the answer is lost)
- ("slow", seconds): store the batch, answer after `seconds`
- ("trickle", n, seconds): store the batch, answer 200 with a body of `n` bytes, one each `seconds`
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "central-token-0123456789"

Fault = tuple[Any, ...]


@dataclass
class Arrival:
    at: float  # time.monotonic() when the request was read
    key: str
    events: list[dict[str, Any]]
    fault: str  # ok, status, drop, lost, slow
    answer: str  # what the server did: 200, 409, 503, drop, lost, ...


@dataclass
class Central:
    port: int = 0
    token: str = TOKEN
    faults: deque[Fault] = field(default_factory=deque)
    rule: Callable[[str, list[dict[str, Any]]], Fault | None] | None = None
    stored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # key -> events, first copy
    arrivals: list[Arrival] = field(default_factory=list)
    wire_bytes: int = 0
    config_doc: Any = None
    config_etag: str = '"v1"'
    config_requests: list[str | None] = field(default_factory=list)  # If-None-Match of each config GET
    config_redirect: str | None = None  # answer config GETs with a 302 to this URL
    violations: list[str] = field(default_factory=list)  # requests that broke the contract
    lock: threading.Lock = field(default_factory=threading.Lock)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/api"

    def start(self) -> Central:
        """Listen (again, on the same port when restarted: the link comes back)."""
        handler = type("Handler", (_Handler,), {"central": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        if self.tls:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection: the link is down."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server.cut_all()
            self._server = None

    # ---- what arrived ------------------------------------------------------------------------------------

    def events(self) -> dict[str, dict[str, Any]]:
        """Every event the server holds, by id (the first copy)."""
        with self.lock:
            return {e["id"]: e for evs in self.stored.values() for e in evs}

    def keys_by_id(self) -> dict[str, set[str]]:
        """For each event id the server kept, the keys of every request that brought it (a request refused with
        413 or 503 was not kept, so sending its events again under another key is no duplicate)."""
        out: dict[str, set[str]] = {}
        with self.lock:
            for a in self.arrivals:
                if a.fault not in ("ok", "lost", "slow"):
                    continue
                for e in a.events:
                    out.setdefault(e["id"], set()).add(a.key)
        return out

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"central: condition not met in {timeout}s; {len(self.events())} events held")
            time.sleep(0.02)


def _check(path: str, headers: Any, key: str, events: list[dict[str, Any]]) -> str | None:
    """What a request does wrong against the contract, if anything."""
    if path != "/api/v1/batches":
        return f"path {path}"
    if headers.get("Content-Type") != "application/x-ndjson" or headers.get("Content-Encoding") != "gzip":
        return f"headers {dict(headers)}"
    device, _, span = key.rpartition(":")
    first, _, last = span.partition("-")
    seqs = [e["seq"] for e in events]
    if not (first.isdigit() and last.isdigit()) or not events:
        return f"key {key!r} or an empty body"
    if seqs != sorted(set(seqs)) or not all(int(first) <= s <= int(last) for s in seqs):
        return f"seqs {seqs[:5]}... not in order or not in {key}"
    if any(e["device_id"] != device or e["id"] != f"{device}:{e['seq']}" for e in events):
        return f"device or id of an event does not match {key}"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *a: Any, **kw: Any) -> None:
        self.open: set[socket.socket] = set()
        super().__init__(*a, **kw)

    def cut_all(self) -> None:
        for s in list(self.open):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Counting:
    """Wraps the handler's rfile/wfile to count the bytes on the wire (HTTP headers included)."""

    def __init__(self, inner: Any, central: Central) -> None:
        self._inner, self._central = inner, central

    def _count(self, data: bytes) -> bytes:
        with self._central.lock:
            self._central.wire_bytes += len(data)
        return data

    def read(self, *a: Any) -> bytes:
        return self._count(self._inner.read(*a))

    def readline(self, *a: Any) -> bytes:
        return self._count(self._inner.readline(*a))

    def write(self, data: bytes) -> int:
        self._count(bytes(data))
        return self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Handler(BaseHTTPRequestHandler):
    central: Central
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.open.add(self.connection)  # type: ignore[attr-defined]
        self.rfile = _Counting(self.rfile, self.central)  # type: ignore[assignment]
        self.wfile = _Counting(self.wfile, self.central)  # type: ignore[assignment]

    def finish(self) -> None:
        self.server.open.discard(self.connection)  # type: ignore[attr-defined]
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        c = self.central
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Authorization") != f"Bearer {c.token}":
            return self._answer(401, b"bad token")
        key = self.headers.get("Idempotency-Key", "")
        events = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
        problem = _check(self.path, self.headers, key, events)
        if problem:
            with c.lock:
                c.violations.append(problem)
            return self._answer(400, problem.encode())
        with c.lock:
            fault = c.faults.popleft() if c.faults else (c.rule(key, events) if c.rule else None)
        self._serve(key, events, fault)

    def _serve(self, key: str, events: list[dict[str, Any]], fault: Fault | None) -> None:
        c, kind = self.central, (fault or ("ok",))[0]
        arrival = Arrival(time.monotonic(), key, events, kind, kind)
        with c.lock:
            c.arrivals.append(arrival)
        if kind == "status":
            arrival.answer = str(fault[1])
            headers = {"Retry-After": str(fault[2])} if len(fault) > 2 and fault[2] is not None else {}
            return self._answer(fault[1], b"failing on purpose", headers)
        if kind == "drop":
            return self._cut()
        with c.lock:
            duplicate = key in c.stored
            c.stored.setdefault(key, events)
        if kind == "lost":
            return self._cut()
        if kind == "slow":
            time.sleep(fault[1])
        if kind == "trickle":
            return self._trickle(fault[1], fault[2])
        arrival.answer = "409" if duplicate else "200"
        self._answer(409 if duplicate else 200, b'{"ok":true}')

    def do_GET(self) -> None:  # noqa: N802
        c = self.central
        if self.headers.get("Authorization") != f"Bearer {c.token}":
            return self._answer(401, b"bad token")
        with c.lock:
            c.config_requests.append(self.headers.get("If-None-Match"))
        if c.config_redirect:
            return self._answer(302, b"", {"Location": c.config_redirect})
        if c.config_doc is None:
            return self._answer(404, b"no config")
        if self.headers.get("If-None-Match") == c.config_etag:
            return self._answer(304, b"", {"ETag": c.config_etag})
        body = c.config_doc if isinstance(c.config_doc, bytes) else json.dumps(c.config_doc).encode()
        self._answer(200, body, {"ETag": c.config_etag, "Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up waiting (a slow answer)
            self.close_connection = True

    def _trickle(self, n: int, every: float) -> None:
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.flush()
            for _ in range(n):
                time.sleep(every)
                self.wfile.write(b"x")
                self.wfile.flush()
        except OSError:  # the client gave up
            pass

    def _cut(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
