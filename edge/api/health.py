"""GET (and HEAD) /healthz and GET /metrics (both public: no health data of residents, only the gateway's own)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from edge import __version__
from edge.api.deps import Services, api_router
from edge.metrics import CONTENT_TYPE

STARTED = time.monotonic()


def health_report(svc: Services) -> tuple[bool, dict[str, Any]]:
    """Whether every subsystem is healthy, and the state of each."""
    subsystems: dict[str, Any] = {}
    disk_low = svc.store.reserve.released  # the disk filled up (or has less than twice the reserve free)
    # a failed last commit is degraded until a commit succeeds again (the health report makes one every 5 minutes)
    store_ok = svc.store.healthy() and not disk_low and svc.store.last_error is None
    subsystems["store"] = {"ok": store_ok, "last_error": svc.store.last_error, "disk_low": disk_low}
    ok = store_ok and svc.supervisor.healthy()
    for name, state in svc.supervisor.health().items():
        subsystems[name] = state
    for name, probe in svc.health_probes.items():
        try:
            section = probe()
        except Exception as e:  # a broken probe is itself a degradation
            section = {"ok": False, "error": repr(e)}
        subsystems[name] = section
        ok = ok and bool(section.get("ok", True))
    return ok, {
        "status": "ok" if ok else "degraded",
        "device_id": svc.config.device_id,
        "building_id": svc.config.building_id,
        "version": __version__,
        "uptime_s": round(time.monotonic() - STARTED, 1),
        "subsystems": subsystems,
    }


def router(svc: Services) -> APIRouter:
    r = api_router(tags=["health"])

    # HEAD too: monitoring tools and load balancers probe with it (FastAPI adds no HEAD to a GET route); the server
    # sends the status and headers without the body
    @r.get("/healthz", summary="State of each subsystem: 200 when healthy, 503 when degraded")
    @r.head("/healthz", summary="As GET /healthz, without the body")
    def healthz() -> JSONResponse:
        ok, report = health_report(svc)
        return JSONResponse(report, status_code=200 if ok else 503)

    @r.get("/metrics", summary="Prometheus text format", response_class=Response)
    def metrics() -> Response:
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE)

    return r
