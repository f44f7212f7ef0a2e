"""Who is calling: HTTP basic auth with the project id and secret, plus an optional member
session header (`X-Stytch-Member-Session` or `X-Stytch-Member-SessionJWT`)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gatehouse.api.errors import request_id_of
from gatehouse.errors import Unauthorized
from gatehouse.services.context import ActiveSession, Caller, Environment
from gatehouse.services.wiring import Gatehouse


def gatehouse_of(request: Request) -> Gatehouse:
    return request.app.state.gatehouse  # type: ignore[no-any-return]


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized(
            "pass the project id and secret as http basic auth (`Authorization: Basic ...`)"
        )
    try:
        project_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise Unauthorized("the basic auth header is malformed")
    return project_id, secret


def resolve_caller(
    gatehouse: Gatehouse, project_id: str, secret: str, token: str | None, jwt: str | None
) -> Caller:
    """Who calls with these credentials (and session), reading the database where the node's
    memory does not know; blocking, so the server runs it in a thread (the benchmarks call it
    directly, to measure exactly what the server does)."""
    generation = gatehouse.runtime.cache.generation
    with gatehouse.store.read() as tx:
        environment, secret_id = gatehouse.provisioning.authenticate(
            tx, project_id, secret, generation
        )
    session = gatehouse.sessions.from_headers(environment, token, jwt) if token or jwt else None
    return _caller(environment, secret_id, session)


def _caller(environment: Environment, secret_id: str, session: ActiveSession | None) -> Caller:
    actor = f"member:{session.member_id}" if session else f"secret:{secret_id}"
    return Caller(environment, actor, session)


def _warm_caller(
    gatehouse: Gatehouse, project_id: str, secret: str, token: str | None, jwt: str | None
) -> Caller | None:
    """The caller from this node's memory alone (no database, no thread hop), or None."""
    known = gatehouse.provisioning.authenticate_cached(project_id, secret)
    if known is None:
        return None
    environment, secret_id = known
    if not (token or jwt):
        return _caller(environment, secret_id, None)
    entry = gatehouse.sessions.cached(environment, token, jwt)
    return _caller(environment, secret_id, entry.active) if entry is not None else None


async def caller_of(request: Request) -> Caller:
    project_id, secret = _credentials(request)
    token = request.headers.get("x-stytch-member-session")
    jwt = request.headers.get("x-stytch-member-sessionjwt")
    gatehouse = gatehouse_of(request)
    caller = _warm_caller(gatehouse, project_id, secret, token, jwt)
    if caller is not None:
        return caller
    return await run_in_threadpool(resolve_caller, gatehouse, project_id, secret, token, jwt)


async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Services do blocking database work; keep it off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def ok(request: Request, payload: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status_code": 200, "request_id": request_id_of(request), **payload})


def ok_encoded(request: Request, encoded: bytes, **fields: Any) -> Response:
    """Like `ok`, with part of the payload already encoded (`"name":value,...`, no braces)."""
    head = {"status_code": 200, "request_id": request_id_of(request), **fields}
    body = _ENCODER.encode(head).encode()
    return Response(body[:-1] + b"," + encoded + b"}", media_type="application/json")


# Starlette's JSONResponse encoding, built once (json.dumps with options builds one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
