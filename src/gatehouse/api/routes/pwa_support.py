"""Directory and support actions of the Management API (Gatehouse extension), under
`/pwa/v3/projects/{project_slug}/environments/{environment_slug}`, and the B2B call that completes
a password reset, `POST /v1/b2b/passwords/email/reset`.

Each Management API call is gated by its row of the dashboard matrix (see services/support.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, MANAGEMENT, MANAGEMENT_ERRORS, documented
from gatehouse.api.operator_auth import operator_of
from gatehouse.api.parsing import Body, parse_body, parse_query
from gatehouse.api.routes.pwa_projects import E
from gatehouse.api.wire import org_to_wire
from gatehouse.errors import InvalidInput
from gatehouse.services.workspace.support import check_redirect_url

# Query strings carry text: numbers in them are parsed leniently.
Limit = Annotated[int, Field(ge=1, le=1000, strict=False)]
Cursor = Annotated[str, Field(max_length=512)]
Text = Annotated[str, Field(min_length=1, max_length=256)]


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"`{value[:64]}` is not an iso-8601 time, like `2025-01-31T09:30:00Z`"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"`{value[:64]}` must name its time zone, like `Z` or `+02:00`")
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # the offset moves it past year 1 or 9999
        raise ValueError(f"`{value[:64]}` is out of range in UTC") from None


Instant = Annotated[dt.datetime, BeforeValidator(_instant)]


def _redirect_url(value: Any) -> Any:
    if isinstance(value, str):
        try:
            check_redirect_url(value)
        except InvalidInput:
            raise ValueError("must be an absolute http(s) url") from None
    return value


class OrganizationList(Body):
    limit: Limit = 100
    cursor: Cursor = ""
    name: Text | None = None
    slug: Text | None = None


class MemberList(Body):
    limit: Limit = 100
    cursor: Cursor = ""
    email: Text | None = None
    status: Literal["active", "pending", "deleted"] | None = None


class PasswordResetStart(Body):
    reset_password_redirect_url: (
        Annotated[str, Field(max_length=2048), BeforeValidator(_redirect_url)] | None
    ) = None
    reset_password_expiration_minutes: Annotated[int, Field(ge=5, le=10_080)] | None = None


class EventQuery(Body):
    actor: Text | None = None
    target: Text | None = None
    action: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    since: Instant | None = None
    until: Instant | None = None
    # The keyset cursor: only events with a smaller id (the last `id` of the page shown).
    before: Annotated[int, Field(ge=1, le=2**53, strict=False)] | None = None
    limit: Limit = 100


class PasswordEmailReset(Body):
    password_reset_token: schemas.Token
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    session_token: schemas.Token | None = None
    session_duration_minutes: schemas.SessionMinutes | None = None
    session_jwt: schemas.Token | None = None
    code_verifier: Annotated[str, Field(max_length=256)] | None = None
    session_custom_claims: schemas.Metadata = {}
    locale: Annotated[str, Field(max_length=16)] = "en"
    intermediate_session_token: schemas.Token | None = None
    telemetry_id: Annotated[str, Field(max_length=256)] = ""


def _where(request: Request) -> tuple[str, str]:
    return request.path_params["project_slug"], request.path_params["environment_slug"]


def _member_path(request: Request) -> tuple[str, str, str, str]:
    p = request.path_params
    return p["project_slug"], p["environment_slug"], p["organization_id"], p["member_id"]


# -- directory.view / directory.manage -------------------------------------------------------


@documented(
    "List an environment's organizations",
    responses.OrganizationSearchResults,
    OrganizationList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def list_organizations(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, OrganizationList)
    page = await run(
        gatehouse_of(request).support.list_organizations,
        operator,
        *_where(request),
        query.given(),
        query.cursor or None,
        query.limit,
    )
    return ok(
        request,
        {
            "organizations": [org_to_wire(r) for r in page.organizations],
            "results_metadata": {"total": page.total, "next_cursor": page.next_cursor},
        },
    )


@documented(
    "Get an organization",
    responses.OrganizationResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def get_organization(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, schemas.Empty)
    org = await run(
        gatehouse_of(request).support.get_organization,
        operator,
        *_where(request),
        request.path_params["organization_id"],
    )
    return ok(request, {"organization": org_to_wire(org)})


@documented(
    "Update an organization",
    responses.OrganizationResponse,
    schemas.OrganizationUpdate,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Support",
)
async def update_organization(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = await parse_body(request, schemas.OrganizationUpdate)
    org = await run(
        gatehouse_of(request).support.update_organization,
        operator,
        *_where(request),
        request.path_params["organization_id"],
        body.given(),
    )
    return ok(request, {"organization": org_to_wire(org)})


@documented(
    "List an organization's members",
    responses.SupportMembers,
    MemberList,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def list_members(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, MemberList)
    page = await run(
        gatehouse_of(request).support.list_members,
        operator,
        *_where(request),
        request.path_params["organization_id"],
        query.given(),
        query.cursor or None,
        query.limit,
    )
    return ok(
        request,
        {
            "members": [wire.member_of(view) for view in page.members],
            "results_metadata": {"total": page.total, "next_cursor": page.next_cursor},
            "organization": org_to_wire(next(iter(page.organizations.values()))),
        },
    )


@documented(
    "Get a member",
    responses.MemberResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def get_member(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    parse_query(request, schemas.Empty)
    view = await run(gatehouse_of(request).support.get_member, operator, *_member_path(request))
    return ok(request, wire.member_payload(view))


@documented(
    "Update a member",
    responses.MemberResponse,
    schemas.MemberUpdate,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Support",
)
async def update_member(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    fields = (await parse_body(request, schemas.MemberUpdate)).given()
    view = await run(
        gatehouse_of(request).support.update_member, operator, *_member_path(request), fields
    )
    return ok(request, wire.member_payload(view))


# -- support.* ---------------------------------------------------------------------------------


@documented(
    "Email a member a password reset link",
    responses.PasswordResetSent,
    PasswordResetStart,
    errors=(*MANAGEMENT_ERRORS, 429),
    security=MANAGEMENT,
    tag="Support",
)
async def send_password_reset(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    body = (await parse_body(request, PasswordResetStart)).given()
    view, expires_at = await run(
        gatehouse_of(request).support.send_password_reset,
        operator,
        *_member_path(request),
        body.get("reset_password_redirect_url"),
        body.get("reset_password_expiration_minutes"),
    )
    return ok(
        request,
        {
            **wire.member_payload(view),
            "email_address": view.member["email"],
            "expires_at": expires_at,
        },
    )


@documented(
    "Revoke a member's sessions",
    responses.MemberResponse,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def revoke_sessions(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, schemas.Empty)
    view = await run(
        gatehouse_of(request).support.revoke_sessions, operator, *_member_path(request)
    )
    return ok(request, wire.member_payload(view))


@documented(
    "Reactivate a member",
    responses.MemberResponse,
    errors=(*MANAGEMENT_ERRORS, 409),
    security=MANAGEMENT,
    tag="Support",
)
async def reactivate(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, schemas.Empty)
    view = await run(gatehouse_of(request).support.reactivate, operator, *_member_path(request))
    return ok(request, wire.member_payload(view))


@documented(
    "Sign in as a member (when the environment allows it)",
    responses.SignedIn,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def impersonate(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    await parse_body(request, schemas.Empty)
    signed_in = await run(
        gatehouse_of(request).support.impersonate, operator, *_member_path(request)
    )
    return ok(request, wire.sign_in_payload(signed_in))


# -- event_logs.view ---------------------------------------------------------------------------


@documented(
    "The environment's event log",
    responses.EventList,
    EventQuery,
    errors=MANAGEMENT_ERRORS,
    security=MANAGEMENT,
    tag="Support",
)
async def list_events(request: Request) -> JSONResponse:
    operator = await operator_of(request)
    query = parse_query(request, EventQuery)
    found = await run(
        gatehouse_of(request).support.events,
        operator,
        *_where(request),
        query.given(),
        query.limit,
    )
    return ok(request, {"events": [wire.event_to_wire(e) for e in found]})


# -- B2B: completing a password reset (authenticated with the project secret) ------------------


@documented(
    "Complete a password reset",
    responses.PasswordReset,
    PasswordEmailReset,
    errors=(*B2B_ERRORS, 404, 429),
    security=("b2b",),
    tag="B2B",
)
async def reset_password(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, PasswordEmailReset)
    # A reset this API emailed, or (falling back) one a support agent started.
    signed_in = await run(gatehouse_of(request).password_flows.reset, caller, body.given())
    return ok(request, wire.password_reset(signed_in))


ORGS = E + "/organizations"
MEMBER = ORGS + "/{organization_id}/members/{member_id}"
routes = [
    Route(ORGS, list_organizations, methods=["GET"]),
    Route(ORGS + "/{organization_id}", get_organization, methods=["GET"]),
    Route(ORGS + "/{organization_id}", update_organization, methods=["PATCH"]),
    Route(ORGS + "/{organization_id}/members", list_members, methods=["GET"]),
    Route(MEMBER, get_member, methods=["GET"]),
    Route(MEMBER, update_member, methods=["PATCH"]),
    Route(MEMBER + "/password_reset", send_password_reset, methods=["POST"]),
    Route(MEMBER + "/sessions/revoke", revoke_sessions, methods=["POST"]),
    Route(MEMBER + "/reactivate", reactivate, methods=["POST"]),
    Route(MEMBER + "/impersonate", impersonate, methods=["POST"]),
    Route(E + "/events", list_events, methods=["GET"]),
    # B2B API
    Route("/v1/b2b/passwords/email/reset", reset_password, methods=["POST"]),
]
