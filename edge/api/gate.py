"""The car-park gate's whitelist: GET and PUT /api/v1/gate/whitelist (token-protected). A PUT is the
`plate_whitelist` settings section (PUT /api/v1/settings/plate_whitelist takes the same list): applied at once,
kept on disk beside the database, recorded as `gateway.config_applied`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from edge.api.deps import Services, api_router, require_token
from edge.whitelist import MAX_PLATES, SECTION


class WhitelistPut(BaseModel):
    plates: list[str] = Field(max_length=MAX_PLATES, description="residents' plates, e.g. 湘A12345; replaces the "
                              "list pushed before (the plates in the configuration stay)")


def router(svc: Services) -> APIRouter:
    r = api_router(prefix="/api/v1/gate", tags=["gate"], dependencies=[Depends(require_token(svc.config.api.token))])

    def gate() -> Any:
        if svc.gate is None:
            raise HTTPException(404, "no car-park gate is configured ([gate] section)")
        return svc.gate

    @r.get("/whitelist", summary="The plates that open the gate: configured and pushed")
    def whitelist() -> dict[str, Any]:
        return gate().whitelist.to_dict()

    @r.put("/whitelist", summary="Replace the pushed list of residents' plates (kept across restarts)")
    async def replace(body: WhitelistPut) -> dict[str, Any]:
        g = gate()
        if svc.settings is None:
            raise HTTPException(503, "settings are not available yet")
        try:
            await svc.settings.push(SECTION, body.plates)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return g.whitelist.to_dict()

    return r
