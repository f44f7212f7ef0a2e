"""Projects and their environments."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import Visit, page, redirect, render, run


@page(None)
async def home(visit: Visit) -> Response:
    return redirect(visit, "/projects")


@page("projects.view_names")
async def projects(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.projects.list_projects, visit.operator)
    return render(visit.request, "projects.html", visit, projects=listed)


@page("projects.create", back="/projects")
async def create_project(visit: Visit) -> Response:
    name = visit.form.get("name", "").strip()
    if not name or len(name) > 256:
        return redirect(
            visit, "/projects", "error", "Give the project a name (up to 256 characters)."
        )
    created = await run(visit.gatehouse.projects.create_project, visit.operator, name, None, "B2B")
    return redirect(
        visit,
        f"/projects/{quote(created['slug'])}",
        "success",
        f"Created the project {created['name']}, with a live and a test environment.",
    )


@page("project_config.view")
async def project(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    found = await run(visit.gatehouse.projects.get_project, visit.operator, slug)
    environments = await run(visit.gatehouse.projects.list_environments, visit.operator, slug)
    return render(
        visit.request,
        "project.html",
        visit,
        project=found,
        environments=[e.environment for e in environments],
    )


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/projects", projects, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{slug}", project, methods=["GET"]),
]
