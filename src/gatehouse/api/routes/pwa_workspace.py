"""`/pwa/v3/workspace...` (Gatehouse extension): the workspace's people, email-domain rules,
management keys, settings and billing profile."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses
from gatehouse.api.auth import gatehouse_of, ok, run
from gatehouse.api.operations import MANAGEMENT, MANAGEMENT_ERRORS, documented
from gatehouse.api.operator_auth import operator_of
from gatehouse.api.parsing import Body, parse_body, parse_query
from gatehouse.api.schemas import Email, Empty

Role = Literal["admin", "developer", "support_manager", "support_agent", "no_access"]


class RoleChange(Body):
    role: Role


class DomainRule(Body):
    nullable = frozenset({"auto_role"})
    jit_enabled: bool
    auto_role: Role | None = None


class KeyCreate(Body):
    role: Role
    name: Annotated[str, Field(max_length=256)] = ""


class SettingsUpdate(Body):
    name: Annotated[str, Field(min_length=1, max_length=256)]


class BillingUpdate(Body):
    plan: Literal["free", "pro", "enterprise"] | None = None
    billing_email: Email | None = None


@documented(
    "List the workspace's people",
    responses.WorkspaceMemberList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def list_members(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(
        request, {"members": await run(gatehouse_of(request).workspace.list_members, operator)}
    )


@documented(
    "Change a person's dashboard role",
    responses.WorkspaceMemberResponse,
    RoleChange,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Workspace",
)
async def change_role(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, RoleChange)
    member = await run(
        gatehouse_of(request).workspace.set_member_role,
        operator,
        request.path_params["member_id"],
        body.role,
    )
    return ok(request, {"member": member})


@documented(
    "Remove a person from the workspace",
    responses.Done,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Workspace",
)
async def remove_member(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(
        gatehouse_of(request).workspace.remove_member, operator, request.path_params["member_id"]
    )
    return ok(request, {})


@documented(
    "List the email-domain rules",
    responses.DomainRuleList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def list_domains(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(
        request, {"domains": await run(gatehouse_of(request).workspace.list_domains, operator)}
    )


@documented(
    "Set an email-domain rule",
    responses.DomainRuleResponse,
    DomainRule,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Workspace",
)
async def put_domain(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, DomainRule)
    domain = await run(
        gatehouse_of(request).workspace.put_domain,
        operator,
        request.path_params["domain"],
        body.jit_enabled,
        body.auto_role,
    )
    return ok(request, {"domain": domain})


@documented(
    "Delete an email-domain rule",
    responses.Done,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Workspace",
)
async def delete_domain(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(
        gatehouse_of(request).workspace.delete_domain, operator, request.path_params["domain"]
    )
    return ok(request, {})


@documented(
    "List management keys",
    responses.ManagementKeyList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def list_keys(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(request, {"keys": await run(gatehouse_of(request).workspace.list_keys, operator)})


@documented(
    "Create a management key (the one answer that shows its secret)",
    responses.CreatedManagementKeyResponse,
    KeyCreate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def create_key(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, KeyCreate)
    key = await run(gatehouse_of(request).workspace.create_key_as, operator, body.role, body.name)
    return ok(request, {"key": key})


@documented(
    "Revoke a management key",
    responses.Done,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def revoke_key(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, Empty)
    await run(gatehouse_of(request).workspace.revoke_key, operator, request.path_params["key_id"])
    return ok(request, {})


@documented(
    "Get the workspace's settings",
    responses.WorkspaceSettingsResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def get_settings(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(
        request, {"workspace": await run(gatehouse_of(request).workspace.get_settings, operator)}
    )


@documented(
    "Update the workspace's settings",
    responses.WorkspaceSettingsResponse,
    SettingsUpdate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def update_settings(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, SettingsUpdate)
    workspace = await run(gatehouse_of(request).workspace.update_settings, operator, body.name)
    return ok(request, {"workspace": workspace})


@documented(
    "Get the billing profile",
    responses.BillingResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def get_billing(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(
        request, {"billing": await run(gatehouse_of(request).workspace.get_billing, operator)}
    )


@documented(
    "Update the billing profile",
    responses.BillingResponse,
    BillingUpdate,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Workspace",
)
async def update_billing(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, BillingUpdate)
    billing = await run(gatehouse_of(request).workspace.update_billing, operator, body.given())
    return ok(request, {"billing": billing})


W = "/pwa/v3/workspace"
routes = [
    Route(W, get_settings, methods=["GET"]),
    Route(W, update_settings, methods=["PATCH"]),
    Route(W + "/billing", get_billing, methods=["GET"]),
    Route(W + "/billing", update_billing, methods=["PATCH"]),
    Route(W + "/members", list_members, methods=["GET"]),
    Route(W + "/members/{member_id}", change_role, methods=["PATCH"]),
    Route(W + "/members/{member_id}", remove_member, methods=["DELETE"]),
    Route(W + "/domains", list_domains, methods=["GET"]),
    Route(W + "/domains/{domain}", put_domain, methods=["PUT"]),
    Route(W + "/domains/{domain}", delete_domain, methods=["DELETE"]),
    Route(W + "/keys", list_keys, methods=["GET"]),
    Route(W + "/keys", create_key, methods=["POST"]),
    Route(W + "/keys/{key_id}", revoke_key, methods=["DELETE"]),
]
