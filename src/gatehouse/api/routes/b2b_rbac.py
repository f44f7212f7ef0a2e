"""`/v1/b2b/rbac`: the project policy and organization policies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body, parse_query


@documented("Get the project RBAC policy", responses.PolicyResponse)
async def policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    parse_query(request, schemas.Empty)
    return ok(request, {"policy": gatehouse_of(request).rbac.policy_wire(caller.environment)})


@documented(
    "Get an organization's RBAC policy", responses.OrgPolicyResponse, errors=(*B2B_ERRORS, 404)
)
async def get_org_policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    parse_query(request, schemas.Empty, {"organization_id": ident})
    org = await run(gatehouse_of(request).organizations.get, caller, ident)
    return ok(request, {"org_policy": gatehouse_of(request).rbac.org_policy_wire(org)})


@documented(
    "Set an organization's RBAC policy",
    responses.OrgPolicyResponse,
    schemas.OrgPolicyBody,
    errors=(*B2B_ERRORS, 404, 409),
)
async def set_org_policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    body = await parse_body(request, schemas.OrgPolicyBody, {"organization_id": ident})
    rbac = gatehouse_of(request).rbac
    updated = await run(rbac.set_org_policy, caller, ident, body.org_policy)
    return ok(request, {"org_policy": rbac.org_policy_wire(updated)})


routes = [
    Route("/v1/b2b/rbac/policy", policy, methods=["GET"]),
    Route("/v1/b2b/rbac/organizations/{organization_id}", get_org_policy, methods=["GET"]),
    Route("/v1/b2b/rbac/organizations/{organization_id}", set_org_policy, methods=["PUT"]),
]
