"""A bound on request bodies, enforced while they arrive: a Pi's memory is not a client's to fill."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The largest body any route takes: a batch of 1000 events with their data (POST /api/v1/events).
MAX_BODY = 8 * 1024 * 1024


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, from its Content-Length before anything is read, or as
    soon as a chunked body passes it; nothing of such a request reaches a route whole."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": self._reason(int(length))}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # reaches the route as it reads the body; FastAPI's handlers answer 413
                raise HTTPException(413, self._reason(seen))
            return message

        await self.app(scope, counted, send)

    def _reason(self, size: int) -> str:
        return f"body is at least {size} bytes; at most {self.limit} are allowed"
