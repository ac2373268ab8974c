"""GET /api/v1/alerts and POST /api/v1/alerts/{id}/ack."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from edge.api.deps import MAX_ID, Services, api_router, require_token


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field("staff", min_length=1, max_length=64, description="who acknowledges (shown to other staff)")


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(require_token(svc.config.api.token))])
    device = svc.config.device_id

    @r.get("/alerts", summary="Alerts, critical first (a JSON array)")
    def list_alerts(
        state: Literal["open", "acked", "resolved", "all"] = Query("open"),
        limit: int = Query(200, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        found = svc.store.alerts(state=None if state == "all" else state, limit=limit)
        return [a.to_dict(device) for a in found]

    @r.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert (records an alert.acked event)")
    async def ack(alert_id: int = Path(ge=1, le=MAX_ID), body: AckIn | None = Body(None)) -> dict[str, Any]:
        alert = await svc.store.aack_alert(alert_id, by=(body or AckIn()).by)
        if alert is None:
            raise HTTPException(404, f"no alert with id {alert_id}")
        return alert.to_dict(device)

    return r
