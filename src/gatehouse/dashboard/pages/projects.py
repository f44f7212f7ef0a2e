"""Projects: the list (with each project's environments, for every role that sees project names),
creating one, and a project's page: renaming it, its environments (create, rename, delete a test
environment) and deleting the project, each destructive action after a confirmation page."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard.web import Visit, page, redirect, render, run

MAX_NAME = 256


def project_path(slug: str, suffix: str = "") -> str:
    return f"/projects/{quote(slug)}{suffix}"


def form_name(visit: Visit, field: str = "name") -> str | None:
    """The name a form sent, trimmed, or None when it is empty or too long."""
    name = visit.form.get(field, "").strip()
    return name if name and len(name) <= MAX_NAME else None


@page(None)
async def home(visit: Visit) -> Response:
    return redirect(visit, "/projects")


@page("projects.view_names")
async def projects(visit: Visit) -> Response:
    listed = await run(visit.gatehouse.projects.projects_with_environments, visit.operator)
    return render(visit.request, "projects.html", visit, projects=listed)


@page("projects.create", back="/projects")
async def create_project(visit: Visit) -> Response:
    name = form_name(visit)
    if name is None:
        return redirect(
            visit, "/projects", "error", "Give the project a name (up to 256 characters)."
        )
    created = await run(visit.gatehouse.projects.create_project, visit.operator, name, None, "B2B")
    return redirect(
        visit,
        project_path(created["slug"]),
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
        environments=sorted(
            (e.environment for e in environments),
            key=lambda e: (e["kind"] != "live", e["name"].lower()),
        ),
    )


@page("project_config.manage", back="/projects/{slug}")
async def rename_project(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    name = form_name(visit)
    if name is None:
        return redirect(
            visit, project_path(slug), "error", "Give the project a name (up to 256 characters)."
        )
    before = await run(visit.gatehouse.projects.get_project, visit.operator, slug)
    await run(visit.gatehouse.projects.update_project, visit.operator, slug, name)
    return redirect(
        visit, project_path(slug), "success", f"Renamed the project {before['name']} to {name}."
    )


@page("projects.delete", back="/projects/{slug}")
async def confirm_project_deletion(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    found, environments = await run(visit.gatehouse.projects.project_names, visit.operator, slug)
    return render(
        visit.request, "delete_project.html", visit, project=found, environments=environments
    )


@page("projects.delete", back="/projects/{slug}/delete")
async def delete_project(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    found = await run(visit.gatehouse.projects.get_project, visit.operator, slug)
    if visit.form.get("confirm", "").strip() != found["name"]:
        return redirect(
            visit,
            project_path(slug, "/delete"),
            "error",
            f"Type the project's name, {found['name']}, exactly to delete it. Nothing was deleted.",
        )
    await run(visit.gatehouse.projects.delete_project, visit.operator, slug)
    return redirect(
        visit,
        "/projects",
        "success",
        f"Deleted the project {found['name']} with its environments, API keys and directory.",
    )


@page("environments.test.create", back="/projects/{slug}")
async def create_environment(visit: Visit) -> Response:
    slug = visit.request.path_params["slug"]
    name = form_name(visit)
    if name is None:
        return redirect(
            visit,
            project_path(slug),
            "error",
            "Give the test environment a name (up to 256 characters).",
        )
    created = await run(
        visit.gatehouse.projects.create_environment, visit.operator, slug, {"name": name}
    )
    return redirect(
        visit,
        project_path(slug, f"/environments/{quote(created.environment['slug'])}"),
        "success",
        f"Created the test environment {name}. Create an API key to call it.",
    )


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/projects", projects, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{slug}", project, methods=["GET"]),
    Route("/projects/{slug}/rename", rename_project, methods=["POST"]),
    Route("/projects/{slug}/delete", confirm_project_deletion, methods=["GET"]),
    Route("/projects/{slug}/delete", delete_project, methods=["POST"]),
    Route("/projects/{slug}/environments", create_environment, methods=["POST"]),
]
