"""Parking: `GET /api/v1/parking` and `GET /api/v1/parking/sign` (public), and the calibration page
`/staff/parking` with its data (staff session cookie or bearer token): the camera's snapshot, its map, saving it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from edge.api.deps import Services, api_router
from edge.api.kiosk import PAGE_HEADERS
from edge.api.staff import StaffAuth, login_page
from edge.web import assets
from vision.spaces import SpaceMapError, parse_space_map

if TYPE_CHECKING:  # edge.parking imports OpenCV: only a gateway with a car-park camera loads it
    from edge.parking import ParkingSubsystem

_NO_STORE = {**PAGE_HEADERS, "Cache-Control": "no-store"}


def router(svc: Services) -> APIRouter:
    r = api_router(tags=["parking"])
    files = assets.load()
    auth = StaffAuth(svc.config.api.token, svc.supervisor.clock, svc.config.kiosk.session_hours)
    member = Depends(auth.require)

    def parking() -> ParkingSubsystem:
        if svc.parking is None:
            raise HTTPException(404, "no parking camera is configured ([parking] section)")
        return svc.parking

    def camera(name: str) -> Any:
        lane = parking().lane(name)
        if lane is None:
            raise HTTPException(404, f"no parking camera named {name!r}")
        return lane

    @r.get("/api/v1/parking", summary="Public: free and total spaces per zone, the nearest free space from each "
                                      "entrance, every space")
    def state() -> dict[str, Any]:
        return parking().view()

    @r.get("/api/v1/parking/sign", response_class=PlainTextResponse,
           summary="Public: for an entrance sign, one `ZONE FREE/TOTAL` line per zone, then `FREE n`")
    def sign() -> PlainTextResponse:
        zones = parking().view()["zones"]
        from edge.parking import sign_text

        return PlainTextResponse(sign_text(zones), headers={"Cache-Control": "no-store"})

    @r.get("/staff/parking", response_class=Response, summary="The calibration page (a login form without a session)")
    def page(request: Request) -> Response:
        if auth.who(request) is None:
            return login_page(files, next_page="/staff/parking")
        return Response(files["calibrate.html"].body, media_type="text/html; charset=utf-8", headers=_NO_STORE)

    @r.get("/staff/api/parking/cameras", dependencies=[member], summary="The parking cameras and their maps")
    def cameras() -> list[dict[str, Any]]:
        p = parking()
        return [{"name": lane.cfg.name, "map": lane.space_map.to_json() if lane.space_map else None,
                 "map_error": lane.map_error, "states": {k: v.occupied for k, v in lane.states.items()},
                 "width": lane.stream.size[0] if lane.stream.size else None,
                 "height": lane.stream.size[1] if lane.stream.size else None} for lane in p.lanes]

    @r.get("/staff/api/parking/cameras/{name}/snapshot", response_class=Response, dependencies=[member],
           summary="The camera's newest frame (JPEG)")
    def snapshot(name: str) -> Response:
        camera(name)
        jpeg = parking().snapshot(name)
        if jpeg is None:
            raise HTTPException(503, f"camera {name!r} has no frame yet")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.put("/staff/api/parking/cameras/{name}/spaces", dependencies=[member],
           summary="Replace the camera's space map (SPACES.json); 422 naming each bad space, then nothing changes")
    def save(name: str, body: Any = Body(...)) -> dict[str, Any]:
        size = camera(name).stream.size
        if isinstance(body, dict) and "image" not in body and size:  # checked against the frame it was drawn on
            body = {**body, "image": {"width": size[0], "height": size[1]}}
        try:
            space_map = parse_space_map(body)
        except SpaceMapError as e:
            raise HTTPException(422, {"problems": e.problems}) from None
        if size and space_map.image and space_map.image != size:  # every frame would be refused: say it now
            raise HTTPException(422, {"problems": [
                f"image: the map was drawn on {space_map.image[0]}x{space_map.image[1]} pixels, but camera {name!r} "
                f"sends {size[0]}x{size[1]} frames"]})
        try:
            parking().save_map(name, space_map)
        except OSError as e:
            raise HTTPException(507, f"cannot write the map: {e.strerror or e}") from None
        return {"saved": len(space_map.spaces), "map": space_map.to_json()}

    return r
