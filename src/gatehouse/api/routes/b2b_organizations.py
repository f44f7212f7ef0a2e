"""`/v1/b2b/organizations`: create, get, update, delete, search."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.api.wire import org_to_wire


@documented(
    "Create an organization",
    responses.OrganizationResponse,
    schemas.OrganizationCreate,
    errors=(*B2B_ERRORS, 409),
)
async def create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OrganizationCreate)
    org = await run(gatehouse_of(request).organizations.create, caller, body.given())
    return ok(request, {"organization": org_to_wire(org)})


@documented("Get an organization", responses.OrganizationResponse, errors=(*B2B_ERRORS, 404))
async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    parse_query(request, schemas.Empty, {"organization_id": ident})
    org = await run(gatehouse_of(request).organizations.get, caller, ident)
    return ok(request, {"organization": org_to_wire(org)})


@documented(
    "Update an organization",
    responses.OrganizationResponse,
    schemas.OrganizationUpdate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def update(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    body = await parse_body(request, schemas.OrganizationUpdate, {"organization_id": ident})
    org = await run(gatehouse_of(request).organizations.update, caller, ident, body.given())
    return ok(request, {"organization": org_to_wire(org)})


@documented("Delete an organization", responses.OrganizationDeleted, errors=(*B2B_ERRORS, 404))
async def delete(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    await parse_body(request, schemas.Empty, {"organization_id": ident})
    organization_id = await run(gatehouse_of(request).organizations.delete, caller, ident)
    return ok(request, {"organization_id": organization_id})


@documented("Search organizations", responses.OrganizationSearchResults, schemas.OrganizationSearch)
async def search(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OrganizationSearch)
    query = body.query.model_dump() if body.query is not None else None
    page = await run(
        gatehouse_of(request).organizations.search, caller, query, body.cursor or None, body.limit
    )
    return ok(
        request,
        {
            "organizations": [org_to_wire(r) for r in page.organizations],
            "results_metadata": {"total": page.total, "next_cursor": page.next_cursor},
        },
    )


routes = [
    Route("/v1/b2b/organizations", create, methods=["POST"]),
    Route("/v1/b2b/organizations/search", search, methods=["POST"]),
    Route("/v1/b2b/organizations/{organization_id}", get, methods=["GET"]),
    Route("/v1/b2b/organizations/{organization_id}", update, methods=["PUT"]),
    Route("/v1/b2b/organizations/{organization_id}", delete, methods=["DELETE"]),
]
