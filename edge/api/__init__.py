"""The FastAPI app: every router requires the admin token except the public ones (kiosk, health, parking) and the
staff console, which takes the token at its login form."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from edge import __version__
from edge.api import alerts, events, gate, gpio, health, kiosk, parking, settings, staff, sync
from edge.api.deps import Services
from edge.api.limits import BodyLimit
from edge.errors import StoreError, StoreFullError

log = logging.getLogger(__name__)


def create_app(svc: Services, extra_routers: tuple = ()) -> FastAPI:
    app = FastAPI(
        title="edge-gateway",
        version=__version__,
        description="Building gateway: events, alerts, parking, kiosk. Bearer token unless marked public.",
        # FastAPI's built-in OpenTelemetry asks the global providers on every request: our metrics are Prometheus
        # (/metrics), and without this the check costs ~4 % of the CPU of a one-event request (measured).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # No /docs or /redoc: their pages load Swagger's scripts from a CDN into the gateway's origin, where the staff
        # session cookie lives (a Pi in a building is often offline, too); /openapi.json serves any OpenAPI viewer.
        docs_url=None, redoc_url=None,
    )
    # Routes are matched in order, one after the other: the busiest (POST /api/v1/events) first.
    for module in (events, health, kiosk, staff, alerts, settings, gpio, sync, gate, parking):
        app.include_router(module.router(svc))
    for make in extra_routers:
        app.include_router(make(svc))

    app.add_middleware(BodyLimit)

    # A route that stores an event (a notice, a setting, an acknowledgement) meets a full or failing store like
    # POST /api/v1/events does: 507 or 503 with the reason, not a 500.
    @app.exception_handler(StoreFullError)
    async def store_full(request: Request, exc: StoreFullError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=507)

    @app.exception_handler(StoreError)
    async def store_failed(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and a body holding NaN, Infinity or bytes that are not UTF-8
        # cannot be encoded as JSON: a 500 for a bad request. Where and why is enough for the client.
        return JSONResponse({"detail": [_reason(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    return app


def _reason(error: dict[str, Any]) -> dict[str, Any]:
    out = {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
    if error.get("type") == "json_invalid":
        out["msg"] = "body is not valid JSON: " + out["msg"]
    return out
