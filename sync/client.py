"""HTTP to the central server. Owns the one keep-alive `requests.Session` of the gateway (and the reference pull
client's own); every call has a connect and a read timeout, and TLS is verified (a private CA via ca_bundle).

Retries are not done here (the adapter has max_retries=0): the outbox decides when to try again, because its
wait must end early when the other lane finds the link back, must stop at once on shutdown, and each failure
must show in /metrics and `edge sync status`. urllib3's Retry would sleep inside one call, out of reach of all
three. For the same reason the calls run in daemon threads of their own (`in_daemon_thread`): a request in flight
neither delays shutdown nor holds a lane past its deadline (connect + read timeout in all, the body included: a
read timeout alone is per read, and a server can trickle an answer a byte at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import parse_url

from edge import __version__
from sync.backoff import retry_after_seconds
from sync.errors import PullError

MAX_CONFIG_BYTES = 4 * 2**20
MAX_ANSWER_BYTES = 64 * 2**10  # of the answer to a batch only the start is kept (the reason of a refusal)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Acked:
    status: int


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same batch again later (429, 5xx, 408, timeout, broken connection)."""

    reason: str
    retry_after: float | None = None
    timeout: bool = False  # the answer did not come in time (perhaps the batch is too big for the link)
    link_down: bool = False  # no connection could be made, or it broke
    untrusted: bool = False  # TLS verification failed: the link is up, but this is not the server we trust


@dataclass(frozen=True, slots=True)
class Rejected:
    """Upstream refuses this batch (a 4xx about its content): park it and go on."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """413: send the same events again in smaller batches."""

    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Upstream refuses the gateway, not the batch (wrong token, wrong URL, a redirect): the batch is fine, so it
    is kept and tried again later, and the operator is told."""

    status: int
    reason: str
    retry_after: float | None = None


Reply = Acked | Retry | Rejected | TooLarge | Refused
# 4xx that say nothing about the batch; parking the backlog batch by batch because a token expired would be wrong
NOT_ABOUT_THE_BATCH = {401, 403, 404, 405, 407, 421, 426, 451}


def classify(status: int, retry_after: str | None, text: str) -> Reply:
    """What an HTTP answer to POST /v1/batches means for the batch (pure)."""
    reason = f"{status} {text.strip()[:200]}".strip()
    if 200 <= status < 300 or status == 409:
        return Acked(status)
    if status in (408, 429) or status >= 500:
        return Retry(reason, retry_after_seconds(retry_after))
    if status == 413:
        return TooLarge(reason)
    if 400 <= status < 500 and status not in NOT_ABOUT_THE_BATCH:
        return Rejected(status, reason)
    return Refused(status, reason, retry_after_seconds(retry_after))


@dataclass(frozen=True)
class ConfigReply:
    status: int  # 200 new document, 304 unchanged
    etag: str | None = None
    document: Any = None


def new_session(token: str | None, pool: int = 4) -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = f"edge-gateway/{__version__}"
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


