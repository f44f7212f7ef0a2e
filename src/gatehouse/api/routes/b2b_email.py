"""`/v1/b2b/magic_links`, `/v1/b2b/otps/email`, `/v1/b2b/discovery` and
`/v1/b2b/sessions/exchange`: member sign-in by email and discovery.

Every send answers before its email goes out (a background task), so its timing says nothing
about whether the address is a member.
"""

from __future__ import annotations

from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.client_address import client_address
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body
from gatehouse.services import clock
from gatehouse.services.b2b.email_flows import Discovered, Sent
from gatehouse.services.b2b.mfa import Pending
from gatehouse.services.context import SignIn


def _sent(request: Request, sent: Sent, member_created: bool | None, **extra: Any) -> JSONResponse:
    payload = {} if sent.view is None else wire.member_payload(sent.view)
    payload.update(extra)
    if member_created is not None:
        payload["member_created"] = member_created
    response = ok(request, payload)
    response.background = BackgroundTask(sent.deliver)
    return response


def _discovered(request: Request, found: Discovered) -> JSONResponse:
    payload: dict[str, Any] = {
        "email_address": found.email,
        "discovered_organizations": wire.discovered_organizations(found),
    }
    if found.expires_at is not None:
        payload["intermediate_session_token"] = found.intermediate_session_token
        payload["intermediate_session_token_expires_at"] = clock.iso(found.expires_at)
    else:
        payload["organization_id_hint"] = found.organization_id_hint
    return ok(request, payload)


@documented(
    "Email a login (or, for a new member the organization lets join, a signup) magic link",
    responses.MemberMigrated,
    schemas.MagicLinkLoginOrSignup,
    errors=(*B2B_ERRORS, 404, 409, 429),
)
async def magic_link_login_or_signup(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MagicLinkLoginOrSignup)
    flows = gatehouse_of(request).email_flows
    sent = await run(flows.login_or_signup, caller, body.given(), client_address(request))
    return _sent(request, sent, sent.member_created)


@documented(
    "Invite a member by email (a magic link)",
    responses.MemberResponse,
    schemas.MagicLinkInvite,
    errors=(*B2B_ERRORS, 404, 409, 429),
)
async def magic_link_invite(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MagicLinkInvite)
    flows = gatehouse_of(request).email_flows
    sent = await run(flows.invite, caller, body.given(), client_address(request))
    return _sent(request, sent, None)


@documented(
    "Sign a member in with a magic link (login, signup or invitation; PKCE)",
    responses.EmailAuthenticated,
    schemas.MagicLinkAuthenticate,
    errors=(*B2B_ERRORS, 404),
)
async def magic_link_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MagicLinkAuthenticate)
    done = await run(gatehouse_of(request).email_flows.authenticate, caller, body.given())
    return ok(request, wire.signed_in_by_email(done))


@documented(
    "Email a discovery magic link",
    responses.Done,
    schemas.MagicLinkDiscoverySend,
    errors=(*B2B_ERRORS, 429),
)
async def magic_link_discovery_send(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MagicLinkDiscoverySend)
    flows = gatehouse_of(request).email_flows
    sent = await run(flows.discovery_send, caller, body.given(), client_address(request))
    return _sent(request, sent, None)


@documented(
    "Redeem a discovery magic link: an intermediate session and the organizations found",
    responses.DiscoveryAuthenticated,
    schemas.MagicLinkDiscoveryAuthenticate,
)
async def magic_link_discovery_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.MagicLinkDiscoveryAuthenticate)
    found = await run(
        gatehouse_of(request).email_flows.discovery_authenticate, caller, body.given()
    )
    return _discovered(request, found)


@documented(
    "The organizations an intermediate session's (or a session's) address may enter",
    responses.DiscoveredOrganizations,
    schemas.DiscoveryOrganizations,
    errors=(*B2B_ERRORS, 404),
)
async def discovery_organizations(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.DiscoveryOrganizations)
    found = await run(gatehouse_of(request).email_flows.list_organizations, caller, body.given())
    return _discovered(request, found)


