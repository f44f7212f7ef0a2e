"""The ASGI application: routes, error mapping, and the Gatehouse services behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import errors
from gatehouse.api.routes import (
    b2b_changes,
    b2b_gatehouse,
    b2b_members,
    b2b_organizations,
    b2b_passwords,
    b2b_rbac,
    b2b_sessions,
    pwa_auth,
    pwa_projects,
    pwa_support,
    pwa_workspace,
)
from gatehouse.dashboard import app as dashboard
from gatehouse.errors import GatehouseError
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import Conflict


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    # Serving: follow the change feed so the node's caches stay fresh (services/cache.py).
    runtime = app.state.gatehouse.runtime
    runtime.start()
    try:
        yield
    finally:
        runtime.stop()


def create_app(gatehouse: Gatehouse) -> Starlette:
    routes = [
        # Starlette matches routes in order: the hot paths (checks) come first.
        *b2b_sessions.routes,
        *b2b_gatehouse.routes,
        Route("/healthz", health, methods=["GET"]),
        Route(errors.ERRORS_PATH, errors.errors_page, methods=["GET"]),
        *b2b_organizations.routes,
        *b2b_members.routes,
        *b2b_rbac.routes,
        *b2b_passwords.routes,
        *b2b_changes.routes,
        *pwa_projects.routes,
        *pwa_workspace.routes,
        *pwa_auth.routes,
        *pwa_support.routes,
        # The dashboard's pages under /dashboard/, and `/` redirecting there.
        *dashboard.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan,
        exception_handlers={
            GatehouseError: errors.gatehouse_error,
            Conflict: errors.storage_conflict,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
    )
    app.state.gatehouse = gatehouse
    return app
