"""`/v1/b2b/gatehouse`: Gatehouse's extensions to the B2B API, for its own SDK
(`gatehouse.client`).

- `POST /v1/b2b/gatehouse/authorize`: many checks for one session in one round trip; denials are
  results, not errors; nothing is written (no JWT is minted, the session is not extended).
- `GET /v1/b2b/gatehouse/policy`: the project policy with its version, read together so that a
  client caching it knows exactly which version it holds.

Both take the project id and secret as HTTP basic auth, like every B2B endpoint.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatehouse.api import gatehouse_schemas, responses, schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.gatehouse_schemas import MAX_BATCH_BYTES, parse_batch
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_query, read_body
from gatehouse.services.b2b.checks import decision_to_wire


@documented(
    "Many authorization checks for one session (a Gatehouse extension)",
    responses.BatchResults,
    gatehouse_schemas.BatchAuthorize,
    errors=(*B2B_ERRORS, 404),
    tag="Gatehouse",
)
async def authorize(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    # Validation is CPU only: it runs on the event loop, sparing a threadpool hop.
    body = parse_batch(
        await read_body(request, MAX_BATCH_BYTES), request.headers.get("content-type", "")
    )
    gatehouse = gatehouse_of(request)
    args = (
        caller.environment,
        body.session_token,
        body.session_jwt,
        body.organization_id,
        body.checks,
        body.explain,
    )
    # A session this node holds in memory is answered right here: nothing blocks, and a thread
    # hop would cost more than the checks. Explanations are slow enough to go to a thread anyway.
    verdict = None if body.explain else gatehouse.checks.batch_warm(*args)
    if verdict is None:
        verdict = await run(gatehouse.checks.batch, *args)
    payload: dict[str, Any] = {
        "member_id": verdict.active.member_id,
        "organization_id": verdict.active.organization_id,
        "policy_version": verdict.policy_version,
        "results": verdict.results,
    }
    if verdict.decisions is not None:
        payload["decisions"] = [decision_to_wire(d) for d in verdict.decisions]
    return ok(request, payload)


@documented(
    "The project policy with its version (a Gatehouse extension)",
    responses.VersionedPolicy,
    tag="Gatehouse",
)
async def policy(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    parse_query(request, schemas.Empty)
    environment = caller.environment
    return ok(
        request,
        {
            "policy_version": environment.policy_version,
            "policy": gatehouse_of(request).rbac.policy_wire(environment),
        },
    )


routes = [
    Route("/v1/b2b/gatehouse/authorize", authorize, methods=["POST"]),
    Route("/v1/b2b/gatehouse/policy", policy, methods=["GET"]),
]
