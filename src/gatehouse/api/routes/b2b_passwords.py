"""`/v1/b2b/passwords`: migrate, authenticate, strength_check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.parsing import parse_body
from gatehouse.services.b2b.organizations import org_to_wire


async def migrate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.PasswordMigrate)
    created, org, member = await run(gatehouse_of(request).passwords.migrate, caller, body.given())
    return ok(
        request,
        {
            "member_id": member["member_id"],
            "member_created": created,
            "member": member,
            "organization": org_to_wire(org),
        },
    )


async def authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.PasswordAuthenticate)
    gatehouse = gatehouse_of(request)
    result = await run(gatehouse.passwords.authenticate, caller, body.given())
    member = result["member"]
    return ok(
        request,
        {
            "member_id": member["member_id"],
            "organization_id": member["organization_id"],
            "member": member,
            "organization": org_to_wire(result["org"]),
            "session_token": result["session_token"],
            "session_jwt": result["session_jwt"],
            "member_session": gatehouse.sessions.wire(result["session"]),
            "intermediate_session_token": "",
            "member_authenticated": True,
            "mfa_required": None,
            "primary_required": None,
        },
    )


async def strength_check(request: Request) -> JSONResponse:
    await caller_of(request)
    body = await parse_body(request, schemas.StrengthCheck)
    given = body.given()
    result = await run(
        gatehouse_of(request).passwords.strength_check,
        given["password"],
        given.get("email_address"),
    )
    return ok(request, result)


routes = [
    Route("/v1/b2b/passwords/migrate", migrate, methods=["POST"]),
    Route("/v1/b2b/passwords/authenticate", authenticate, methods=["POST"]),
    Route("/v1/b2b/passwords/strength_check", strength_check, methods=["POST"]),
]