@documented(
    "Create an organization from an intermediate session (its creator is stytch_admin)",
    responses.Exchanged,
    schemas.DiscoveryOrganizationCreate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def discovery_organization_create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.DiscoveryOrganizationCreate)
    done = await run(gatehouse_of(request).email_flows.create_organization, caller, body.given())
    return ok(request, wire.exchanged(done))


@documented(
    "Exchange an intermediate session for a session in an organization",
    responses.Exchanged,
    schemas.IntermediateSessionExchange,
    errors=(*B2B_ERRORS, 404),
)
async def intermediate_session_exchange(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.IntermediateSessionExchange)
    done = await run(gatehouse_of(request).email_flows.exchange_intermediate, caller, body.given())
    return ok(request, wire.exchanged(done))


@documented(
    "Exchange a session for one in another organization the member's address belongs to",
    responses.Exchanged,
    schemas.SessionExchange,
    errors=(*B2B_ERRORS, 404),
)
async def session_exchange(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionExchange)
    done = await run(gatehouse_of(request).email_flows.exchange_session, caller, body.given())
    return ok(request, wire.exchanged(done))


@documented(
    "Email a one-time code to sign in (or sign up, where the organization allows)",
    responses.MemberMigrated,
    schemas.OtpLoginOrSignup,
    errors=(*B2B_ERRORS, 404, 409, 429),
)
async def otp_login_or_signup(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OtpLoginOrSignup)
    flows = gatehouse_of(request).email_flows
    sent = await run(flows.otp_login_or_signup, caller, body.given(), client_address(request))
    return _sent(request, sent, sent.member_created)


@documented(
    "Sign a member in with an emailed one-time code",
    responses.EmailAuthenticated,
    schemas.OtpAuthenticate,
    errors=(*B2B_ERRORS, 404),
)
async def otp_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OtpAuthenticate)
    done = await run(gatehouse_of(request).email_flows.otp_authenticate, caller, body.given())
    return ok(request, wire.signed_in_by_email(done))


@documented(
    "Email a discovery one-time code",
    responses.Done,
    schemas.OtpDiscoverySend,
    errors=(*B2B_ERRORS, 429),
)
async def otp_discovery_send(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OtpDiscoverySend)
    flows = gatehouse_of(request).email_flows
    sent = await run(flows.otp_discovery_send, caller, body.given(), client_address(request))
    return _sent(request, sent, None)


@documented(
    "Redeem a discovery one-time code: an intermediate session and the organizations found",
    responses.DiscoveryAuthenticated,
    schemas.OtpDiscoveryAuthenticate,
)
async def otp_discovery_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.OtpDiscoveryAuthenticate)
    found = await run(
        gatehouse_of(request).email_flows.otp_discovery_authenticate, caller, body.given()
    )
    return _discovered(request, found)


routes = [
    Route(
        "/v1/b2b/magic_links/email/login_or_signup", magic_link_login_or_signup, methods=["POST"]
    ),
    Route("/v1/b2b/magic_links/email/invite", magic_link_invite, methods=["POST"]),
    Route("/v1/b2b/magic_links/authenticate", magic_link_authenticate, methods=["POST"]),
    Route("/v1/b2b/magic_links/email/discovery/send", magic_link_discovery_send, methods=["POST"]),
    Route(
        "/v1/b2b/magic_links/discovery/authenticate",
        magic_link_discovery_authenticate,
        methods=["POST"],
    ),
    Route("/v1/b2b/discovery/organizations", discovery_organizations, methods=["POST"]),
    Route(
        "/v1/b2b/discovery/organizations/create", discovery_organization_create, methods=["POST"]
    ),
    Route(
        "/v1/b2b/discovery/intermediate_sessions/exchange",
        intermediate_session_exchange,
        methods=["POST"],
    ),
    Route("/v1/b2b/sessions/exchange", session_exchange, methods=["POST"]),
    Route("/v1/b2b/otps/email/login_or_signup", otp_login_or_signup, methods=["POST"]),
    Route("/v1/b2b/otps/email/authenticate", otp_authenticate, methods=["POST"]),
    Route("/v1/b2b/otps/email/discovery/send", otp_discovery_send, methods=["POST"]),
    Route(
        "/v1/b2b/otps/email/discovery/authenticate", otp_discovery_authenticate, methods=["POST"]
    ),
]


