"""The staff console's session cookie: signed with the API token, so the token itself never sits in a browser.

`<expiry unix seconds>.<name, url-safe base64>.<HMAC-SHA256(token, expiry and name), hex>`. Stateless: sessions
survive a restart of the gateway, end when they expire, and all end at once when the token is changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

COOKIE = "edge_staff"
MAX_NAME = 32


def _sign(token: str, payload: str) -> str:
    return hmac.new(token.encode(), b"edge-staff-session:" + payload.encode(), hashlib.sha256).hexdigest()


def make_session(token: str, name: str, *, now: datetime, ttl: timedelta) -> str:
    expires = int((now + ttl).timestamp())
    payload = f"{expires}.{base64.urlsafe_b64encode(name[:MAX_NAME].encode()).decode()}"
    return f"{payload}.{_sign(token, payload)}"


def check_session(token: str, value: str | None, *, now: datetime) -> str | None:
    """The staff member's name when the cookie is genuine and not expired, else None."""
    if not value or value.count(".") != 2:
        return None
    if not value.isascii():  # compare_digest refuses other strings (a TypeError: a 500 for a forged cookie)
        return None
    expires, name, sig = value.split(".")
    if not hmac.compare_digest(sig, _sign(token, f"{expires}.{name}")):
        return None
    if not expires.isdigit() or int(expires) < now.timestamp():
        return None
    try:
        return base64.urlsafe_b64decode(name.encode()).decode() or "staff"
    except (binascii.Error, UnicodeDecodeError):
        return None
