"""`/v1/b2b/sessions`: authenticate (with an optional authorization check), get, revoke, JWKS."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatehouse.api import schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, ok_encoded, run
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.errors import Denied, InvalidInput
from gatehouse.policy import Decision


def _verdict(decision: Decision | None, check: dict[str, str] | None) -> dict[str, Any]:
    """The check's verdict for the response; a denial refuses the whole request (403)."""
    if decision is None or check is None:
        return {}
    if not decision.allowed:
        raise Denied(
            f"the member is not permitted to `{check['action']}` on `{check['resource_id']}`: "
            + decision.reason
        )
    return {"verdict": {"authorized": True, "granting_roles": list(decision.granting_roles)}}


async def authenticate(request: Request) -> Response:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionAuthenticate)
    given = body.given()
    if not given.get("session_token") and not given.get("session_jwt"):
        raise InvalidInput("pass `session_token` or `session_jwt`")
    if given.get("session_token") and given.get("session_jwt"):
        # Stytch: "It will return an error if both are present."
        raise InvalidInput("pass `session_token` or `session_jwt`, not both")
    sessions = gatehouse_of(request).sessions
    token, jwt, check = (
        given.get("session_token"),
        given.get("session_jwt"),
        given.get("authorization_check"),
    )
    duration, claims = given.get("session_duration_minutes"), given.get("session_custom_claims")
    # A warm node answers from memory on the event loop; otherwise hop to a thread for the I/O.
    if duration is None and not claims:
        warm = sessions.authenticate_warm(caller, token, jwt, check)
        if warm is not None:
            entry, decision = warm
            verdict = _verdict(decision, check)
            return ok_encoded(
                request, wire.session_fragment(entry), session_token=token or "", **verdict
            )
    done = await run(sessions.authenticate, caller, token, jwt, duration, claims, check)
    verdict = _verdict(done.decision, check)
    payload = {
        "member_session": wire.member_session(done.active),
        "session_token": done.session_token,
        "session_jwt": done.session_jwt,
        "member": wire.active_member(done.active),
        "organization": wire.org_to_wire(done.active.org),
        **verdict,
    }
    return ok(request, payload)


async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    query = parse_query(request, schemas.SessionsGet)
    sessions = await run(
        gatehouse_of(request).sessions.list_active, caller, query.organization_id, query.member_id
    )
    return ok(request, {"member_sessions": [wire.member_session(s) for s in sessions]})


async def revoke(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionRevoke)
    await run(gatehouse_of(request).sessions.revoke, caller, body.given())
    return ok(request, {})


async def jwks(request: Request) -> JSONResponse:
    # Readable without credentials: the SDK's JWKS client fetches it anonymously.
    project_id = request.path_params["project_id"]
    parse_query(request, schemas.Empty, {"project_id": project_id})
    keys = await run(gatehouse_of(request).sessions.jwks, project_id)
    return ok(request, {"keys": keys})


routes = [
    Route("/v1/b2b/sessions/authenticate", authenticate, methods=["POST"]),
    Route("/v1/b2b/sessions/revoke", revoke, methods=["POST"]),
    Route("/v1/b2b/sessions", get, methods=["GET"]),
    Route("/v1/b2b/sessions/jwks/{project_id}", jwks, methods=["GET"]),
]
