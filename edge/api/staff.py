"""The staff console: `/staff` (login form, then the console), its data and live notices, alert acknowledgement.

Login takes the API token once and answers with a signed session cookie (HttpOnly, SameSite=Strict, path /staff);
the token itself is never stored in the browser. The data endpoints take that cookie or the bearer token.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from edge.api.alerts import AckIn
from edge.api.deps import Services, bearer_token, token_matches
from edge.api.health import health_report
from edge.api.kiosk import NoticeIn, add_notice, live, remove_notice, stream_response
from edge.clock import rfc3339
from edge.web import assets, staff
from edge.web.feed import KioskFeed
from edge.web.session import COOKIE, check_session, make_session
from edge.web.view import notices

CHARTS_EVERY_S = 60.0  # the charts span a day and a week: recomputing them once a minute is plenty
LOGIN_FAILED_DELAY_S = 1.0
MAX_FORM = 4096
STREAM_THROTTLE_S = 1.5  # the console refetches its overview on each notice: not more often than this


def router(svc: Services) -> APIRouter:
    r = APIRouter(tags=["staff"])
    files = assets.load()
    token = svc.config.api.token
    cfg = svc.config.kiosk
    clock = svc.supervisor.clock
    cache: dict[str, Any] = {"at": -1e9, "charts": None}

    def who(request: Request) -> str | None:
        if token_matches(bearer_token(request), token):
            return "api"
        return check_session(token, request.cookies.get(COOKIE), now=clock.utcnow())

    def staff_member(request: Request) -> str:
        name = who(request)
        if name is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in at /staff, or send the bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        return name

    def feed() -> KioskFeed:
        if svc.kiosk is None:
            raise HTTPException(503, "the kiosk is not running")
        return svc.kiosk

    def login_page(error: str | None = None, code: int = 200) -> Response:
        html = files["login.html"].body.decode()
        if error:
            html = html.replace("<!--error-->", f'<p class="error" role="alert">{escape(error)}</p>')
        return Response(html, status_code=code, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @r.get("/staff", response_class=Response, summary="The staff console (a login form without a session)")
    def console(request: Request) -> Response:
        if who(request) is None:
            return login_page()
        return Response(files["staff.html"].body, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @r.post("/staff/login", response_class=Response, summary="Form fields token and name; sets the session cookie")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:MAX_FORM].decode(errors="replace"))
        given, name = form.get("token", [""])[0], form.get("name", [""])[0].strip()
        if not token_matches(given, token):
            await asyncio.sleep(LOGIN_FAILED_DELAY_S)  # slows guessing down
            return login_page("口令不对，请重试。 Wrong token, please try again.", status.HTTP_401_UNAUTHORIZED)
        ttl = timedelta(hours=cfg.session_hours)
        resp = RedirectResponse("/staff", status_code=303)
        resp.set_cookie(COOKIE, make_session(token, name or "staff", now=clock.utcnow(), ttl=ttl),
                        max_age=int(ttl.total_seconds()), path="/staff", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp

    @r.post("/staff/logout", response_class=Response, summary="Ends the session in this browser")
    def logout() -> Response:
        resp = RedirectResponse("/staff", status_code=303)
        resp.delete_cookie(COOKIE, path="/staff", httponly=True, samesite="strict")
        return resp

    @r.get("/staff/api/overview", summary="Everything the console shows (session cookie or bearer token)")
    async def overview(name: str = Depends(staff_member)) -> dict[str, Any]:
        f, now = feed(), clock.utcnow()
        unseen = timedelta(hours=cfg.unseen_hours)
        if time.monotonic() - cache["at"] >= CHARTS_EVERY_S:
            cache["charts"] = await asyncio.to_thread(staff.chart_data, svc.store, now=now, tz=f.tz)
            cache["at"] = time.monotonic()
        read = await asyncio.to_thread(lambda: {
            "alerts": staff.alerts(svc.store, now=now),
            "wristbands": staff.wristbands(svc.store, now=now, unseen_after=unseen),
            "gate": staff.gate_log(svc.store),
            "device": staff.device(svc.store),
        })
        ok, health = health_report(svc)
        return {"now": rfc3339(now), "user": name, "building_id": svc.config.building_id, **read,
                "kiosk": f.view(), "notices": notices(f.state, f.cfg, now=now, tz=f.tz),
                "health": {"ok": ok, "subsystems": health["subsystems"]},
                "charts": cache["charts"]}

    @r.post("/staff/api/alerts/{alert_id}/ack", summary="Acknowledge an alert as the logged-in staff member")
    async def ack(alert_id: int = Path(ge=1), body: AckIn | None = Body(None),
                  name: str = Depends(staff_member)) -> dict[str, Any]:
        alert = await svc.store.aack_alert(alert_id, by=body.by if body else name)
        if alert is None:
            raise HTTPException(404, f"no alert with id {alert_id}")
        return alert.to_dict(svc.config.device_id)

    @r.post("/staff/api/notices", status_code=201, summary="Show a notice on the kiosk (as the staff member)")
    async def post_notice(body: NoticeIn, name: str = Depends(staff_member)) -> dict[str, Any]:
        return await add_notice(svc, body)

    @r.delete("/staff/api/notices/{notice_id}", summary="Take a pushed notice off the kiosk")
    async def delete_notice(notice_id: str, name: str = Depends(staff_member)) -> dict[str, Any]:
        return await remove_notice(svc, feed(), notice_id)

    @r.get("/staff/api/stream", response_class=StreamingResponse,
           summary="`event: changed` whenever events arrive (session cookie or bearer token)")
    def stream(name: str = Depends(staff_member)) -> StreamingResponse:
        f = feed()
        return stream_response(live(f, lambda: f.events_version, lambda: {"version": f.events_version}, "changed",
                                    throttle=STREAM_THROTTLE_S))

    return r
