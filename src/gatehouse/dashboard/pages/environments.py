"""An environment's Overview tab: its project ID for the B2B API, its API keys (list, create with
the secret shown once, delete), its name, the impersonation switch, and deleting a test
environment. Every role that sees project names opens the page; it shows only what the role may
see, and each control only when the role may use it (the services check again).

A new secret is shown once, on a page of its own that the creating POST redirects to (so a reload
never creates a second key): the redirect carries it in a short-lived cookie, encrypted with a key
derived from the dashboard session, that the page clears as it shows it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gatehouse.dashboard import security
from gatehouse.dashboard.pages.projects import form_name, project_path
from gatehouse.dashboard.web import ENVIRONMENT_TABS, Visit, page, redirect, render, run

NEW_SECRET_COOKIE = "gatehouse_dashboard_new_secret"
NEW_SECRET_SECONDS = 300


def _slugs(visit: Visit) -> tuple[str, str]:
    return visit.request.path_params["slug"], visit.request.path_params["env"]


def _path(visit: Visit, suffix: str = "") -> str:
    slug, env = _slugs(visit)
    return project_path(slug, f"/environments/{quote(env)}{suffix}")


def keys_permission(kind: str) -> str:
    return "api_keys.live.manage" if kind == "live" else "api_keys.test.manage"


# -- the secret shown once -----------------------------------------------------------------------


def _cipher(session_token: str) -> AESGCM:
    key = hmac.new(session_token.encode(), b"gatehouse dashboard new secret", hashlib.sha256)
    return AESGCM(key.digest())


def _seal(session_token: str, environment_id: str, shown: dict[str, str]) -> str:
    nonce = os.urandom(12)
    sealed = _cipher(session_token).encrypt(
        nonce, json.dumps(shown).encode(), environment_id.encode()
    )
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def _unseal(session_token: str, environment_id: str, value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value.encode())
        opened = _cipher(session_token).decrypt(raw[:12], raw[12:], environment_id.encode())
        shown = json.loads(opened)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if not isinstance(shown, dict) or not all(isinstance(v, str) for v in shown.values()):
        return None
    return shown


# -- the overview --------------------------------------------------------------------------------


def _overview(visit: Visit, slug: str, env: str) -> dict[str, Any]:
    projects = visit.gatehouse.projects
    project, environment, siblings = projects.environment_names(visit.operator, slug, env)
    context: dict[str, Any] = {
        "project": project,
        "environment": environment,
        "siblings": siblings,
        "config": None,
        "secrets": None,
        "keys_permission": keys_permission(environment.kind),
        # The other tabs this role may open (named where the configuration is not shown).
        "others": [
            label
            for label, _, permission in ENVIRONMENT_TABS
            if label != "Overview" and visit.may(permission)
        ],
    }
    if visit.may("project_config.view"):
        context["config"] = projects.get_environment(visit.operator, slug, env).environment
    if visit.may(context["keys_permission"]):
        context["secrets"] = projects.list_secrets(visit.operator, slug, env)
    return context


@page("projects.view_names")
async def overview(visit: Visit) -> Response:
    context = await run(_overview, visit, *_slugs(visit))
    return render(visit.request, "environment.html", visit, tab="Overview", **context)


@page("project_config.manage", back="/projects/{slug}/environments/{env}")
async def rename(visit: Visit) -> Response:
    slug, env = _slugs(visit)
    back = project_path(slug) if visit.form.get("from") == "project" else _path(visit)
    name = form_name(visit)
    if name is None:
        return redirect(visit, back, "error", "Give the environment a name (up to 256 characters).")
    _, before, _ = await run(visit.gatehouse.projects.environment_names, visit.operator, slug, env)
    await run(
        visit.gatehouse.projects.update_environment, visit.operator, slug, env, {"name": name}
    )
    return redirect(visit, back, "success", f"Renamed the environment {before.name} to {name}.")


@page("impersonation_config.manage", back="/projects/{slug}/environments/{env}")
async def impersonation(visit: Visit) -> Response:
    slug, env = _slugs(visit)
    enabled = visit.form.get("user_impersonation_enabled") == "on"
    await run(
        visit.gatehouse.projects.update_environment,
        visit.operator,
        slug,
        env,
        {"user_impersonation_enabled": enabled},
    )
    text = (
        "Support staff may now impersonate members in this environment."
        if enabled
        else "Impersonation is now off in this environment: nobody impersonates members here."
    )
    return redirect(visit, _path(visit), "success", text)


# -- deleting a test environment -----------------------------------------------------------------


def _doomed(visit: Visit, slug: str, env: str) -> dict[str, Any]:
    projects = visit.gatehouse.projects
    project, environment, _ = projects.environment_names(visit.operator, slug, env)
    config = projects.get_environment(visit.operator, slug, env).environment
    return {"project": project, "environment": environment, "config": config}


@page("environments.test.delete", back="/projects/{slug}/environments/{env}")
async def confirm_environment_deletion(visit: Visit) -> Response:
    context = await run(_doomed, visit, *_slugs(visit))
    if context["environment"].kind == "live":
        return redirect(
            visit,
            _path(visit),
            "error",
            "The live environment cannot be deleted; delete the project instead.",
        )
    return render(visit.request, "delete_environment.html", visit, **context)


@page("environments.test.delete", back="/projects/{slug}/environments/{env}")
async def delete_environment(visit: Visit) -> Response:
    slug, env = _slugs(visit)
    _, environment, _ = await run(
        visit.gatehouse.projects.environment_names, visit.operator, slug, env
    )
    await run(visit.gatehouse.projects.delete_environment, visit.operator, slug, env)
    return redirect(
        visit,
        project_path(slug),
        "success",
        f"Deleted the test environment {environment.name} with its API keys and directory.",
    )


# -- API keys ------------------------------------------------------------------------------------


@page("projects.view_names", back="/projects/{slug}/environments/{env}")
async def create_key(visit: Visit) -> Response:
    slug, env = _slugs(visit)
    projects = visit.gatehouse.projects
    created = await run(projects.create_secret, visit.operator, slug, env)
    view = await run(projects.get_environment, visit.operator, slug, env)
    environment_id = view.environment["id"]
    response = redirect(
        visit,
        _path(visit, "/keys/created"),
        "success",
        f"Created the API key {created.secret_id}. Copy its secret now: it is shown only once.",
    )
    sealed = _seal(
        visit.token, environment_id, {"secret_id": created.secret_id, "secret": created.secret}
    )
    security.set_cookie(
        visit.request, response, NEW_SECRET_COOKIE, sealed, max_age=NEW_SECRET_SECONDS
    )
    return response


def _created(visit: Visit, slug: str, env: str) -> dict[str, Any]:
    projects = visit.gatehouse.projects
    project, environment, _ = projects.environment_names(visit.operator, slug, env)
    visit.operator.require(keys_permission(environment.kind))
    config = projects.get_environment(visit.operator, slug, env).environment
    return {"project": project, "environment": environment, "config": config}


@page("projects.view_names")
async def created_key(visit: Visit) -> Response:
    context = await run(_created, visit, *_slugs(visit))
    shown = _unseal(
        visit.token, context["config"]["id"], visit.request.cookies.get(NEW_SECRET_COOKIE)
    )
    response = render(
        visit.request, "secret_created.html", visit, tab="Overview", shown=shown, **context
    )
    if visit.request.cookies.get(NEW_SECRET_COOKIE):
        security.clear_cookie(visit.request, response, NEW_SECRET_COOKIE)
    return response


def _key(visit: Visit, slug: str, env: str, secret_id: str) -> dict[str, Any]:
    projects = visit.gatehouse.projects
    project, environment, _ = projects.environment_names(visit.operator, slug, env)
    secret = projects.get_secret(visit.operator, slug, env, secret_id)
    return {"project": project, "environment": environment, "secret": secret}


@page("projects.view_names", back="/projects/{slug}/environments/{env}")
async def confirm_key_deletion(visit: Visit) -> Response:
    context = await run(_key, visit, *_slugs(visit), visit.request.path_params["secret_id"])
    return render(visit.request, "delete_key.html", visit, **context)


@page("projects.view_names", back="/projects/{slug}/environments/{env}")
async def delete_key(visit: Visit) -> Response:
    slug, env = _slugs(visit)
    secret_id = visit.request.path_params["secret_id"]
    await run(visit.gatehouse.projects.delete_secret, visit.operator, slug, env, secret_id)
    return redirect(
        visit,
        _path(visit),
        "success",
        f"Deleted the API key {secret_id}: its secret no longer works.",
    )


_ENV = "/projects/{slug}/environments/{env}"

ROUTES: list[BaseRoute] = [
    Route(_ENV, overview, methods=["GET"]),
    Route(_ENV + "/rename", rename, methods=["POST"]),
    Route(_ENV + "/impersonation", impersonation, methods=["POST"]),
    Route(_ENV + "/delete", confirm_environment_deletion, methods=["GET"]),
    Route(_ENV + "/delete", delete_environment, methods=["POST"]),
    Route(_ENV + "/keys", create_key, methods=["POST"]),
    Route(_ENV + "/keys/created", created_key, methods=["GET"]),
    Route(_ENV + "/keys/{secret_id}/delete", confirm_key_deletion, methods=["GET"]),
    Route(_ENV + "/keys/{secret_id}/delete", delete_key, methods=["POST"]),
]
