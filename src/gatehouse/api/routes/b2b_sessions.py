"""`/v1/b2b/sessions`: authenticate (with an optional authorization check), get, revoke, JWKS."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.errors import InvalidInput, not_found
from gatehouse.services.organizations import org_to_wire


async def authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionAuthenticate)
    given = body.given()
    if not given.get("session_token") and not given.get("session_jwt"):
        raise InvalidInput("pass `session_token` or `session_jwt`")
    gatehouse = gatehouse_of(request)
    active, token, session_jwt, decision = await run(
        gatehouse.sessions.authenticate,
        caller,
        given.get("session_token"),
        given.get("session_jwt"),
        given.get("session_duration_minutes"),
        given.get("session_custom_claims"),
        given.get("authorization_check"),
    )
    payload = {
        "member_session": gatehouse.sessions.wire(active),
        "session_token": token,
        "session_jwt": session_jwt,
        "member": gatehouse.sessions.member_wire(active),
        "organization": org_to_wire(active.org),
    }
    if decision is not None:
        payload["verdict"] = {"authorized": True, "granting_roles": list(decision.granting_roles)}
    return ok(request, payload)


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
            raise not_found("project", project_id)
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
