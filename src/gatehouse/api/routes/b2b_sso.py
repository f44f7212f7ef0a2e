"""`/v1/b2b/sso/...`: SAML connections, `sso.get_connections`, `sso.delete_connection`,
`sso.authenticate`; and the browser's side of SAML sign-in: `GET /v1/public/sso/start` (to the
IdP) and the ACS the IdP posts the `SAMLResponse` to (`POST /v1/b2b/sso/callback/{id}`)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gatehouse.api import responses, schemas, wire
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_body, parse_query
from gatehouse.errors import Code, InvalidInput

_ORG = "/v1/b2b/sso/saml/{organization_id}"
_CONNECTION = _ORG + "/connections/{connection_id}"


def _ids(request: Request) -> dict[str, str]:
    return {k: request.path_params[k] for k in ("organization_id", "connection_id")}


@documented(
    "Create a SAML connection",
    responses.SamlConnectionResponse,
    schemas.SamlConnectionCreate,
    errors=(*B2B_ERRORS, 404),
)
async def create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    body = await parse_body(request, schemas.SamlConnectionCreate, {"organization_id": org})
    connection = await run(gatehouse_of(request).sso.create, caller, org, body.given())
    return ok(request, {"connection": wire.saml_connection_to_wire(connection)})


@documented(
    "Update a SAML connection",
    responses.SamlConnectionResponse,
    schemas.SamlConnectionUpdate,
    errors=(*B2B_ERRORS, 404),
)
async def update(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    path = _ids(request)
    body = await parse_body(request, schemas.SamlConnectionUpdate, path)
    connection = await run(
        gatehouse_of(request).sso.update,
        caller,
        path["organization_id"],
        path["connection_id"],
        body.given(),
    )
    return ok(request, {"connection": wire.saml_connection_to_wire(connection)})


@documented(
    "Update a SAML connection from the IdP's metadata URL",
    responses.SamlConnectionResponse,
    schemas.SamlConnectionUpdateByUrl,
    errors=(*B2B_ERRORS, 404),
)
async def update_by_url(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    path = _ids(request)
    body = await parse_body(request, schemas.SamlConnectionUpdateByUrl, path)
    connection = await run(
        gatehouse_of(request).sso.update_by_url,
        caller,
        path["organization_id"],
        path["connection_id"],
        body.metadata_url,
    )
    return ok(request, {"connection": wire.saml_connection_to_wire(connection)})


@documented(
    "Delete a SAML connection's verification certificate",
    responses.SamlCertificateDeleted,
    errors=(*B2B_ERRORS, 404),
)
async def delete_certificate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    path = _ids(request)
    certificate_id = request.path_params["certificate_id"]
    await parse_body(request, schemas.Empty, {**path, "certificate_id": certificate_id})
    deleted = await run(
        gatehouse_of(request).sso.delete_certificate,
        caller,
        path["organization_id"],
        path["connection_id"],
        certificate_id,
    )
    return ok(request, {"certificate_id": deleted})


@documented(
    "Delete a SAML connection's encryption private key",
    responses.SamlPrivateKeyDeleted,
    errors=(*B2B_ERRORS, 404),
)
async def delete_private_key(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    path = _ids(request)
    private_key_id = request.path_params["private_key_id"]
    await parse_body(request, schemas.Empty, {**path, "private_key_id": private_key_id})
    deleted = await run(
        gatehouse_of(request).sso.delete_private_key,
        caller,
        path["organization_id"],
        path["connection_id"],
        private_key_id,
    )
    return ok(request, {"private_key_id": deleted})


@documented(
    "List an organization's SSO connections", responses.SsoConnections, errors=(*B2B_ERRORS, 404)
)
async def get_connections(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    parse_query(request, schemas.Empty, {"organization_id": org})
    saml, oidc = await run(gatehouse_of(request).sso.get_connections, caller, org)
    return ok(
        request,
        {
            "saml_connections": [wire.saml_connection_to_wire(c) for c in saml],
            "oidc_connections": [wire.oidc_connection_to_wire(c) for c in oidc],
            "external_connections": [],
        },
    )


@documented("Delete an SSO connection", responses.SsoConnectionDeleted, errors=(*B2B_ERRORS, 404))
async def delete_connection(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    connection_id = request.path_params["connection_id"]
    await parse_body(
        request, schemas.Empty, {"organization_id": org, "connection_id": connection_id}
    )
    deleted = await run(gatehouse_of(request).sso.delete, caller, org, connection_id)
    return ok(request, {"connection_id": deleted})


@documented(
    "Sign a member in with the token SSO sign-in handed the app",
    responses.SsoAuthenticated,
    schemas.SsoAuthenticate,
    errors=(*B2B_ERRORS, 404),
)
async def authenticate(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    body = await parse_body(request, schemas.SsoAuthenticate)
    done = await run(gatehouse_of(request).sso.authenticate, caller, body.given())
    return ok(request, wire.sso_authenticated(done))


@documented(
    "Start SSO sign-in: redirects the browser to the IdP (a SAML AuthnRequest, or an OIDC "
    "authorization request)",
    None,
    schemas.SsoStart,
    errors=(400, 404, 503),
    security=(),
    media_type="text/plain",
    success_status=302,
    description=(
        "A redirect to the IdP's SSO URL (HTTP-Redirect binding, `SAMLRequest`), or for an OIDC "
        "connection to the provider's authorization endpoint (`response_type=code`, `state`, "
        "`nonce`, PKCE S256)."
    ),
)
async def start(request: Request) -> RedirectResponse:
    query = parse_query(request, schemas.SsoStart)
    location = await run(gatehouse_of(request).sso.start, query.given())
    return RedirectResponse(location, status_code=302)


@documented(
    "The SAML Assertion Consumer Service: the IdP posts its `SAMLResponse` here",
    None,
    errors=(400, 403, 404, 413, 503),
    security=(),
    media_type="text/plain",
    success_status=303,
    description=(
        "A form post (`SAMLResponse`, `RelayState`). When the response verifies, a redirect to "
        "the app's login (or, for a new member, signup) URL with "
        "`stytch_token_type=sso&token=...`, spent by `sso.authenticate`."
    ),
)
async def callback(request: Request) -> RedirectResponse:
    connection_id = request.path_params["connection_id"]
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    values = form.get("SAMLResponse") or []
    if len(values) != 1 or not values[0]:
        raise InvalidInput(
            "post one `SAMLResponse` (application/x-www-form-urlencoded)",
            code=Code.INVALID_SAML_RESPONSE,
        )
    location = await run(gatehouse_of(request).sso.acs, connection_id, values[0])
    return RedirectResponse(location, status_code=303)


@documented(
    "A SAML connection's SP metadata (its `audience_uri`)",
    None,
    errors=(404, 503),
    security=(),
    media_type="application/samlmetadata+xml",
)
async def metadata(request: Request) -> Response:
    connection_id = request.path_params["connection_id"]
    document = await run(gatehouse_of(request).sso.sp_metadata, connection_id)
    return Response(document, media_type="application/samlmetadata+xml")


routes = [
    Route("/v1/b2b/sso/authenticate", authenticate, methods=["POST"]),
    Route("/v1/public/sso/start", start, methods=["GET"]),
    Route("/v1/b2b/sso/callback/{connection_id}", callback, methods=["POST"]),
    Route("/v1/b2b/sso/saml/metadata/{connection_id}", metadata, methods=["GET"]),
    Route(_ORG, create, methods=["POST"]),
    Route(_CONNECTION, update, methods=["PUT"]),
    Route(_CONNECTION + "/url", update_by_url, methods=["PUT"]),
    Route(
        _CONNECTION + "/verification_certificates/{certificate_id}",
        delete_certificate,
        methods=["DELETE"],
    ),
    Route(
        _CONNECTION + "/encryption_private_keys/{private_key_id}",
        delete_private_key,
        methods=["DELETE"],
    ),
    Route("/v1/b2b/sso/{organization_id}", get_connections, methods=["GET"]),
    Route(
        "/v1/b2b/sso/{organization_id}/connections/{connection_id}",
        delete_connection,
        methods=["DELETE"],
    ),
]
