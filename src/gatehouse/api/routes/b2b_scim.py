"""`/v1/b2b/scim/{organization_id}/connection...`: the SCIM connection (`scim.connection.*`); and
the SCIM 2.0 server at each connection's `base_url` (`/v1/b2b/scim/{connection_id}/...`),
authenticated with the connection's bearer token and answering `application/scim+json`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from scim2_models import (
    Context,
    NotFoundException,
    NotImplementedException,
    ResponseParameters,
    SCIMException,
    SearchRequest,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatehouse.api import responses, schemas
from gatehouse.api.auth import caller_of, gatehouse_of, ok, run
from gatehouse.api.errors import ERRORS
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import json_body, parse_body, parse_query
from gatehouse.api.wire import scim_connection_to_wire, scim_group_to_wire
from gatehouse.errors import GatehouseError
from gatehouse.services.b2b.scim import ScimContext

_ORG = "/v1/b2b/scim/{organization_id}/connection"


def _echo(request: Request, *names: str) -> dict[str, str]:
    return {n: request.path_params[n] for n in names}


@documented(
    "Create the organization's SCIM connection (its bearer token is shown only here)",
    responses.ScimConnectionCreated,
    schemas.ScimConnectionCreate,
    errors=(*B2B_ERRORS, 404, 409),
)
async def create(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    body = await parse_body(
        request, schemas.ScimConnectionCreate, _echo(request, "organization_id")
    )
    view = await run(gatehouse_of(request).scim_connections.create, caller, org, body.given())
    return ok(request, {"connection": scim_connection_to_wire(view)})


@documented(
    "Get the organization's SCIM connection",
    responses.ScimConnectionResponse,
    errors=(*B2B_ERRORS, 404),
)
async def get(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org = request.path_params["organization_id"]
    parse_query(request, schemas.Empty, _echo(request, "organization_id"))
    view = await run(gatehouse_of(request).scim_connections.get, caller, org)
    return ok(request, {"connection": scim_connection_to_wire(view)})


@documented(
    "Update the SCIM connection (name, identity provider, group role assignments)",
    responses.ScimConnectionResponse,
    schemas.ScimConnectionUpdate,
    errors=(*B2B_ERRORS, 404),
)
async def update(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org, connection = request.path_params["organization_id"], request.path_params["connection_id"]
    body = await parse_body(
        request, schemas.ScimConnectionUpdate, _echo(request, "organization_id", "connection_id")
    )
    view = await run(
        gatehouse_of(request).scim_connections.update, caller, org, connection, body.given()
    )
    return ok(request, {"connection": scim_connection_to_wire(view)})


@documented(
    "Delete the SCIM connection (its members stay)",
    responses.ScimConnectionDeleted,
    errors=(*B2B_ERRORS, 404),
)
async def delete(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org, connection = request.path_params["organization_id"], request.path_params["connection_id"]
    await parse_body(request, schemas.Empty, _echo(request, "organization_id", "connection_id"))
    deleted = await run(gatehouse_of(request).scim_connections.delete, caller, org, connection)
    return ok(request, {"connection_id": deleted})


@documented(
    "List the SCIM connection's groups",
    responses.ScimGroups,
    schemas.ScimGroupsQuery,
    errors=(*B2B_ERRORS, 404),
)
async def get_groups(request: Request) -> JSONResponse:
    caller = await caller_of(request)
    org, connection = request.path_params["organization_id"], request.path_params["connection_id"]
    query = parse_query(
        request, schemas.ScimGroupsQuery, _echo(request, "organization_id", "connection_id")
    )
    page = await run(
        gatehouse_of(request).scim_connections.get_groups,
        caller,
        org,
        connection,
        query.cursor or None,
        int(query.limit),
    )
    return ok(
        request,
        {
            "scim_groups": [scim_group_to_wire(g, page.organization_id) for g in page.groups],
            "next_cursor": page.next_cursor,
        },
    )


def _rotation(step: str, summary: str, model: Any) -> Callable[[Request], Awaitable[JSONResponse]]:
    @documented(summary, model, schemas.Empty, errors=(*B2B_ERRORS, 404, 409))
    async def rotate(request: Request) -> JSONResponse:
        caller = await caller_of(request)
        org = request.path_params["organization_id"]
        connection = request.path_params["connection_id"]
        await parse_body(request, schemas.Empty, _echo(request, "organization_id", "connection_id"))
        service = gatehouse_of(request).scim_connections
        view = await run(getattr(service, f"rotate_{step}"), caller, org, connection)
        return ok(request, {"connection": scim_connection_to_wire(view)})

    rotate.__name__ = f"rotate_{step}"
    return rotate


rotate_start = _rotation(
    "start",
    "Start a bearer token rotation (the next token is shown only here; both work until it ends)",
    responses.ScimConnectionRotating,
)
rotate_complete = _rotation(
    "complete", "Complete the rotation: only the next token works", responses.ScimConnectionResponse
)
rotate_cancel = _rotation(
    "cancel", "Cancel the rotation: only the current token works", responses.ScimConnectionResponse
)


# -- the SCIM 2.0 server ---------------------------------------------------------------------

SCIM_JSON = "application/scim+json"


def scim_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = JSONResponse(payload, status_code=status, media_type=SCIM_JSON, headers=headers)
    return response


def scim_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    payload: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status),
        "detail": detail,
    }
    if scim_type:
        payload["scimType"] = scim_type
    headers = {"WWW-Authenticate": 'Bearer realm="SCIM"'} if status == 401 else None
    return scim_response(payload, status, headers)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


Handler = Callable[[Request, ScimContext], Awaitable[Response]]


def _scim(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        server = gatehouse_of(request).scim
        try:
            ctx = await run(
                server.authenticate, request.path_params["connection_id"], _bearer(request)
            )
            return await handler(request, ctx)
        except SCIMException as error:
            scim = error.to_error()
            return scim_error(int(scim.status or error.status), error.detail, scim.scim_type)
        except GatehouseError as error:
            status = ERRORS[error.code][0]
            scim_type = "invalidSyntax" if status == 400 else None
            return scim_error(status, str(error), scim_type)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _body(request: Request) -> Any:
    return await json_body(request)


def _list_params(request: Request) -> tuple[str | None, int, int | None]:
    params = request.query_params
    try:
        start = int(params.get("startIndex", "1"))
        count = int(params["count"]) if "count" in params else None
    except ValueError:
        raise SCIMException(detail="startIndex and count must be integers") from None
    return params.get("filter"), start, count


def _params(request: Request) -> Any:
    """`attributes` / `excludedAttributes` of the query string (RFC 7644 §3.9)."""
    given = {
        k: request.query_params[k]
        for k in ("attributes", "excludedAttributes")
        if k in request.query_params
    }
    if not given:
        return None
    try:
        return ResponseParameters.model_validate(given)
    except SCIMException:
        raise
    except ValueError as error:
        raise SCIMException(detail=str(error)) from None


async def _search_body(request: Request) -> tuple[str | None, int, int | None, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise SCIMException(detail="the body must be a SearchRequest object")
    try:
        search: Any = SearchRequest.model_validate(body, scim_ctx=Context.SEARCH_REQUEST)
    except SCIMException:
        raise
    except ValueError as error:
        raise SCIMException(detail=str(error)) from None
    flt = str(search.filter) if search.filter is not None else None
    return flt, search.start_index or 1, search.count, search


@_scim
async def service_provider_config(request: Request, ctx: ScimContext) -> Response:
    return scim_response(gatehouse_of(request).scim.service_provider_config(ctx))


@_scim
async def resource_types(request: Request, ctx: ScimContext) -> Response:
    ident = request.path_params.get("ident")
    return scim_response(gatehouse_of(request).scim.resource_types(ctx, ident))


@_scim
async def schemas_(request: Request, ctx: ScimContext) -> Response:
    ident = request.path_params.get("ident")
    return scim_response(gatehouse_of(request).scim.schemas(ctx, ident))


def _location(payload: dict[str, Any]) -> dict[str, str]:
    return {"Location": str(payload.get("meta", {}).get("location", ""))}


def _resource_routes(kind: str) -> list[Route]:
    async def listing(request: Request, ctx: ScimContext) -> Response:
        server = gatehouse_of(request).scim
        flt, start, count = _list_params(request)
        listing = getattr(server, f"list_{kind}s")
        return scim_response(await run(listing, ctx, flt, start, count, _params(request)))

    async def search(request: Request, ctx: ScimContext) -> Response:
        server = gatehouse_of(request).scim
        flt, start, count, params = await _search_body(request)
        listing = getattr(server, f"list_{kind}s")
        return scim_response(await run(listing, ctx, flt, start, count, params))

    async def create(request: Request, ctx: ScimContext) -> Response:
        body = await _body(request)
        server = gatehouse_of(request).scim
        payload = await run(getattr(server, f"create_{kind}"), ctx, body, _params(request))
        return scim_response(payload, 201, _location(payload))

    async def read(request: Request, ctx: ScimContext) -> Response:
        ident = request.path_params["ident"]
        get = getattr(gatehouse_of(request).scim, f"get_{kind}")
        return scim_response(await run(get, ctx, ident, _params(request)))

    async def replace(request: Request, ctx: ScimContext) -> Response:
        body = await _body(request)
        ident = request.path_params["ident"]
        server = gatehouse_of(request).scim
        replace = getattr(server, f"replace_{kind}")
        return scim_response(await run(replace, ctx, ident, body, _params(request)))

    async def patch(request: Request, ctx: ScimContext) -> Response:
        body = await _body(request)
        ident = request.path_params["ident"]
        server = gatehouse_of(request).scim
        patch = getattr(server, f"patch_{kind}")
        return scim_response(await run(patch, ctx, ident, body, _params(request)))

    async def remove(request: Request, ctx: ScimContext) -> Response:
        ident = request.path_params["ident"]
        await run(getattr(gatehouse_of(request).scim, f"delete_{kind}"), ctx, ident)
        return Response(status_code=204)

    base = "/v1/b2b/scim/{connection_id}/" + kind.capitalize() + "s"
    for fn, name in (
        (listing, "list"),
        (search, "search"),
        (create, "create"),
        (read, "get"),
        (replace, "replace"),
        (patch, "patch"),
        (remove, "delete"),
    ):
        fn.__name__ = f"scim_{kind}_{name}"
    return [
        Route(base, _scim(listing), methods=["GET"]),
        Route(base, _scim(create), methods=["POST"]),
        Route(base + "/.search", _scim(search), methods=["POST"]),
        Route(base + "/{ident}", _scim(read), methods=["GET"]),
        Route(base + "/{ident}", _scim(replace), methods=["PUT"]),
        Route(base + "/{ident}", _scim(patch), methods=["PATCH"]),
        Route(base + "/{ident}", _scim(remove), methods=["DELETE"]),
    ]


_SCIM_BASE = "/v1/b2b/scim/{connection_id}"

# What the server serves, for telling a wrong method (405) from an unknown path (404).
_ENDPOINTS = ("ServiceProviderConfig", "ResourceTypes", "Schemas", "Users", "Groups", ".search")


@_scim
async def search_everything(request: Request, ctx: ScimContext) -> Response:
    """`POST /.search` over every resource type: not offered (RFC 7644 §3.4.3 makes it a MAY)."""
    raise NotImplementedException(detail="search Users and Groups on their own endpoints")


@_scim
async def _elsewhere(request: Request, ctx: ScimContext) -> Response:
    first = request.path_params["rest"].split("/", 1)[0]
    if first in _ENDPOINTS:
        return scim_error(405, f"{request.method} is not supported here")
    raise NotFoundException(detail="no such SCIM endpoint")


async def elsewhere(request: Request) -> Response:
    """Any other path or method under a connection's base URL: a SCIM error, not Stytch's;
    but a wrong method on the connection management routes is the API's own 405."""
    if request.path_params["rest"].split("/", 1)[0] == "connection":
        raise HTTPException(405)
    return await _elsewhere(request)


