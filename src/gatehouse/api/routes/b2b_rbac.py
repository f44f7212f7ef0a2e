"""`/v1/b2b/rbac`: the project policy and organization policies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.parsing import parse_body, parse_query


async def policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    parse_query(request, schemas.Empty)
    return ok(request, {"policy": gatehouse_of(request).rbac.policy_wire(caller.environment)})


async def get_org_policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    parse_query(request, schemas.Empty, {"organization_id": ident})
    org = await run(gatehouse_of(request).organizations.get, caller, ident)
    return ok(request, {"org_policy": gatehouse_of(request).rbac.org_policy_wire(org)})


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
