"""`/v1/b2b/passwords`: migrate, authenticate, strength_check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.client_address import client_address
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body


@documented(
    "Migrate a password hash (creating the member if need be)",
    responses.MemberMigrated,
    schemas.PasswordMigrate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def migrate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.PasswordMigrate)
    migrated = await run(gatehouse_of(request).passwords.migrate, caller, body.given())
    return ok(
        request, {**wire.member_payload(migrated.view), "member_created": migrated.member_created}
    )


@documented(
    "Sign a member in with a password",
    responses.PasswordAuthenticated,
    schemas.PasswordAuthenticate,
    errors=(*B2B_ERRORS, 404, 429),
)
async def authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.PasswordAuthenticate)
    signed_in = await run(
        gatehouse_of(request).passwords.authenticate,
        caller,
        body.given(),
        client_address(request),
    )
    return ok(request, wire.primary_signed_in(signed_in))


@documented("Check a password's strength", responses.StrengthCheckResult, schemas.StrengthCheck)
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
