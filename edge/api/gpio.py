"""GET /api/v1/gpio/pins: every configured pin and its reading, from the running gateway (for installers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from edge.api.deps import Services, api_router, require_token


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1/gpio", tags=["gpio"], dependencies=[Depends(require_token(svc.config.api.token))])

    @r.get("/pins", summary="Every configured GPIO pin with its current reading")
    def pins() -> dict[str, Any]:
        if svc.gpio is None:
            raise HTTPException(404, "no GPIO devices are configured ([gpio] section)")
        return {"factory": svc.gpio.factory_kind, "pins": [row.to_dict() for row in svc.gpio.pins()]}

    return r
