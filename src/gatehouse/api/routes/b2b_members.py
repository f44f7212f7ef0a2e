"""`/v1/b2b/organizations/{organization_id}/members...`: the member endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.errors import Code, InvalidInput


@documented(
    "Create a member",
    responses.MemberResponse,
    schemas.MemberCreate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    body = await parse_body(request, schemas.MemberCreate, {"organization_id": ident})
    view = await run(gatehouse_of(request).members.create, caller, ident, body.given())
    return ok(request, wire.member_payload(view))


@documented(
    "Get a member by member_id or email_address",
    responses.MemberResponse,
    schemas.MemberGet,
    errors=(*B2B_ERRORS, 404),
)
async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    query = parse_query(request, schemas.MemberGet, {"organization_id": ident})
    given = query.given()
    if not given:
        raise InvalidInput("pass `member_id` or `email_address`")
    view = await run(
        gatehouse_of(request).members.get,
        caller,
        ident,
        given.get("member_id"),
        given.get("email_address"),
    )
    return ok(request, wire.member_payload(view))


def _ids(request: Request) -> tuple[str, str, dict[str, str]]:
    ident = request.path_params["organization_id"]
    member_id = request.path_params["member_id"]
    return ident, member_id, {"organization_id": ident, "member_id": member_id}


@documented(
    "Update a member",
    responses.MemberResponse,
    schemas.MemberUpdate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def update(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident, member_id, echoes = _ids(request)
    body = await parse_body(request, schemas.MemberUpdate, echoes)
    fields = body.given()
    view = await run(gatehouse_of(request).members.update, caller, ident, member_id, fields)
    return ok(request, wire.member_payload(view))


@documented("Delete a member", responses.MemberDeleted, errors=(*B2B_ERRORS, 404))
async def delete(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident, member_id, echoes = _ids(request)
    await parse_body(request, schemas.Empty, echoes)
    deleted = await run(gatehouse_of(request).members.delete, caller, ident, member_id)
    return ok(request, {"member_id": deleted})


@documented("Reactivate a member", responses.MemberResponse, errors=(*B2B_ERRORS, 404, 409))
async def reactivate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident, member_id, echoes = _ids(request)
    await parse_body(request, schemas.Empty, echoes)
    view = await run(gatehouse_of(request).members.reactivate, caller, ident, member_id)
    return ok(request, wire.member_payload(view))


@documented(
    "Delete a member's MFA phone number", responses.MemberResponse, errors=(*B2B_ERRORS, 404)
)
async def delete_mfa_phone_number(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident, member_id, echoes = _ids(request)
    await parse_body(request, schemas.Empty, echoes)
    view = await run(
        gatehouse_of(request).members.delete_mfa_phone_number, caller, ident, member_id
    )
    return ok(request, wire.member_payload(view))


@documented("Delete a member's password", responses.MemberResponse, errors=(*B2B_ERRORS, 404))
async def delete_password(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    password_id = request.path_params["member_password_id"]
    await parse_body(
        request, schemas.Empty, {"organization_id": ident, "member_password_id": password_id}
    )
    view = await run(gatehouse_of(request).members.delete_password, caller, ident, password_id)
    return ok(request, wire.member_payload(view))


@documented(
    "Search members", responses.MemberSearchResults, schemas.MemberSearch, errors=(*B2B_ERRORS, 404)
)
async def search(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MemberSearch)
    query = body.query.model_dump() if body.query is not None else None
    page = await run(
        gatehouse_of(request).members.search,
        caller,
        body.organization_ids,
        query,
        body.cursor or None,
        body.limit,
    )
    return ok(
        request,
        {
            "members": [wire.member_of(view) for view in page.members],
            "results_metadata": {"total": page.total, "next_cursor": page.next_cursor},
            "organizations": {
                org_id: wire.org_to_wire(org) for org_id, org in page.organizations.items()
            },
        },
    )


async def not_supported(request: Request) -> JSONResponse:
    raise InvalidInput(
        f"`{request.url.path}` is not supported by Gatehouse yet", code=Code.UNSUPPORTED_FEATURE
    )


routes = [
    Route("/v1/b2b/organizations/members/search", search, methods=["POST"]),
    Route("/v1/b2b/organizations/{organization_id}/members", create, methods=["POST"]),
    Route("/v1/b2b/organizations/{organization_id}/member", get, methods=["GET"]),
    Route("/v1/b2b/organizations/{organization_id}/members/{member_id}", update, methods=["PUT"]),
    Route(
        "/v1/b2b/organizations/{organization_id}/members/{member_id}", delete, methods=["DELETE"]
    ),
    Route(
        "/v1/b2b/organizations/{organization_id}/members/{member_id}/reactivate",
        reactivate,
        methods=["PUT"],
    ),
    Route(
        "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}",
        delete_mfa_phone_number,
        methods=["DELETE"],
    ),
    Route(
        "/v1/b2b/organizations/{organization_id}/members/passwords/{member_password_id}",
        delete_password,
        methods=["DELETE"],
    ),
]
