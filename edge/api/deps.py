"""What the routers share: the services they serve and the token check."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from edge.bus import EventBus
from edge.clock import Clock
from edge.config import Config
from edge.metrics import Metrics
from edge.reader import MAX_SEQ
from edge.store import EventStore
from edge.supervisor import Supervisor
from edge.web.feed import KioskFeed
from sync.downlink import Applier

if TYPE_CHECKING:
    from edge.gate import GateSubsystem
    from edge.gpio import GpioSubsystem
    from edge.parking import ParkingSubsystem
    from edge.settings import PushedSettings

MAX_ID = MAX_SEQ  # the largest INTEGER SQLite holds: larger ids and seqs are a 422, not an OverflowError


@dataclass
class Services:
    """Everything a router may use, built by edge/main.py and passed to each router factory."""

    config: Config
    store: EventStore
    supervisor: Supervisor
    metrics: Metrics
    bus: EventBus | None = None
    kiosk: KioskFeed | None = None  # the kiosk's live state (edge/web/feed.py), built by edge/main.py
    # extra health sections from subsystems: name -> probe returning a dict with "ok"
    health_probes: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    gpio: GpioSubsystem | None = None  # bins, lights, buttons, outputs and relays, when configured
    gate: GateSubsystem | None = None  # the car-park gate's cameras and whitelist, when configured
    parking: ParkingSubsystem | None = None  # the car-park cameras, their maps and occupancy, when configured
    clock: Clock = field(default_factory=Clock)
    # downlink config sections a subsystem takes: section name -> sync.downlink.Applier (see README, Sync)
    config_appliers: dict[str, Applier] = field(default_factory=dict)
    settings: PushedSettings | None = None  # the same sections pushed over the local API (edge/settings.py)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed byte by byte from response times."""
    # an empty expected token matches nothing (the configuration refuses one; this is the second lock)
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())


def auth_check(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency fn(request) as a token check: AuthFirstRoute runs it before the body is read."""
    fn.auth_check = True  # type: ignore[attr-defined]
    return fn


class AuthFirstRoute(APIRoute):
    """A route whose token checks run before FastAPI reads and parses the request's body (it reads the body before
    it solves dependencies): without the token the answer is 401, not a 422 about the body, and nobody without it
    gets a body parsed. The checks stay declared as dependencies too, which documents them in OpenAPI."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        checks = [d.dependency for d in self.dependencies if getattr(d.dependency, "auth_check", False)]
        if not checks:
            return handler

        async def checked_first(request: Request) -> Response:
            for check in checks:
                if inspect.isawaitable(result := check(request)):
                    await result
            return await handler(request)

        return checked_first


def api_router(**kwargs: Any) -> APIRouter:
    """Every router of the gateway's API: its token checks run before the body is read (AuthFirstRoute)."""
    return APIRouter(route_class=AuthFirstRoute, **kwargs)


def require_token(expected: str, *, cookie: str | None = None) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses the request with 401 unless it carries the bearer token (or the session cookie)."""

    @auth_check
    async def check(request: Request) -> None:  # async: FastAPI runs sync dependencies in a thread pool
        if token_matches(bearer_token(request), expected):
            return
        if cookie and token_matches(request.cookies.get(cookie), expected):
            return
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <api.token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return check


