"""One mapping from error codes to HTTP statuses, and Stytch's error JSON shape.

Every error leaves as `{status_code, request_id, error_type, error_message, error_url}`.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from gatehouse.errors import GatehouseError
from gatehouse.services.ids import request_id

log = logging.getLogger(__name__)

ERROR_URL = "https://github.com/gatehouse/gatehouse/blob/main/docs/ERRORS.md"

STATUS_BY_CODE: dict[str, int] = {
    "invalid_request": 400,
    "invalid_json": 400,
    "invalid_policy": 400,
    "invalid_cursor": 400,
    "invalid_custom_claims": 400,
    "role_not_found": 400,
    "unsupported_feature": 400,
    "session_member_mismatch": 400,
    "live_environment_protected": 400,
    "weak_password": 400,
    "unauthorized_credentials": 401,
    "invalid_jwt": 401,
    "invalid_password_reset_token": 401,
    "email_link_used": 401,
    "email_link_expired": 401,
    "session_authorization_error": 403,
    "forbidden": 403,
    "impersonation_disabled": 403,
    "session_authorization_tenancy_error": 403,
    "organization_not_found": 404,
    "member_not_found": 404,
    "member_password_not_found": 404,
    "session_not_found": 404,
    "sso_connection_not_found": 404,
    "project_not_found": 404,
    "environment_not_found": 404,
    "secret_not_found": 404,
    "workspace_member_not_found": 404,
    "workspace_domain_not_found": 404,
    "workspace_key_not_found": 404,
    "email_link_not_found": 404,
    "route_not_found": 404,
    "method_not_allowed": 405,
    "duplicate_organization_slug": 409,
    "duplicate_external_id": 409,
    "duplicate_member_email": 409,
    "policy_in_use": 409,
    "policy_conflict": 409,
    "already_initialised": 409,
    "not_initialised": 409,
    "last_admin": 409,
    "duplicate_project_slug": 409,
    "duplicate_environment_slug": 409,
    "duplicate_workspace_member": 409,
    "request_too_large": 413,
    "unsupported_media_type": 415,
    "too_many_requests": 429,
    "internal_server_error": 500,
    "email_delivery_failed": 502,
}


def request_id_of(request: Request) -> str:
    """The request's id, made on first use and kept in the ASGI scope (a plain dict: Starlette's
    `request.state` raises and catches an exception for every missing attribute)."""
    scope = request.scope
    rid = scope.get("gatehouse.request_id")
    if rid is None:
        rid = scope["gatehouse.request_id"] = request_id()
    return str(rid)


def error_response(request: Request, code: str, message: str) -> JSONResponse:
    status = STATUS_BY_CODE.get(code, 400)
    return JSONResponse(
        {
            "status_code": status,
            "request_id": request_id_of(request),
            "error_type": code,
            "error_message": message,
            "error_url": f"{ERROR_URL}#{code}",
        },
        status_code=status,
    )


async def gatehouse_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatehouseError)
    return error_response(request, exc.code, exc.message)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(request, "route_not_found", f"no endpoint at `{request.url.path}`")
    if exc.status_code == 405:
        return error_response(
            request,
            "method_not_allowed",
            f"`{request.method}` is not allowed on `{request.url.path}`",
        )
    return error_response(request, "invalid_request", str(exc.detail).lower())


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        request,
        "internal_server_error",
        "something went wrong on our side; the request id names it in the log",
    )
