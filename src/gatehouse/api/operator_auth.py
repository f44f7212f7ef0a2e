"""Who operates the Management API: a management key (basic auth `key_id:secret`) or a signed-in
workspace member (`Authorization: Bearer <dashboard session token>`)."""

from __future__ import annotations

from starlette.requests import Request

from gatehouse.api.auth import basic_credentials, gatehouse_of, run
from gatehouse.errors import Unauthorized
from gatehouse.services.workspace.operators import Operator


async def operator_of(request: Request) -> Operator:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    workspace = gatehouse_of(request).workspace
    if scheme.lower() == "bearer" and value and "\x00" not in value:
        return await run(workspace.operator_from_session, value.strip())
    key = basic_credentials(header)
    if key is not None:
        return await run(workspace.operator_from_key, *key)
    raise Unauthorized(
        "pass a management key as basic auth (`key_id:secret`) or a dashboard session as "
        "`Authorization: Bearer <token>`"
    )
