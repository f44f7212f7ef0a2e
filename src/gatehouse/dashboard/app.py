"""The dashboard's routes, mounted by `gatehouse.api.app` under `/dashboard` (and `/` redirects
here): every page module's `ROUTES`, the static files, and the security headers around them all."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from gatehouse.dashboard import security
from gatehouse.dashboard.pages import (
    directory,
    environments,
    events,
    policy,
    projects,
    session,
    workspace,
    workspace_admin,
)

PAGES = (session, projects, workspace, workspace_admin, environments, policy, directory, events)


async def to_dashboard(request: Request) -> Response:
    return RedirectResponse(security.PATH + "/", status_code=302)


def routes() -> list[BaseRoute]:
    """`/` and `/dashboard/...` for `gatehouse.api.app`."""
    pages: list[BaseRoute] = [route for module in PAGES for route in module.ROUTES]
    pages.append(Mount("/static", app=StaticFiles(directory=Path(__file__).parent / "static")))
    return [
        Route("/", to_dashboard, methods=["GET"]),
        Mount(security.PATH, app=security.SecurityHeaders(Router(pages))),
    ]