# -- password resets ----------------------------------------------------------------------------


@documented(
    "Email a password reset link",
    responses.PasswordResetStarted,
    schemas.EmailPasswordResetStart,
    errors=(*B2B_ERRORS, 404, 429),
)
async def password_reset_start(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.EmailPasswordResetStart)
    flows = gatehouse_of(request).password_flows
    sent, email_id = await run(flows.reset_start, caller, body.given(), client_address(request))
    return _sent(request, sent, None, member_email_id=email_id)


def _password_reset(request: Request, signed_in: SignIn | Pending) -> JSONResponse:
    return ok(request, wire.password_reset(signed_in))


@documented(
    "Change a password with the current one (revokes the member's sessions; starts one)",
    responses.PasswordReset,
    schemas.ExistingPasswordReset,
    errors=(*B2B_ERRORS, 404, 429),
)
async def existing_password_reset(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.ExistingPasswordReset)
    signed_in = await run(
        gatehouse_of(request).password_flows.existing_password_reset,
        caller,
        body.given(),
        client_address(request),
    )
    return _password_reset(request, signed_in)


@documented(
    "Set a password within a live session (revokes the member's other sessions)",
    responses.PasswordReset,
    schemas.SessionPasswordReset,
    errors=(*B2B_ERRORS, 404),
)
async def session_password_reset(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionPasswordReset)
    signed_in = await run(gatehouse_of(request).password_flows.session_reset, caller, body.given())
    return _password_reset(request, signed_in)


@documented(
    "Require a password reset: the password stops working until it is reset",
    responses.Done,
    schemas.PasswordRequireReset,
    errors=(*B2B_ERRORS, 404),
)
async def password_require_reset(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.PasswordRequireReset)
    await run(gatehouse_of(request).password_flows.require_reset, caller, body.given())
    return ok(request, {})


routes += [
    Route("/v1/b2b/passwords/email/reset/start", password_reset_start, methods=["POST"]),
    Route("/v1/b2b/passwords/existing_password/reset", existing_password_reset, methods=["POST"]),
    Route("/v1/b2b/passwords/session/reset", session_password_reset, methods=["POST"]),
    Route("/v1/b2b/passwords/email/require_reset", password_require_reset, methods=["POST"]),
]


@documented(
    "Email a discovery password reset link (the address's password in every organization)",
    responses.Done,
    schemas.DiscoveryPasswordResetStart,
    errors=(*B2B_ERRORS, 429),
)
async def discovery_password_reset_start(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.DiscoveryPasswordResetStart)
    flows = gatehouse_of(request).password_flows
    sent = await run(flows.discovery_reset_start, caller, body.given(), client_address(request))
    return _sent(request, sent, None)


@documented(
    "Complete a discovery password reset: an intermediate session and the organizations found",
    responses.DiscoveryAuthenticated,
    schemas.DiscoveryPasswordReset,
)
async def discovery_password_reset(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.DiscoveryPasswordReset)
    found = await run(gatehouse_of(request).password_flows.discovery_reset, caller, body.given())
    return _discovered(request, found)


@documented(
    "Sign in by password without an organization: an intermediate session",
    responses.DiscoveryAuthenticated,
    schemas.DiscoveryPasswordAuthenticate,
    errors=(*B2B_ERRORS, 429),
)
async def discovery_password_authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.DiscoveryPasswordAuthenticate)
    found = await run(
        gatehouse_of(request).password_flows.discovery_authenticate,
        caller,
        body.given(),
        client_address(request),
    )
    return _discovered(request, found)


routes += [
    Route(
        "/v1/b2b/passwords/discovery/email/reset/start",
        discovery_password_reset_start,
        methods=["POST"],
    ),
    Route("/v1/b2b/passwords/discovery/email/reset", discovery_password_reset, methods=["POST"]),
    Route(
        "/v1/b2b/passwords/discovery/authenticate",
        discovery_password_authenticate,
        methods=["POST"],
    ),
]
