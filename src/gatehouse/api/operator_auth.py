"""Who operates the Management API: a management key (basic auth `key_id:secret`) or a signed-in
workspace member (`Authorization: Bearer <dashboard session token>`)."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from gatehouse.api.auth import gatehouse_of, run
from gatehouse.errors import Unauthorized
from gatehouse.services.workspace.operators import Operator


async def operator_of(request: Request) -> Operator:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    workspace = gatehouse_of(request).workspace
    if scheme.lower() == "bearer" and value:
        return await run(workspace.operator_from_session, value.strip())  # type: ignore[no-any-return]
    if scheme.lower() == "basic" and value:
        try:
            key_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if sep:
            return await run(workspace.operator_from_key, key_id, secret)  # type: ignore[no-any-return]
    raise Unauthorized(
        "pass a management key as basic auth (`key_id:secret`) or a dashboard session as "
        "`Authorization: Bearer <token>`"
    )
