"""What an operator sees of a node: the access log, `GET /metrics` and `GET /readyz`
(docs/OPERATIONS.md).

`Observe` is pure ASGI middleware (no BaseHTTPMiddleware: that would add a task and a queue to
every request). Per request it reads the clock twice, wraps `send` to see the status, and adds
one observation to the request histogram; a log line is built only for a request that is logged
(by default those answered 400 and above).

An access log line never holds a secret, a token, a body or a query string: the route is the
template (`/v1/b2b/organizations/{organization_id}`), and the caller is the kind of credential
presented, read from the headers without decoding them:

- `management_key`: basic auth on the Management API (`/pwa/...`);
- `dashboard`: a bearer token (a dashboard session);
- `member_session`: basic auth with an `X-Stytch-Member-Session` or `-SessionJWT` header;
- `secret`: basic auth (a project id and secret) on the B2B API;
- `anonymous`: no credentials.

It is the kind presented, not a verdict: a wrong secret is still `secret`, answered 401.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatehouse import metrics
from gatehouse.api import responses
from gatehouse.api.operations import OPERATIONAL_ERRORS, Answer, documented
from gatehouse.config import Settings
from gatehouse.services.ids import request_id
from gatehouse.services.wiring import Gatehouse

ACCESS_LOGGER = "gatehouse.access"
log = logging.getLogger(ACCESS_LOGGER)

# Where api/errors.py `request_id_of` keeps the request id the response carries.
REQUEST_ID = "gatehouse.request_id"
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)

_SESSION_HEADERS = (b"x-stytch-member-session", b"x-stytch-member-sessionjwt")


def caller_kind(scope: Scope) -> str:
    """The kind of credential a request presents (see the module's docs)."""
    auth: bytes | None = None
    session = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            auth = value
        elif name in _SESSION_HEADERS:
            session = True
    if not auth:
        return "anonymous"
    scheme = auth.split(b" ", 1)[0].lower()
    if scheme == b"bearer":
        return "dashboard"
    if scheme != b"basic":
        return "anonymous"
    if scope["path"].startswith("/pwa/"):
        return "management_key"
    return "member_session" if session else "secret"


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class Observe:
    """The access log and the request metrics, around the whole application."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.log_all = settings.access_log == "all"
        self.log_errors = settings.access_log != "off"
        self.json = settings.log_format == "json"
        # (route, method, status) -> the histogram's child: `labels()` takes a lock per call.
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets when the application raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._done(scope, status, time.perf_counter() - start)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route, method = route_of(scope), scope["method"]
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.REQUEST_SECONDS.labels(route, method, status)
        child.observe(seconds)
        if self.log_all or (self.log_errors and status >= 400):
            self._log(scope, route, method, status, seconds)

    def _log(self, scope: Scope, route: str, method: str, status: int, seconds: float) -> None:
        rid = scope.get(REQUEST_ID)
        if rid is None:
            # The error handler outside this middleware (an unhandled 500) reads it from here.
            rid = scope[REQUEST_ID] = request_id()
        caller = caller_kind(scope)
        duration = round(seconds * 1000, 3)
        if self.json:
            line = json.dumps(
                {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "request_id": rid,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration,
                    "caller": caller,
                },
                separators=(",", ":"),
            )
        else:
            line = (
                f"request_id={rid} method={method} route={route} status={status} "
                f"duration_ms={duration} caller={caller}"
            )
        log.info(line)


def configure_access_log(settings: Settings) -> None:
    """Give the access log somewhere to go when nothing else did (`gatehouse serve`: uvicorn
    configures only its own loggers): standard error, at INFO. Logging an application set up
    itself (or pytest's capture) is left alone."""
    if settings.access_log == "off":
        return
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    text = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(
        logging.Formatter("%(message)s" if settings.log_format == "json" else text)
    )
    log.addHandler(handler)


# -- GET /metrics and GET /readyz ------------------------------------------------------------


def node_registry(gatehouse: Gatehouse) -> CollectorRegistry:
    """A registry of this node's state (its caches, change feed and pool), read when scraped."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics.NodeCollector(gatehouse.node_state))
    return registry


@documented(
    "The node's Prometheus metrics (text exposition format)",
    None,
    errors=OPERATIONAL_ERRORS,
    security=(),
    tag="Operations",
    media_type="text/plain",
    description="Prometheus' text format, version 0.0.4; docs/OPERATIONS.md lists the metrics.",
)
async def metrics_page(request: Request) -> Response:
    body = generate_latest(metrics.REGISTRY) + generate_latest(request.app.state.node_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@documented(
    "Readiness: the database answers, the schema is at head, the change feed is connected",
    responses.Ready,
    errors=OPERATIONAL_ERRORS,
    security=(),
    tag="Operations",
    answers=(Answer(503, "Not ready: the checks that failed are named.", responses.NotReady),),
)
async def readiness(request: Request) -> JSONResponse:
    """200 when the database answers, the schema is at head and the change feed is connected;
    else 503 naming what failed."""
    gatehouse: Gatehouse = request.app.state.gatehouse
    checks = await run_in_threadpool(gatehouse.readiness)
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return JSONResponse(
            {"status": "not_ready", "failed": failed, "checks": checks}, status_code=503
        )
    return JSONResponse({"status": "ready", "checks": checks})
