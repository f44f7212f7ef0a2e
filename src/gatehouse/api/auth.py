"""What a route needs to know about its request before calling a service: the Gatehouse services
(`gatehouse_of`), who calls the B2B API (`caller_of`: HTTP basic auth with the project id and
secret, plus an optional member session header), the typed hop to a thread for blocking service
calls (`run`), and the success responses (`ok`, `ok_encoded`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gatehouse.api.errors import request_id_of
from gatehouse.errors import Unauthorized
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse

P = ParamSpec("P")
T = TypeVar("T")


def gatehouse_of(request: Request) -> Gatehouse:
    gatehouse: Gatehouse = request.app.state.gatehouse
    return gatehouse


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header value, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    # No id or secret holds NUL (PostgreSQL cannot even compare text with one): malformed.
    return (user, password) if sep and "\x00" not in user + password else None


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic ") or len(header) <= len("basic "):
        raise Unauthorized(
            "pass the project id and secret as http basic auth (`Authorization: Basic ...`)"
        )
    found = basic_credentials(header)
    if found is None:
        raise Unauthorized("the basic auth header is malformed")
    return found


async def caller_of(request: Request) -> Caller:
    project_id, secret = _credentials(request)
    token = request.headers.get("x-stytch-member-session")
    jwt = request.headers.get("x-stytch-member-sessionjwt")
    callers = gatehouse_of(request).callers
    # A warm node answers from memory on the event loop; otherwise hop to a thread for the I/O.
    caller = callers.warm(project_id, secret, token, jwt)
    if caller is not None:
        return caller
    return await run(callers.resolve, project_id, secret, token, jwt)


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
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
