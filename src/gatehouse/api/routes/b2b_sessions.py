"""`/v1/b2b/sessions`: authenticate (with an optional authorization check), get, revoke, JWKS."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, ok_encoded, run
from gatehouse.api.operations import B2B_ERRORS, documented
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


@documented(
    "Authenticate a session (with an optional authorization check)",
    responses.SessionAuthenticated,
    schemas.SessionAuthenticate,
    errors=(*B2B_ERRORS, 404),
)
async def authenticate(request: Request) -> Response:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionAuthenticate)
    given = body.given()
    # Exactly one, as Stytch documents (the SDKs say "it will return an error if both are
    # present"): with both, the token would decide and the JWT go unchecked.
    if bool(given.get("session_token")) == bool(given.get("session_jwt")):
        raise InvalidInput("pass exactly one of `session_token` or `session_jwt`")
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


@documented(
    "A member's active sessions",
    responses.MemberSessions,
    schemas.SessionsGet,
    errors=(*B2B_ERRORS, 404),
)
async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    query = parse_query(request, schemas.SessionsGet)
    sessions = await run(
        gatehouse_of(request).sessions.list_active, caller, query.organization_id, query.member_id
    )
    return ok(request, {"member_sessions": [wire.member_session(s) for s in sessions]})


@documented("Revoke sessions", responses.Done, schemas.SessionRevoke, errors=(*B2B_ERRORS, 404))
async def revoke(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SessionRevoke)
    await run(gatehouse_of(request).sessions.revoke, caller, body.given())
    return ok(request, {})


# How long clients and proxies may reuse a JWKS without asking again. A key rotation must publish
# the new key this long before signing with it, and keep the old one published as long after the
# last JWT it signed expires (docs/DECISIONS.md).
JWKS_MAX_AGE_SECONDS = 300


def _matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` names `etag` (weak comparison, RFC 9110 13.1.2), or is `*`."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in (t.removeprefix("W/") for t in tags)


@documented(
    "The project's JWKS (no credentials; `If-None-Match` answers 304)",
    responses.KeySet,
    errors=(304, 400, 404, 503),
    security=(),
)
async def jwks(request: Request) -> Response:
    # Readable without credentials: the SDK's JWKS client fetches it anonymously. A warm node
    # answers from memory, on the event loop.
    project_id = request.path_params["project_id"]
    parse_query(request, schemas.Empty, {"project_id": project_id})
    public_keys = gatehouse_of(request).public_keys
    key_set = public_keys.warm(project_id)
    if key_set is None:
        key_set = await run(public_keys.load, project_id)
    headers = {
        "etag": key_set.etag,
        "cache-control": f"public, max-age={JWKS_MAX_AGE_SECONDS}",
    }
    if _matches(request.headers.get("if-none-match"), key_set.etag):
        return Response(status_code=304, headers=headers)
    response = ok(request, {"keys": list(key_set.keys)})
    response.headers.update(headers)
    return response


routes = [
    Route("/v1/b2b/sessions/authenticate", authenticate, methods=["POST"]),
    Route("/v1/b2b/sessions/revoke", revoke, methods=["POST"]),
    Route("/v1/b2b/sessions", get, methods=["GET"]),
    Route("/v1/b2b/sessions/jwks/{project_id}", jwks, methods=["GET"]),
]
