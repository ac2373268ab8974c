"""The staff console: `/staff` (login form, then the console), its data and live notices, alert acknowledgement.

Login takes the API token once and answers with a signed session cookie (HttpOnly, SameSite=Strict, path /staff);
the token itself is never stored in the browser. The data endpoints take that cookie or the bearer token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from edge.api.alerts import AckIn
from edge.api.deps import MAX_ID, Services, api_router, auth_check, bearer_token, token_matches
from edge.api.health import health_report
from edge.api.kiosk import PAGE_HEADERS, NoticeIn, add_notice, live, remove_notice, running_feed, stream_response
from edge.clock import Clock, rfc3339
from edge.web import assets, staff
from edge.web.session import COOKIE, check_session, make_session
from edge.web.view import notices

LOGIN_FAILED_DELAY_S = 1.0  # slows guessing down
MAX_FORM = 4096
STREAM_THROTTLE_S = 1.5  # the console reloads its overview on each notice: not more often than this
CHARTS_EVERY_S = 60.0  # the charts span a day and a week
BANDS_EVERY_S = 20.0  # "not heard for hours" does not need fresher figures, and the query reads many rows
_NO_STORE = {**PAGE_HEADERS, "Cache-Control": "no-store"}
STAFF_PAGES = ("/staff", "/staff/parking")  # where a login may lead back to
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class StaffAuth:
    """Who is asking: "api" for the bearer token, the staff member's name for a valid session, else nobody."""

    def __init__(self, token: str, clock: Clock, session_hours: float) -> None:
        self.token, self.clock, self.ttl = token, clock, timedelta(hours=session_hours)

    def who(self, request: Request) -> str | None:
        if token_matches(bearer_token(request), self.token):
            return "api"
        return check_session(self.token, request.cookies.get(COOKIE), now=self.clock.utcnow())

    @auth_check
    def require(self, request: Request) -> str:
        if token_matches(bearer_token(request), self.token):
            return "api"  # a script's request: no browser, no cookie for another page to ride on
        name = check_session(self.token, request.cookies.get(COOKIE), now=self.clock.utcnow())
        if name is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in at /staff, or send the bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        # SameSite=Strict still sends the cookie from another port of the same host (same site, other origin)
        if request.method not in SAFE_METHODS and not same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a staff action must come from the gateway's own pages")
        return name

    def log_in(self, request: Request, name: str, next_page: str = "/staff") -> Response:
        resp = RedirectResponse(next_page if next_page in STAFF_PAGES else "/staff", status_code=303)
        resp.set_cookie(COOKIE, make_session(self.token, name, now=self.clock.utcnow(), ttl=self.ttl),
                        max_age=int(self.ttl.total_seconds()), path="/staff", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from a page of another origin (a cross-site request forgery)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")  # older browsers; scripts and curl send neither
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def login_page(files: Any, error: str | None = None, code: int = 200, *, next_page: str = "/staff") -> Response:
    """The login form; after it the browser goes back to `next_page` (only a staff page: never an open redirect)."""
    html = files["login.html"].body.decode()
    if error:
        html = html.replace("<!--error-->", f'<p class="error" role="alert">{escape(error)}</p>')
    if next_page in STAFF_PAGES:
        html = html.replace("<!--next-->", f'<input type="hidden" name="next" value="{escape(next_page)}">')
    return Response(html, status_code=code, media_type="text/html; charset=utf-8", headers=_NO_STORE)


class Every:
    """A value recomputed (in a thread: it reads the database) at most every `seconds`."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self.seconds, self.clock = seconds, clock
        self._at, self._value = float("-inf"), None

    async def get(self, compute: Callable[[], Any]) -> Any:
        if self.clock.monotonic() - self._at >= self.seconds:
            self._value, self._at = await asyncio.to_thread(compute), self.clock.monotonic()
        return self._value


def router(svc: Services) -> APIRouter:
    r = api_router(tags=["staff"])
    files = assets.load()
    auth = StaffAuth(svc.config.api.token, svc.supervisor.clock, svc.config.kiosk.session_hours)
    member = Depends(auth.require)
    charts, bands = Every(CHARTS_EVERY_S, auth.clock), Every(BANDS_EVERY_S, auth.clock)

    @r.get("/staff", response_class=Response, summary="The staff console (a login form without a session)")
    def console(request: Request) -> Response:
        if auth.who(request) is None:
            return login_page(files)
        return Response(files["staff.html"].body, media_type="text/html; charset=utf-8", headers=_NO_STORE)

    @r.post("/staff/login", response_class=Response, summary="Form fields token and name; sets the session cookie")
    async def login(request: Request) -> Response:
        form = parse_qs((await _head(request, MAX_FORM)).decode(errors="replace"))
        given, name = form.get("token", [""])[0], form.get("name", [""])[0].strip()
        next_page = form.get("next", ["/staff"])[0]
        if not token_matches(given, auth.token):
            await asyncio.sleep(LOGIN_FAILED_DELAY_S)
            return login_page(files, "口令不对，请重试。 Wrong token, please try again.", status.HTTP_401_UNAUTHORIZED,
                              next_page=next_page)
        return auth.log_in(request, name or "staff", next_page)

    @r.post("/staff/logout", response_class=Response, summary="Ends the session in this browser")
    def logout() -> Response:
        resp = RedirectResponse("/staff", status_code=303)
        resp.delete_cookie(COOKIE, path="/staff", httponly=True, samesite="strict")
        return resp

    @r.get("/staff/api/overview", summary="Everything the console shows (session cookie or bearer token)")
    async def get_overview(name: str = member) -> dict[str, Any]:
        return await overview(svc, name, charts, bands)

    @r.post("/staff/api/alerts/{alert_id}/ack", summary="Acknowledge an alert as the logged-in staff member")
    async def ack(alert_id: int = Path(ge=1, le=MAX_ID), body: AckIn | None = Body(None),
                  name: str = member) -> dict[str, Any]:
        alert = await svc.store.aack_alert(alert_id, by=body.by if body else name)
        if alert is None:
            raise HTTPException(404, f"no alert with id {alert_id}")
        return alert.to_dict(svc.config.device_id)

    @r.post("/staff/api/notices", status_code=201, dependencies=[member], summary="Show a notice on the kiosk")
    async def post_notice(body: NoticeIn) -> dict[str, Any]:
        return await add_notice(svc, body)

    @r.delete("/staff/api/notices/{notice_id}", dependencies=[member], summary="Take a pushed notice off the kiosk")
    async def delete_notice(notice_id: str) -> dict[str, Any]:
        return await remove_notice(svc, running_feed(svc), notice_id)

    @r.get("/staff/api/stream", response_class=StreamingResponse, dependencies=[member],
           summary="`event: changed` whenever events arrive (session cookie or bearer token)")
    def stream() -> StreamingResponse:
        f = running_feed(svc)
        return stream_response(live(f, lambda: f.events_version, lambda: {"version": f.events_version}, "changed",
                                    throttle=STREAM_THROTTLE_S))

    return r


async def overview(svc: Services, name: str, charts: Every, bands: Every) -> dict[str, Any]:
    f, now, store = running_feed(svc), svc.supervisor.clock.utcnow(), svc.store
    unseen = timedelta(hours=svc.config.kiosk.unseen_hours)
    read = await asyncio.to_thread(lambda: {
        "alerts": staff.alerts(store, now=now),
        "gate": staff.gate_log(store),
        "device": staff.device(store),
    })
    ok, health = health_report(svc)
    return {
        "now": rfc3339(now), "user": name, "building_id": svc.config.building_id, **read,
        "wristbands": await bands.get(lambda: staff.wristbands(store, now=now, unseen_after=unseen)),
        "charts": await charts.get(lambda: staff.chart_data(store, now=now, tz=f.tz)),
        "kiosk": f.view(), "notices": notices(f.state, f.cfg, now=now, tz=f.tz),
        "health": {"ok": ok, "subsystems": health["subsystems"]},
    }


async def _head(request: Request, n: int) -> bytes:
    """The first n bytes of the body; the rest is never held (a login form is small, a flood need not be)."""
    head = b""
    async for chunk in request.stream():
        head += chunk[:n - len(head)]
        if len(head) >= n:
            break
    return head
