"""`/pwa/v3/projects...`: projects, environments, secrets and the RBAC policy (Management API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, wire
from gatehouse.api.auth import gatehouse_of, ok, run
from gatehouse.api.operations import MANAGEMENT, MANAGEMENT_ERRORS, documented
from gatehouse.api.operator_auth import operator_of
from gatehouse.api.parsing import Body, parse_body, parse_query
from gatehouse.api.schemas import Empty, Slug

Name = Annotated[str, Field(min_length=1, max_length=256)]
Url = Annotated[str, Field(max_length=2048)]


class ProjectCreate(Body):
    name: Name
    vertical: Literal["B2B", "CONSUMER", "ALL", "UNKNOWN"] = "B2B"
    project_slug: Slug | None = None


class ProjectUpdate(Body):
    name: Name


class _EnvironmentSettings(Body):
    cross_org_passwords_enabled: bool = False
    user_impersonation_enabled: bool = False
    zero_downtime_session_migration_url: Url = ""
    user_lock_self_serve_enabled: bool = False
    user_lock_threshold: Annotated[int, Field(ge=1, le=1000)] = 10
    user_lock_ttl: Annotated[int, Field(ge=1, le=86_400 * 365)] = 3600
    idp_authorization_url: Url = ""
    idp_dynamic_client_registration_enabled: bool = False
    idp_dynamic_client_registration_access_token_template_content: Annotated[
        str, Field(max_length=10_000)
    ] = ""


class EnvironmentCreate(_EnvironmentSettings):
    name: Name
    type: Literal["TEST", "LIVE"] = "TEST"
    environment_slug: Slug | None = None


class EnvironmentUpdate(_EnvironmentSettings):
    name: Name | None = None
    use_custom_domain_in_magic_link_emails: bool = False


class PolicyBody(Body):
    stytch_member: dict[str, Any] | None = None
    stytch_admin: dict[str, Any] | None = None
    custom_roles: list[Any] = []
    custom_resources: list[Any] = []
    custom_scopes: list[Any] = []


class UrlTypeIn(Body):
    type: Literal["LOGIN", "SIGNUP", "INVITE", "RESET_PASSWORD", "DISCOVERY"]
    is_default: bool = False


class RedirectUrlCreate(Body):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    valid_types: Annotated[list[UrlTypeIn], Field(max_length=5)] = []
    do_not_promote_defaults: bool = False


class RedirectUrlUpdate(Body):
    valid_types: Annotated[list[UrlTypeIn], Field(max_length=5)] = []
    do_not_promote_defaults: bool = False


class RedirectUrlQuery(Body):
    url: Annotated[str, Field(min_length=1, max_length=2048)]


class RedirectUrlDeleteQuery(RedirectUrlQuery):
    # The SDK sends Python's spelling of a bool in the query string.
    do_not_promote_defaults: Literal["True", "False", "true", "false"] = "False"


def _slugs(request: Request) -> tuple[str, str]:
    return request.path_params["project_slug"], request.path_params["environment_slug"]


@documented(
    "List projects",
    responses.ProjectList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def list_projects(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    projects = await run(gatehouse_of(request).projects.list_projects, operator)
    return ok(request, {"projects": [wire.project_to_wire(p) for p in projects]})


@documented(
    "Create a project",
    responses.ProjectResponse,
    ProjectCreate,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Management",
)
async def create_project(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = (await parse_body(request, ProjectCreate)).given()
    project = await run(
        gatehouse_of(request).projects.create_project,
        operator,
        body["name"],
        body.get("project_slug"),
        body.get("vertical", "B2B"),
    )
    return ok(request, {"project": wire.project_to_wire(project)})


@documented(
    "Get a project",
    responses.ProjectResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def get_project(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    slug = request.path_params["project_slug"]
    project = await run(gatehouse_of(request).projects.get_project, operator, slug)
    return ok(request, {"project": wire.project_to_wire(project)})


@documented(
    "Rename a project",
    responses.ProjectResponse,
    ProjectUpdate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def update_project(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, ProjectUpdate)
    slug = request.path_params["project_slug"]
    project = await run(gatehouse_of(request).projects.update_project, operator, slug, body.name)
    return ok(request, {"project": wire.project_to_wire(project)})


@documented(
    "Delete a project",
    responses.Done,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def delete_project(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(
        gatehouse_of(request).projects.delete_project, operator, request.path_params["project_slug"]
    )
    return ok(request, {})


@documented(
    "List a project's environments",
    responses.EnvironmentList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def list_environments(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    slug = request.path_params["project_slug"]
    environments = await run(gatehouse_of(request).projects.list_environments, operator, slug)
    return ok(request, {"environments": [wire.environment_view(e) for e in environments]})


@documented(
    "Create an environment",
    responses.EnvironmentResponse,
    EnvironmentCreate,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Management",
)
async def create_environment(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, EnvironmentCreate)
    slug = request.path_params["project_slug"]
    environment = await run(
        gatehouse_of(request).projects.create_environment, operator, slug, body.given()
    )
    return ok(request, {"environment": wire.environment_view(environment)})


@documented(
    "Get an environment",
    responses.EnvironmentResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def get_environment(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    environment = await run(
        gatehouse_of(request).projects.get_environment, operator, *_slugs(request)
    )
    return ok(request, {"environment": wire.environment_view(environment)})


@documented(
    "Update an environment",
    responses.EnvironmentResponse,
    EnvironmentUpdate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def update_environment(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, EnvironmentUpdate)
    environment = await run(
        gatehouse_of(request).projects.update_environment, operator, *_slugs(request), body.given()
    )
    return ok(request, {"environment": wire.environment_view(environment)})


@documented(
    "Delete an environment",
    responses.Done,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def delete_environment(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(gatehouse_of(request).projects.delete_environment, operator, *_slugs(request))
    return ok(request, {})


@documented(
    "List an environment's secrets",
    responses.SecretList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def list_secrets(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    secrets = await run(gatehouse_of(request).projects.list_secrets, operator, *_slugs(request))
    return ok(request, {"secrets": [wire.secret_to_wire(s) for s in secrets]})


@documented(
    "Create a secret (the one answer that shows it)",
    responses.CreatedSecretResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def create_secret(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    secret = await run(gatehouse_of(request).projects.create_secret, operator, *_slugs(request))
    return ok(request, {"secret": wire.created_secret(secret)})


@documented(
    "Get a secret",
    responses.SecretResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def get_secret(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    secret = await run(
        gatehouse_of(request).projects.get_secret,
        operator,
        *_slugs(request),
        request.path_params["secret_id"],
    )
    return ok(request, {"secret": wire.secret_to_wire(secret)})


@documented(
    "Delete a secret",
    responses.Done,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def delete_secret(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(
        gatehouse_of(request).projects.delete_secret,
        operator,
        *_slugs(request),
        request.path_params["secret_id"],
    )
    return ok(request, {})


@documented(
    "Get an environment's RBAC policy",
    responses.PolicyFileResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def get_policy(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    policy = await run(gatehouse_of(request).projects.get_policy, operator, *_slugs(request))
    return ok(request, {"policy": policy})


@documented(
    "Set an environment's RBAC policy",
    responses.PolicyFileResponse,
    PolicyBody,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Management",
)
async def set_policy(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, PolicyBody)
    policy = await run(
        gatehouse_of(request).projects.set_policy, operator, *_slugs(request), body.given()
    )
    return ok(request, {"policy": policy})


@documented(
    "List an environment's redirect URLs",
    responses.RedirectUrlList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def list_redirect_urls(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    found = await run(gatehouse_of(request).redirect_urls.get_all, operator, *_slugs(request))
    return ok(request, {"redirect_urls": [wire.redirect_url(r) for r in found]})


@documented(
    "Get a redirect URL (`?url=`)",
    responses.RedirectUrlResponse,
    RedirectUrlQuery,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def get_redirect_url(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, RedirectUrlQuery)
    found = await run(
        gatehouse_of(request).redirect_urls.get, operator, *_slugs(request), query.url
    )
    return ok(request, {"redirect_url": wire.redirect_url(found)})


@documented(
    "Register a redirect URL with its types (the first of a type becomes its default)",
    responses.RedirectUrlResponse,
    RedirectUrlCreate,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Management",
)
async def create_redirect_url(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, RedirectUrlCreate)
    created = await run(
        gatehouse_of(request).redirect_urls.create,
        operator,
        *_slugs(request),
        body.url,
        [t.model_dump() for t in body.valid_types],
        body.do_not_promote_defaults,
    )
    return ok(request, {"redirect_url": wire.redirect_url(created)})


@documented(
    "Replace a redirect URL's types (`?url=`)",
    responses.RedirectUrlResponse,
    RedirectUrlUpdate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def update_redirect_url(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, RedirectUrlQuery)
    body = await parse_body(request, RedirectUrlUpdate)
    updated = await run(
        gatehouse_of(request).redirect_urls.update,
        operator,
        *_slugs(request),
        query.url,
        [t.model_dump() for t in body.valid_types],
        body.do_not_promote_defaults,
    )
    return ok(request, {"redirect_url": wire.redirect_url(updated)})


@documented(
    "Delete a redirect URL (`?url=`; another URL of each type it was default of is promoted)",
    responses.Done,
    RedirectUrlDeleteQuery,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Management",
)
async def delete_redirect_url(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, RedirectUrlDeleteQuery)
    await parse_body(request, Empty)
    await run(
        gatehouse_of(request).redirect_urls.delete,
        operator,
        *_slugs(request),
        query.url,
        query.do_not_promote_defaults.lower() == "true",
    )
    return ok(request, {})


P = "/pwa/v3/projects"
E = P + "/{project_slug}/environments/{environment_slug}"
routes = [
    Route(P, list_projects, methods=["GET"]),
    Route(P, create_project, methods=["POST"]),
    Route(P + "/{project_slug}", get_project, methods=["GET"]),
    Route(P + "/{project_slug}", update_project, methods=["PATCH"]),
    Route(P + "/{project_slug}", delete_project, methods=["DELETE"]),
    Route(P + "/{project_slug}/environments", list_environments, methods=["GET"]),
    Route(P + "/{project_slug}/environments", create_environment, methods=["POST"]),
    Route(E, get_environment, methods=["GET"]),
    Route(E, update_environment, methods=["PATCH"]),
    Route(E, delete_environment, methods=["DELETE"]),
    Route(E + "/secrets", list_secrets, methods=["GET"]),
    Route(E + "/secrets", create_secret, methods=["POST"]),
    Route(E + "/secrets/{secret_id}", get_secret, methods=["GET"]),
    Route(E + "/secrets/{secret_id}", delete_secret, methods=["DELETE"]),
    Route(E + "/rbac_policy", get_policy, methods=["GET"]),
    Route(E + "/rbac_policy", set_policy, methods=["PUT"]),
    Route(E + "/redirect_urls/all", list_redirect_urls, methods=["GET"]),
    Route(E + "/redirect_urls", get_redirect_url, methods=["GET"]),
    Route(E + "/redirect_urls", create_redirect_url, methods=["POST"]),
    Route(E + "/redirect_urls", update_redirect_url, methods=["PUT"]),
    Route(E + "/redirect_urls", delete_redirect_url, methods=["DELETE"]),
]
