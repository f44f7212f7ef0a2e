"""The dashboard's browser security: its cookies, CSRF tokens, idle sign-out and the headers every
dashboard response carries.

CSRF: a form's token is an HMAC keyed by the secret its cookie holds (the session token once signed
in, a random pre-session value before), so it is bound to that session, needs no state on the
server, and holds on every node behind a load balancer. It is compared in constant time.

Idle sign-out: a second cookie holds when the session was last used, with an HMAC keyed by the
session token, so it cannot be forged or moved to another session; a request after
`dashboard_idle_minutes` without one ends the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATH = "/dashboard"
SESSION_COOKIE = "gatehouse_dashboard_session"
SEEN_COOKIE = "gatehouse_dashboard_seen"
PRE_COOKIE = "gatehouse_dashboard_pre"
FLASH_COOKIE = "gatehouse_dashboard_flash"
CSRF_FIELD = "csrf_token"

# No inline script or style, nothing from another origin, never inside a frame.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # The sign-in link's token is in the landing page's URL: never send it on.
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def csrf_token(secret: str) -> str:
    return _mac(secret, "gatehouse dashboard csrf")


def csrf_matches(secret: str | None, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(csrf_token(secret), given)


def new_pre_session() -> str:
    return secrets.token_urlsafe(32)


def seen_value(session_token: str, at: float | None = None) -> str:
    stamp = str(int(time.time() if at is None else at))
    return f"{stamp}.{_mac(session_token, 'seen ' + stamp)}"


def idle_for(session_token: str, value: str | None) -> float | None:
    """Seconds since the session was last used, or None when the cookie is missing or forged."""
    stamp, _, mac = (value or "").partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(_mac(session_token, "seen " + stamp), mac):
        return None
    return time.time() - int(stamp)


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


class SecurityHeaders:
    """ASGI middleware: every dashboard response (pages, redirects, static files) gets HEADERS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in names
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
