"""`/pwa/v3/auth...` (Gatehouse extension): signing in to the dashboard with a password or an
emailed one-time link, signing out, one's own profile and password; and
`/pwa/v3/workspace/invitations`, which emails a colleague an invitation link."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses
from gatehouse.api.auth import gatehouse_of, ok, run
from gatehouse.api.client_address import client_address
from gatehouse.api.operations import MANAGEMENT, MANAGEMENT_ERRORS, documented
from gatehouse.api.operator_auth import operator_of
from gatehouse.api.parsing import Body, parse_body, parse_query
from gatehouse.api.routes.pwa_workspace import Role
from gatehouse.api.schemas import Email, Empty, Token
from gatehouse.errors import Unauthorized

Password = Annotated[str, Field(min_length=1, max_length=1024)]


class PasswordSignIn(Body):
    email_address: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class LinkSend(Body):
    email_address: Email


class LinkAuthenticate(Body):
    token: Token


class PasswordSet(Body):
    password: Password


class Invitation(Body):
    email_address: Email
    role: Role


def _session_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("pass the dashboard session as `Authorization: Bearer <session_token>`")
    return value.strip()


@documented(
    "Sign in to the dashboard with a password",
    responses.DashboardSignIn,
    PasswordSignIn,
    errors=(*MANAGEMENT_ERRORS, 429),
    security=(),
    tag="Dashboard sign-in",
)
async def password_sign_in(request: Request) -> JSONResponse:
    body = await parse_body(request, PasswordSignIn)
    signed_in = await run(
        gatehouse_of(request).dashboard_auth.sign_in_with_password,
        body.email_address,
        body.password,
        client_address(request),
    )
    return ok(request, signed_in)


@documented(
    "Email a sign-in link (answers the same for any address)",
    responses.Done,
    LinkSend,
    errors=(*MANAGEMENT_ERRORS, 429),
    security=(),
    tag="Dashboard sign-in",
)
async def send_link(request: Request) -> JSONResponse:
    body = await parse_body(request, LinkSend)
    mail = await run(
        gatehouse_of(request).dashboard_auth.send_sign_in_link,
        body.email_address,
        client_address(request),
    )
    response = ok(request, {})
    if mail is not None:
        # Mailed after the response, so its timing and any mail failure say nothing to the caller.
        response.background = BackgroundTask(mail)
    return response


@documented(
    "Redeem a sign-in or invitation link",
    responses.DashboardSignIn,
    LinkAuthenticate,
    errors=(*MANAGEMENT_ERRORS, 429),
    security=(),
    tag="Dashboard sign-in",
)
async def authenticate_link(request: Request) -> JSONResponse:
    body = await parse_body(request, LinkAuthenticate)
    return ok(request, await run(gatehouse_of(request).dashboard_auth.redeem, body.token))


@documented(
    "Sign out of the dashboard",
    responses.Done,
    errors=MANAGEMENT_ERRORS,
    security=("dashboard",),
    tag="Dashboard sign-in",
)
async def sign_out(request: Request) -> JSONResponse:
    token = _session_token(request)
    await parse_body(request, Empty)
    await run(gatehouse_of(request).dashboard_auth.sign_out, token)
    return ok(request, {})


@documented(
    "Set one's own dashboard password",
    responses.Done,
    PasswordSet,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Dashboard sign-in",
)
async def set_password(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, PasswordSet)
    await run(gatehouse_of(request).dashboard_auth.set_password, operator, body.password)
    return ok(request, {})


@documented(
    "One's own profile",
    responses.WorkspaceMemberResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Dashboard sign-in",
)
async def me(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, Empty)
    return ok(request, {"member": await run(gatehouse_of(request).dashboard_auth.me, operator)})


@documented(
    "Invite a colleague (emails a link)",
    responses.WorkspaceMemberResponse,
    Invitation,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Dashboard sign-in",
)
async def invite(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, Invitation)
    member = await run(
        gatehouse_of(request).dashboard_auth.invite, operator, body.email_address, body.role
    )
    return ok(request, {"member": member})


A = "/pwa/v3/auth"
routes = [
    Route(A + "/password", password_sign_in, methods=["POST"]),
    Route(A + "/password/set", set_password, methods=["POST"]),
    Route(A + "/magic_links/send", send_link, methods=["POST"]),
    Route(A + "/magic_links/authenticate", authenticate_link, methods=["POST"]),
    Route(A + "/sign_out", sign_out, methods=["POST"]),
    Route(A + "/me", me, methods=["GET"]),
    Route("/pwa/v3/workspace/invitations", invite, methods=["POST"]),
]