class UpstreamClient:
    """POST /v1/batches and GET /v1/gateways/{device_id}/config on the central server. Safe to call from two
    threads at once (one per lane): the pool holds a connection for each."""

    def __init__(self, url: str, token: str, device_id: str, *, connect_timeout: float, read_timeout: float,
                 ca_bundle: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.device_id = device_id
        self._timeout = (connect_timeout, read_timeout)
        self.deadline_s = connect_timeout + read_timeout  # for a whole request, the answer's body included
        # given per call: a session-level setting loses to $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE when both are set
        self._verify: str | bool = str(ca_bundle) if ca_bundle else True
        self._session = new_session(token)

    def post_batch(self, key: str, body: bytes) -> Reply:
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip", "Idempotency-Key": key}
        deadline = time.monotonic() + self.deadline_s
        try:
            with self._session.post(f"{self.url}/v1/batches", data=body, headers=headers, timeout=self._timeout,
                                    verify=self._verify, allow_redirects=False, stream=True) as r:
                answer = _read_by(r, deadline, MAX_ANSWER_BYTES)
        except requests.ConnectTimeout as e:
            return Retry(f"connect timeout: {_short(e)}", link_down=True)
        except requests.exceptions.SSLError as e:
            untrusted = _cert_failure(e)
            return Retry(f"{type(e).__name__}: {_short(e)}", link_down=not untrusted, untrusted=untrusted)
        except requests.Timeout as e:
            return Retry(f"timeout: {_short(e)}", timeout=True)
        except requests.ConnectionError as e:  # refused, reset, unreachable, TLS
            return Retry(f"{type(e).__name__}: {_short(e)}", link_down=True)
        except requests.RequestException as e:  # a broken answer
            return Retry(f"{type(e).__name__}: {_short(e)}")
        text = answer.decode(r.encoding or "utf-8", errors="replace") if r.status_code >= 300 else ""
        return classify(r.status_code, r.headers.get("Retry-After"), text)

    @property
    def probe_target(self) -> tuple[str, int] | None:
        """(host, port) whose TCP connect says the link is back; None when a proxy stands between (then only a
        real request can tell)."""
        if requests.utils.get_environ_proxies(self.url):
            return None
        u = parse_url(self.url)
        return (u.host or "", u.port or (443 if u.scheme == "https" else 80))

    def get_config(self, etag: str | None) -> ConfigReply:
        """The downlink document; raises requests.RequestException or ValueError (not JSON, too large). A redirect
        is not followed (it is an error): the document must come from the verified upstream itself."""
        headers = {"Accept": "application/json"} | ({"If-None-Match": etag} if etag else {})
        url = f"{self.url}/v1/gateways/{self.device_id}/config"
        deadline = time.monotonic() + self.deadline_s
        with self._session.get(url, headers=headers, timeout=self._timeout, verify=self._verify, stream=True,
                               allow_redirects=False) as r:
            if r.status_code == 304:
                return ConfigReply(304, etag)
            r.raise_for_status()
            if r.status_code >= 300:  # raise_for_status passes 3xx
                raise requests.HTTPError(f"{r.status_code} redirect to {r.headers.get('Location')!r} not followed",
                                         response=r)
            body = _read_by(r, deadline, MAX_CONFIG_BYTES + 1)
            if len(body) > MAX_CONFIG_BYTES:
                raise ValueError(f"document larger than {MAX_CONFIG_BYTES} bytes")
            return ConfigReply(r.status_code, r.headers.get("ETag"), _json(body))

    def close(self) -> None:
        self._session.close()


class PullClient:
    """The reference client of the pull API (`edge sync pull`): what a central server that pulls would do."""

    def __init__(self, url: str, token: str, *, connect_timeout: float = 5, read_timeout: float = 60,
                 ca_bundle: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._verify: str | bool = str(ca_bundle) if ca_bundle else True
        self._session = new_session(token, pool=1)

    def fetch(self, after: int | None, limit: int) -> bytes:
        """The next page of NDJSON (gzip on the wire, decoded here); empty when there is nothing new."""
        params = {"limit": limit} | ({"after": after} if after is not None else {})
        r = self._call("GET", "/api/v1/sync/batches", params=params, headers={"Accept-Encoding": "gzip"})
        return r.content

    def ack(self, through: int) -> dict[str, Any]:
        return self._call("POST", "/api/v1/sync/ack", json={"through": through}).json()

    def _call(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            r = self._session.request(method, self.url + path, timeout=self._timeout, verify=self._verify,
                                      allow_redirects=False, **kw)
        except requests.RequestException as e:
            raise PullError(f"{method} {self.url}{path}: {_short(e)}") from None
        if r.status_code >= 300:
            raise PullError(f"{method} {self.url}{path}: {r.status_code} {r.text.strip()[:300]}")
        return r

    def close(self) -> None:
        self._session.close()


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a daemon thread of its own. Unlike asyncio.to_thread, nothing waits for that thread: a
    cancelled caller goes on at once, and the process exits while a request hangs (its batch stays pending and is
    sent again under the same key)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():  # the caller gave up
            return
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)

    def run() -> None:
        result, error = None, None
        try:
            result = fn(*args)
        except BaseException as e:  # handed to the caller
            error = e
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=f"sync-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await fut


def _read_by(r: requests.Response, deadline: float, cap: int) -> bytes:
    """At most `cap` bytes of the body, all of them by the monotonic `deadline` (else requests.ReadTimeout). The
    read timeout bounds each read, not their sum, so at the deadline a timer shuts the socket."""
    sock = getattr(getattr(r.raw, "connection", None), "sock", None)
    cut = threading.Event()
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock, cut)) if sock else None
    if timer:
        timer.daemon = True
        timer.start()
    chunks, n = [], 0
    try:
        for chunk in r.iter_content(65536):
            chunks.append(chunk)
            n += len(chunk)
            if n >= cap:
                break
    except requests.RequestException:
        if not cut.is_set():
            raise
    finally:
        if timer:
            timer.cancel()
    if cut.is_set():
        raise requests.ReadTimeout("the answer was not complete by the deadline (connect + read timeout)")
    return b"".join(chunks)[:cap]


def _shut(sock: socket.socket, cut: threading.Event) -> None:
    cut.set()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"not JSON: {e}") from None


def _cert_failure(e: BaseException) -> bool:
    """Whether the server's certificate failed verification (somewhere in requests' and urllib3's wrapping)."""
    seen: BaseException | None = e
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        reason = getattr(seen, "reason", None)  # MaxRetryError's cause (ssl.SSLError's is a string)
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = (reason if isinstance(reason, BaseException) else None) or inner or seen.__cause__ or seen.__context__
    return False


def _short(e: BaseException) -> str:
    """The root cause in a line, without urllib3's wrapping or object addresses, so that the same failure reads
    the same each time (it is compared to decide whether to record it again)."""
    inner = e.args[0] if e.args and isinstance(e.args[0], BaseException) else e
    inner = getattr(inner, "reason", None) or inner  # MaxRetryError -> what actually went wrong
    text = re.sub(r"HTTPS?Connection(Pool)?\([^)]*\): ", "", str(inner))
    return re.sub(r" object at 0x[0-9a-fA-F]+", "", text)[:300]
