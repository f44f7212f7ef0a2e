"""`/v1/b2b/sessions`: authenticate (with an optional authorization check), get, revoke, JWKS."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatehouse.api import schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, ok_encoded, run
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.errors import InvalidInput, Kind, NotFound
from gatehouse.policy import Decision
from gatehouse.services.b2b.organizations import org_to_wire


async def authenticate(request: Request) -> Response:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionAuthenticate)
    given = body.given()
    if not given.get("session_token") and not given.get("session_jwt"):
        raise InvalidInput("pass `session_token` or `session_jwt`")
    gatehouse = gatehouse_of(request)
    token, jwt, check = (
        given.get("session_token"),
        given.get("session_jwt"),
        given.get("authorization_check"),
    )
    duration, claims = given.get("session_duration_minutes"), given.get("session_custom_claims")
    # A warm node answers from memory on the event loop; otherwise hop to a thread for the I/O.
    if duration is None and not claims:
        warm = gatehouse.sessions.authenticate_warm(caller, token, jwt, check)
        if warm is not None:
            entry, decision = warm
            return ok_encoded(
                request,
                gatehouse.sessions.wire_fragment(entry),
                session_token=token or "",
                **_verdict(decision),
            )
    active, token, session_jwt, decision = await run(
        gatehouse.sessions.authenticate, caller, token, jwt, duration, claims, check
    )
    payload = {
        "member_session": gatehouse.sessions.wire(active),
        "session_token": token,
        "session_jwt": session_jwt,
        "member": gatehouse.sessions.member_wire(active),
        "organization": org_to_wire(active.org),
        **_verdict(decision),
    }
    return ok(request, payload)


def _verdict(decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {"verdict": {"authorized": True, "granting_roles": list(decision.granting_roles)}}


async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    query = parse_query(request, schemas.SessionsGet)
    gatehouse = gatehouse_of(request)
    sessions = await run(
        gatehouse.sessions.list_active,
        caller,
        gatehouse.organizations,
        query.organization_id,
        query.member_id,
    )
    return ok(request, {"member_sessions": sessions})


async def revoke(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionRevoke)
    await run(gatehouse_of(request).sessions.revoke, caller, body.given())
    return ok(request, {})


def _jwks(request: Request, project_id: str) -> list[dict[str, object]]:
    gatehouse = gatehouse_of(request)
    with gatehouse.store.read() as tx:
        if gatehouse.store.get_environment(tx, project_id) is None:
            raise NotFound(Kind.PROJECT, project_id)
        return gatehouse.keys.jwks(tx, project_id)


async def jwks(request: Request) -> JSONResponse:
    # Readable without credentials: the SDK's JWKS client fetches it anonymously.
    project_id = request.path_params["project_id"]
    parse_query(request, schemas.Empty, {"project_id": project_id})
    keys = await run_in_threadpool(_jwks, request, project_id)
    return ok(request, {"keys": keys})


routes = [
    Route("/v1/b2b/sessions/authenticate", authenticate, methods=["POST"]),
    Route("/v1/b2b/sessions/revoke", revoke, methods=["POST"]),
    Route("/v1/b2b/sessions", get, methods=["GET"]),
    Route("/v1/b2b/sessions/jwks/{project_id}", jwks, methods=["GET"]),
]
