"""`/v1/b2b/sso/oidc/...`: OIDC connections (`sso.oidc.create_connection`,
`sso.oidc.update_connection`), and the callback the provider redirects the browser to
(`GET /v1/b2b/sso/callback/{id}`, the connection's `redirect_url`). Listing, deleting, the start
and `sso.authenticate` are b2b_sso's, shared with SAML."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body, parse_query

_ORG = "/v1/b2b/sso/oidc/{organization_id}"
_CONNECTION = _ORG + "/connections/{connection_id}"


@documented(
    "Create an OIDC connection",
    responses.OidcConnectionResponse,
    schemas.OidcConnectionCreate,
    errors=(*B2B_ERRORS, 404),
)
async def create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    body = await parse_body(request, schemas.OidcConnectionCreate, {"organization_id": org})
    connection = await run(gatehouse_of(request).sso.oidc.create, caller, org, body.given())
    return ok(request, {"connection": wire.oidc_connection_to_wire(connection)})


@documented(
    "Update an OIDC connection (a new `issuer` is discovered for its endpoints)",
    responses.OidcConnectionUpdated,
    schemas.OidcConnectionUpdate,
    errors=(*B2B_ERRORS, 404),
)
async def update(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    path = {k: request.path_params[k] for k in ("organization_id", "connection_id")}
    body = await parse_body(request, schemas.OidcConnectionUpdate, path)
    connection = await run(
        gatehouse_of(request).sso.oidc.update,
        caller,
        path["organization_id"],
        path["connection_id"],
        body.given(),
    )
    return ok(
        request,
        {"connection": wire.oidc_connection_to_wire(connection), "warning": connection.warning},
    )


@documented(
    "The OIDC callback: the provider redirects the browser here with `code` and `state`",
    None,
    schemas.OidcCallback,
    errors=(400, 401, 403, 404, 503),
    security=(),
    media_type="text/plain",
    success_status=303,
    description=(
        "When the code redeems and the ID token verifies, a redirect to the app's login (or, for "
        "a new member, signup) URL with `stytch_token_type=sso&token=...`, spent by "
        "`sso.authenticate`."
    ),
)
async def callback(request: Request) -> RedirectResponse:
    connection_id = request.path_params["connection_id"]
    query = parse_query(request, schemas.OidcCallback)
    location = await run(gatehouse_of(request).sso.oidc.callback, connection_id, query.given())
    return RedirectResponse(location, status_code=303)


routes = [
    Route("/v1/b2b/sso/callback/{connection_id}", callback, methods=["GET"]),
    Route(_ORG, create, methods=["POST"]),
    Route(_CONNECTION, update, methods=["PUT"]),
]
