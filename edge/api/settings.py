"""GET /api/v1/settings and PUT /api/v1/settings/{section}: push a section (e.g. `wristbands`, the registry) to the
subsystem that takes it, without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path

from edge.api.deps import Services, api_router, require_token
from edge.settings import UnknownSection


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1", tags=["settings"], dependencies=[Depends(require_token(svc.config.api.token))])

    @r.get("/settings", summary="The sections that can be pushed, and when each was last pushed")
    def list_settings() -> dict[str, Any]:
        return {"sections": svc.settings.describe() if svc.settings else {}}

    @r.put("/settings/{section}", summary="Replace one section (validated like the central server's downlink)")
    async def put_setting(section: str = Path(pattern=r"^[a-z_]{1,40}$"), body: Any = Body(...)) -> dict[str, Any]:
        if svc.settings is None:
            raise HTTPException(503, "settings are not available yet")
        try:
            summary = await svc.settings.push(section, body)
        except UnknownSection as e:
            raise HTTPException(404, str(e)) from None
        except (ValueError, TypeError) as e:
            raise HTTPException(422, f"section {section}: {e}") from None
        return {"section": section, "applied": summary}

    return r
