"""The lobby kiosk: the page (`GET /`, public), its files, its JSON and live stream (public), and notices (token).

The public JSON and stream carry exactly what the page shows (edge/web/view.py): no health data, no wristband or
resident, no full plate.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from edge.api.deps import Services, api_router, require_token
from edge.clock import rfc3339, sane_time
from edge.events import NewEvent
from edge.web import assets
from edge.web.feed import KioskFeed
from edge.web.view import notices

RETRY_MS = 2000  # how soon a browser reconnects a dropped stream
RESEND_S = 20.0  # the state goes out at least this often: a heartbeat that also expires old entries
THROTTLE_S = 0.3  # at most about three updates a second, however busy the building
_NO_CACHE = {"Cache-Control": "no-cache"}
# The pages load nothing from anywhere but the gateway, and nothing may frame them.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class NoticeIn(BaseModel):
    """A community notice for the lobby screen."""

    model_config = ConfigDict(extra="forbid")
    # + with max_length, not {1,40}: see the source field of edge/api/events.py
    id: str | None = Field(None, pattern=r"^[\w.-]+$", max_length=40, description="to replace or remove it later")
    zh: str = Field(min_length=1, max_length=200, pattern=r"\S", description="not blank",
                    examples=["本周六上午 9 点在小区广场免费量血压。"])
    en: str | None = Field(None, max_length=300)
    until: Annotated[AwareDatetime, AfterValidator(sane_time)] | None = Field(None, description="shown until then")


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def live(feed: KioskFeed, changed: Callable[[], int], payload: Callable[[], Any], event: str, *,
               throttle: float = THROTTLE_S) -> AsyncIterator[str]:
    """A Server-Sent Events stream: `payload()` whenever `changed()` moves on, and every RESEND_S regardless."""
    loop = asyncio.get_running_loop()
    feed.clients += 1
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not feed.ready and not feed.closed:
            await feed.wait_change(1.0)
        sent, last = None, 0.0
        while not feed.closed:
            if changed() != sent or loop.time() - last >= RESEND_S:
                sent, last = changed(), loop.time()
                yield sse(event, payload())
                await asyncio.sleep(throttle)
                continue
            await feed.wait_change(max(0.0, RESEND_S - (loop.time() - last)))
    finally:
        feed.clients -= 1


def stream_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={**_NO_CACHE, "X-Accel-Buffering": "no"})


def router(svc: Services) -> APIRouter:
    r = api_router(tags=["kiosk"])
    files = assets.load()
    version = assets.version(files)
    admin = [Depends(require_token(svc.config.api.token))]

    def state() -> dict[str, Any]:
        return {**running_feed(svc).view(), "version": version}

    def page(name: str, request: Request) -> Response:
        a = files[name]
        headers = {"ETag": a.etag, **_NO_CACHE, **PAGE_HEADERS}
        if _matches(request.headers.get("if-none-match"), a.etag):
            return Response(status_code=304, headers=headers)
        return Response(a.body, media_type=a.media_type, headers=headers)

    @r.get("/", response_class=Response, summary="The lobby kiosk page (public)")
    def kiosk(request: Request) -> Response:
        return page("kiosk.html", request)

    @r.get("/static/{name}", response_class=Response, summary="The pages' scripts and styles (public)")
    def static(name: str, request: Request) -> Response:
        if name not in files:
            raise HTTPException(404, f"no file {name!r}")
        return page(name, request)

    # HEAD as for any file (link checkers, a start script waiting for the page); uvicorn sends no body. Kept out of
    # OpenAPI, where a second operation of the same function would repeat its operationId.
    for path, endpoint in (("/", kiosk), ("/static/{name}", static)):
        r.add_api_route(path, endpoint, methods=["HEAD"], response_class=Response, include_in_schema=False)

    @r.get("/api/v1/kiosk", summary="What the kiosk shows, as JSON (public)")
    def kiosk_state() -> dict[str, Any]:
        return state()

    @r.get("/api/v1/kiosk/stream", response_class=StreamingResponse,
           summary="The kiosk's state as Server-Sent Events (`event: state`), on every change (public)")
    def kiosk_stream() -> StreamingResponse:
        f = running_feed(svc)
        return stream_response(live(f, lambda: f.public_version, state, "state"))

    @r.get("/api/v1/kiosk/notices", dependencies=admin, summary="The notices on the kiosk, pushed and configured")
    def list_notices() -> list[dict[str, Any]]:
        f = running_feed(svc)
        return notices(f.state, f.cfg, now=svc.supervisor.clock.utcnow(), tz=f.tz)

    @r.post("/api/v1/kiosk/notices", status_code=201, dependencies=admin,
            summary="Show a notice on the kiosk (stored as a kiosk.notice event; the same id replaces it)")
    async def post_notice(body: NoticeIn) -> dict[str, Any]:
        return await add_notice(svc, body)

    @r.delete("/api/v1/kiosk/notices/{notice_id}", dependencies=admin,
              summary="Take a pushed notice off the kiosk (configured ones live in the config file)")
    async def delete_notice(notice_id: str) -> dict[str, Any]:
        return await remove_notice(svc, running_feed(svc), notice_id)

    return r


def running_feed(svc: Services) -> KioskFeed:
    if svc.kiosk is None:
        raise HTTPException(503, "the kiosk is not running")
    return svc.kiosk


async def add_notice(svc: Services, body: NoticeIn) -> dict[str, Any]:
    nid = body.id or "n-" + secrets.token_hex(4)
    data: dict[str, Any] = {"id": nid, "zh": body.zh}
    if body.en:
        data["en"] = body.en
    if body.until:
        data["until"] = rfc3339(body.until)
    stored = await svc.store.emit(NewEvent("kiosk.notice", "api", data))
    return {"id": nid, "event_id": stored.id}


async def remove_notice(svc: Services, feed: KioskFeed, notice_id: str) -> dict[str, Any]:
    if notice_id not in feed.state.notices:
        hint = " (configured notices are removed in the config file)" if notice_id.startswith("config-") else ""
        raise HTTPException(404, f"no pushed notice {notice_id!r}{hint}")
    stored = await svc.store.emit(NewEvent("kiosk.notice_removed", "api", {"id": notice_id}))
    return {"id": notice_id, "event_id": stored.id}


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison: the header may list several tags, weak (W/) or not, or be *."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
