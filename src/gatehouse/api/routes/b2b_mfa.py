"""`/v1/b2b/totp`, `/v1/b2b/recovery_codes`, `/v1/b2b/otps/sms` and members' `.../totp`:
multi-factor authentication (services/b2b/mfa.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.client_address import client_address
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body
from gatehouse.services.context import SignIn


def _signed_in(signed_in: SignIn) -> dict[str, Any]:
    return wire.sign_in_payload(signed_in)


@documented(
    "Create a TOTP registration for a member (its secret and recovery codes are shown once)",
    responses.TotpCreated,
    schemas.TotpCreate,
    errors=(*B2B_ERRORS, 404),
)
async def totp_create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.TotpCreate)
    created = await run(gatehouse_of(request).mfa.totp_create, caller, body.given())
    return ok(
        request,
        {
            **wire.member_payload(created.view),
            "totp_registration_id": created.totp_registration_id,
            "secret": created.secret,
            "qr_code": wire.qr_code(created.otpauth_url),
            "otpauth_url": created.otpauth_url,
            "recovery_codes": created.recovery_codes,
        },
    )


@documented(
    "Authenticate a TOTP code: complete an MFA sign-in, or add the factor to a session",
    responses.MfaSignedIn,
    schemas.TotpAuthenticate,
    errors=(*B2B_ERRORS, 404, 429),
)
async def totp_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.TotpAuthenticate)
    signed_in = await run(
        gatehouse_of(request).mfa.totp_authenticate, caller, body.given(), client_address(request)
    )
    return ok(request, _signed_in(signed_in))


@documented(
    "Import a member's existing TOTP secret and recovery codes",
    responses.TotpMigrated,
    schemas.TotpMigrate,
    errors=(*B2B_ERRORS, 404),
)
async def totp_migrate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.TotpMigrate)
    migrated = await run(gatehouse_of(request).mfa.totp_migrate, caller, body.given())
    return ok(
        request,
        {
            **wire.member_payload(migrated.view),
            "totp_registration_id": migrated.totp_registration_id,
            "recovery_codes": migrated.recovery_codes,
        },
    )


@documented(
    "Delete a member's TOTP registration (and its recovery codes)",
    responses.MemberResponse,
    errors=(*B2B_ERRORS, 404),
)
async def delete_totp(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    member_id = request.path_params["member_id"]
    await parse_body(request, schemas.Empty, {"organization_id": ident, "member_id": member_id})
    view = await run(gatehouse_of(request).mfa.delete_totp, caller, ident, member_id)
    return ok(request, wire.member_payload(view))


@documented(
    "Sign in with a recovery code (each works once)",
    responses.Recovered,
    schemas.RecoveryCodesRecover,
    errors=(*B2B_ERRORS, 404, 429),
)
async def recovery_codes_recover(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.RecoveryCodesRecover)
    recovered = await run(
        gatehouse_of(request).mfa.recover, caller, body.given(), client_address(request)
    )
    return ok(
        request,
        {
            **_signed_in(recovered.sign_in),
            "recovery_codes_remaining": recovered.recovery_codes_remaining,
        },
    )


@documented(
    "A member's unused recovery codes, masked (only their digests are stored)",
    responses.RecoveryCodesShown,
    errors=(*B2B_ERRORS, 404),
)
async def recovery_codes_get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    ident = request.path_params["organization_id"]
    member_id = request.path_params["member_id"]
    shown = await run(gatehouse_of(request).mfa.recovery_codes_get, caller, ident, member_id)
    return ok(request, {**wire.member_payload(shown.view), "recovery_codes": shown.recovery_codes})


@documented(
    "Replace a member's recovery codes (the new ones are shown once)",
    responses.RecoveryCodesShown,
    schemas.RecoveryCodesRotate,
    errors=(*B2B_ERRORS, 404),
)
async def recovery_codes_rotate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.RecoveryCodesRotate)
    shown = await run(gatehouse_of(request).mfa.recovery_codes_rotate, caller, body.given())
    return ok(request, {**wire.member_payload(shown.view), "recovery_codes": shown.recovery_codes})


@documented(
    "Text a member a one-time code (to their mfa phone number, set here when they have none)",
    responses.MemberResponse,
    schemas.SmsSend,
    errors=(*B2B_ERRORS, 404, 409, 429, 502),
)
async def sms_send(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SmsSend)
    view = await run(
        gatehouse_of(request).mfa.sms_send, caller, body.given(), client_address(request)
    )
    return ok(request, wire.member_payload(view))


@documented(
    "Authenticate a texted code: complete an MFA sign-in, or add the factor to a session",
    responses.MfaSignedIn,
    schemas.SmsAuthenticate,
    errors=(*B2B_ERRORS, 404),
)
async def sms_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SmsAuthenticate)
    signed_in = await run(gatehouse_of(request).mfa.sms_authenticate, caller, body.given())
    return ok(request, _signed_in(signed_in))


routes = [
    Route("/v1/b2b/totp", totp_create, methods=["POST"]),
    Route("/v1/b2b/totp/authenticate", totp_authenticate, methods=["POST"]),
    Route("/v1/b2b/totp/migrate", totp_migrate, methods=["POST"]),
    Route(
        "/v1/b2b/organizations/{organization_id}/members/{member_id}/totp",
        delete_totp,
        methods=["DELETE"],
    ),
    Route("/v1/b2b/recovery_codes/recover", recovery_codes_recover, methods=["POST"]),
    Route("/v1/b2b/recovery_codes/rotate", recovery_codes_rotate, methods=["POST"]),
    Route(
        "/v1/b2b/recovery_codes/{organization_id}/{member_id}",
        recovery_codes_get,
        methods=["GET"],
    ),
    Route("/v1/b2b/otps/sms/send", sms_send, methods=["POST"]),
    Route("/v1/b2b/otps/sms/authenticate", sms_authenticate, methods=["POST"]),
]
