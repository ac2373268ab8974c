"""POST and GET /api/v1/events."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from edge.api.deps import MAX_ID, Services, api_router, require_token
from edge.clock import sane_time
from edge.errors import EventError
from edge.events import KIND_MAX, KIND_RE, SOURCE_CHARS, SOURCE_MAX, NewEvent, Priority

MAX_EVENTS = 1000


# A TypedDict rather than a model: validating 100 events into dicts and making NewEvents of them takes a quarter
# less time (measured), and a batch of 100 is the busiest request there is.
@with_config(ConfigDict(extra="forbid"))
class EventIn(TypedDict):
    """An event as a client posts it; the gateway adds id, seq, device and building."""

    kind: Annotated[str, Field(pattern=KIND_RE.pattern, max_length=KIND_MAX, examples=["bin.level"])]
    # The length is not a counted repeat in the pattern: pydantic-core's regex engine unrolls one of Unicode \w, and
    # {1,100} held 9.7 MB of memory for the life of the process, against 0.5 MB for + (measured).
    source: Annotated[str, Field(pattern=f"^{SOURCE_CHARS}+$", max_length=SOURCE_MAX, examples=["bin-1"])]
    data: NotRequired[Annotated[dict[str, Any], Field(description="{} when absent")]]
    priority: NotRequired[Annotated[Priority, Field(description="normal when absent")]]
    ts: NotRequired[Annotated[Annotated[AwareDatetime, AfterValidator(sane_time)] | None,
                              Field(description="the gateway's clock when absent or null; 2000 to 2100")]]


class Accepted(BaseModel):
    accepted: int
    ids: list[str]


_BODY = TypeAdapter(list[EventIn] | EventIn)  # for the documentation; parsing picks one by the first byte
_ONE = TypeAdapter(EventIn)
_MANY = TypeAdapter(list[EventIn])


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1", tags=["events"], dependencies=[Depends(require_token(svc.config.api.token))])

    @r.post(
        "/events",
        status_code=201,
        response_model=Accepted,
        summary="Store one event or a list of up to 1000; answers only once they are durable on disk",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": _BODY.json_schema(ref_template="#/components/schemas/{model}")}}}},
        responses={400: {"description": "not JSON"}, 413: {"description": "too large"},
                   422: {"description": "invalid events; nothing stored"}, 507: {"description": "store full"}},
    )
    async def post_events(request: Request) -> Response:
        # The body is parsed here rather than by a FastAPI body parameter: one pass of pydantic-core over the raw
        # bytes, and the whole request is refused before anything is stored.
        # (a body over edge.api.limits.MAX_BODY is a 413 while it arrives; a full store a 507, see create_app)
        events = _parse(await request.body())
        try:
            stored = await svc.store.aappend(events)
        except EventError as e:
            raise HTTPException(422, str(e)) from None
        ids = '","'.join(stored.ids)
        text = f'{{"accepted":{len(stored)},"ids":["{ids}"]}}'
        return Response(text, status_code=201, media_type="application/json")

    @r.get("/events", summary="Events with seq > after, in seq order (a JSON array)")
    def get_events(
        after: int = Query(0, ge=0, le=MAX_ID, description="return events with seq greater than this"),
        kind: str | None = Query(None, pattern=KIND_RE.pattern),
        limit: int = Query(100, ge=1, le=MAX_EVENTS),
    ) -> Response:
        rows = svc.store.event_rows(after=after, kind=kind, limit=limit)
        return Response("[" + ",".join(svc.store.event_json(row) for row in rows) + "]",
                        media_type="application/json")

    return r


def _parse(body: bytes) -> list[NewEvent]:
    start = body.lstrip()[:1]
    if start not in (b"{", b"["):
        raise HTTPException(400, "the body must be one event object or a JSON list of them")
    try:
        parsed = (_MANY if start == b"[" else _ONE).validate_json(body)
    except ValidationError as e:
        raise HTTPException(422, _reasons(e)) from None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise HTTPException(422, "the list is empty: send at least one event")
    if len(items) > MAX_EVENTS:
        raise HTTPException(413, f"{len(items)} events in one request; at most {MAX_EVENTS} are allowed")
    normal = Priority.NORMAL
    return [NewEvent(e["kind"], e["source"], e.get("data", {}), e.get("priority", normal), e.get("ts"))
            for e in items]  # ts: in UTC already (sane_time)


def _reasons(e: ValidationError) -> list[dict[str, Any]]:
    """The errors of the body, with where they are, without echoing large inputs back."""
    out = []
    for err in e.errors(include_url=False, include_input=False):
        if err["type"] == "json_invalid":
            return [{"loc": ["body"], "msg": "body is not valid JSON: " + err["msg"], "type": "json_invalid"}]
        out.append({"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]})
    return out
