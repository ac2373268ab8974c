"""The pull API: GET /api/v1/sync/batches and POST /api/v1/sync/ack (token-protected)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from edge.api.deps import MAX_ID, Services, api_router, require_token
from sync.pull import MAX_PULL_LIMIT, NotServed, Served, acknowledge, page
from sync.wire import accepts_gzip, gzip_bytes


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    through: int = Field(ge=0, le=MAX_ID, description="every event with seq <= through is held by the puller")


class AckOut(BaseModel):
    through: int
    acknowledged: int = Field(description="events that this acknowledgement marked synced")


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1/sync", tags=["sync"],
                  dependencies=[Depends(require_token(svc.config.api.token))])
    trusted = svc.config.sync.clock == "trusted"
    served = Served(svc.store)  # what the GETs handed out: an ack beyond it is refused (see Served)

    @r.get("/batches", response_class=Response,
           summary="Events with seq > after as NDJSON, in seq order (gzip when Accept-Encoding allows)",
           responses={200: {"content": {"application/x-ndjson": {}},
                            "description": "one event a line; empty when there is nothing new. "
                            "X-Edge-First-Seq, X-Edge-Last-Seq and X-Edge-Count describe the page"}})
    def batches(
        request: Request,
        after: int | None = Query(None, ge=0, le=MAX_ID, description="default: after the last POST /api/v1/sync/ack"),
        limit: int = Query(1000, ge=1, le=MAX_PULL_LIMIT),
    ) -> Response:
        p = page(svc.store, after, limit, trusted_clock=trusted)
        if p.last_seq is not None:
            served.note(p.last_seq)
        headers = {"Vary": "Accept-Encoding", "X-Edge-Count": str(p.count)}
        if p.count:
            headers |= {"X-Edge-First-Seq": str(p.first_seq), "X-Edge-Last-Seq": str(p.last_seq)}
        body = p.body
        if body and accepts_gzip(request.headers.get("accept-encoding")):
            body, headers["Content-Encoding"] = gzip_bytes(body), "gzip"
        return Response(body, media_type="application/x-ndjson", headers=headers)

    @r.post("/ack", response_model=AckOut, summary="Acknowledge every event with seq <= through",
            responses={409: {"description": "through is beyond the last event ever served: fetch the page, then "
                             "acknowledge it; nothing is stored"},
                       507: {"description": "disk full: acknowledgements wait until there is room again (the room "
                             "left is kept for SOS and alerts); nothing is stored"}})
    async def ack(body: AckIn) -> AckOut:
        try:
            n = await asyncio.to_thread(acknowledge, svc.store, body.through, svc.clock, served=served.through)
        except NotServed as e:
            raise HTTPException(409, str(e)) from None
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return AckOut(through=body.through, acknowledged=n)

    return r