# The SCIM server's routes (left out of the OpenAPI document: SCIM describes itself through
# its discovery endpoints; docs/DECISIONS.md).
scim_routes = [
    Route(_SCIM_BASE + "/ServiceProviderConfig", service_provider_config, methods=["GET"]),
    Route(_SCIM_BASE + "/ResourceTypes", resource_types, methods=["GET"]),
    Route(_SCIM_BASE + "/ResourceTypes/{ident}", resource_types, methods=["GET"]),
    Route(_SCIM_BASE + "/Schemas", schemas_, methods=["GET"]),
    Route(_SCIM_BASE + "/Schemas/{ident:path}", schemas_, methods=["GET"]),
    *_resource_routes("user"),
    *_resource_routes("group"),
    Route(_SCIM_BASE + "/.search", search_everything, methods=["POST"]),
]

# Last of all the app's routes: the catch-all under every base URL.
scim_fallback = [
    Route(
        _SCIM_BASE + "/{rest:path}",
        elsewhere,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    ),
]

routes = [
    Route(_ORG, create, methods=["POST"]),
    Route(_ORG, get, methods=["GET"]),
    Route(_ORG + "/{connection_id}/rotate/start", rotate_start, methods=["POST"]),
    Route(_ORG + "/{connection_id}/rotate/complete", rotate_complete, methods=["POST"]),
    Route(_ORG + "/{connection_id}/rotate/cancel", rotate_cancel, methods=["POST"]),
    Route(_ORG + "/{connection_id}", get_groups, methods=["GET"]),
    Route(_ORG + "/{connection_id}", update, methods=["PUT"]),
    Route(_ORG + "/{connection_id}", delete, methods=["DELETE"]),
    *scim_routes,
]
