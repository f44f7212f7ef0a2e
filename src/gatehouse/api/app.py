"""The ASGI application: routes, error mapping, and the Gatehouse services behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gatehouse.api import errors, observability, openapi, responses
from gatehouse.api.hot import HotPath
from gatehouse.api.operations import OPERATIONAL_ERRORS, documented
from gatehouse.api.protocol import BUSY, HEADER_TIMEOUT, RETRY_AFTER_SECONDS
from gatehouse.api.routes import (
    b2b_changes,
    b2b_email,
    b2b_gatehouse,
    b2b_members,
    b2b_mfa,
    b2b_organizations,
    b2b_passwords,
    b2b_rbac,
    b2b_scim,
    b2b_sessions,
    b2b_sso,
    b2b_sso_oidc,
    pwa_auth,
    pwa_projects,
    pwa_support,
    pwa_workspace,
)
from gatehouse.dashboard import app as dashboard
from gatehouse.errors import Code, GatehouseError
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import Busy, Conflict


@documented(
    "Liveness: the process answers (it reads nothing)",
    responses.Health,
    errors=OPERATIONAL_ERRORS,
    security=(),
    tag="Operations",
)
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@documented(
    "This OpenAPI 3.1 document",
    responses.OpenApiDocument,
    errors=OPERATIONAL_ERRORS,
    security=(),
    tag="Operations",
)
async def openapi_document(request: Request) -> JSONResponse:
    """`GET /openapi.json`, readable without credentials: built once from the app's routes."""
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        document = request.app.state.openapi = openapi.document(request.app.routes)
    return JSONResponse(document)


# Served beside the API, without credentials (docs/OPERATIONS.md).
OPERATIONAL = [
    Route("/healthz", health, methods=["GET"]),
    Route("/readyz", observability.readiness, methods=["GET"]),
    Route("/metrics", observability.metrics_page, methods=["GET"]),
    Route(errors.ERRORS_PATH, errors.errors_page, methods=["GET"]),
    Route("/openapi.json", openapi_document, methods=["GET"]),
]


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    # Serving: follow the change feed so the node's caches stay fresh (services/cache.py).
    gatehouse: Gatehouse = app.state.gatehouse
    observability.configure_access_log(gatehouse.settings)
    # Private keys written in clear (or under an older encryption key) are sealed afresh.
    await run_in_threadpool(gatehouse.keys.reseal_stored_keys)
    await run_in_threadpool(gatehouse.mfa.reseal_stored_secrets)
    gatehouse.runtime.start()
    try:
        # The lifespan state is how the HTTP protocol (api/protocol.py) learns its settings.
        yield {HEADER_TIMEOUT: gatehouse.settings.http_header_timeout_seconds}
    finally:
        gatehouse.runtime.stop()


class _Guard:
    """Refusals before any route runs: a request over the connection cap (the protocol marks it
    busy) and a path holding NUL, which no id contains and PostgreSQL cannot take as text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope.get(BUSY):
                response = errors.error_response(
                    Request(scope),
                    Code.SERVER_BUSY,
                    f"the server is at its connection limit; retry in {RETRY_AFTER_SECONDS} s",
                )
                response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
                response.headers["connection"] = "close"
                await response(scope, receive, send)
                return
            if "\x00" in scope["path"]:
                response = errors.error_response(
                    Request(scope), Code.INVALID_REQUEST, "the path holds a NUL character"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class GatehouseApp(Starlette):
    """The Starlette app, with the hot endpoints (api/hot.py) answered before its middleware and
    routing; everything else, and every request the hot path cannot vouch for, goes through
    them as before."""

    hot: HotPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot
        if hot is not None and scope["type"] == "http" and hot.handles(scope) and BUSY not in scope:
            scope["app"] = self
            await hot(scope, receive, send)
            return
        await self._stack(scope, receive, send)

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(gatehouse: Gatehouse) -> Starlette:
    routes = [
        # Starlette matches routes in order: the hot paths (checks) come first.
        *b2b_sessions.routes,
        *b2b_gatehouse.routes,
        *OPERATIONAL,
        *b2b_organizations.routes,
        *b2b_members.routes,
        *b2b_rbac.routes,
        *b2b_passwords.routes,
        *b2b_changes.routes,
        *b2b_email.routes,
        *b2b_scim.routes,
        *b2b_sso.routes,
        *b2b_sso_oidc.routes,
        *b2b_mfa.routes,
        *pwa_projects.routes,
        *pwa_workspace.routes,
        *pwa_auth.routes,
        *pwa_support.routes,
        # The dashboard's pages under /dashboard/, and `/` redirecting there.
        *dashboard.routes(),
        *b2b_scim.scim_fallback,
    ]
    app = GatehouseApp(
        routes=routes,
        lifespan=_lifespan,
        # Refusals before routing; then the access log and request metrics (docs/OPERATIONS.md).
        middleware=[
            Middleware(_Guard),
            Middleware(observability.Observe, settings=gatehouse.settings),
        ],
        exception_handlers={
            GatehouseError: errors.gatehouse_error,
            Conflict: errors.storage_conflict,
            Busy: errors.storage_busy,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
    )
    app.state.gatehouse = gatehouse
    app.state.node_metrics = observability.node_registry(gatehouse)
    if gatehouse.settings.http_hot_path:
        app.hot = HotPath(gatehouse, app.routes, app._stack)
    return app
