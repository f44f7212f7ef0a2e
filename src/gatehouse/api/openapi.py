"""The OpenAPI 3.1 document, served at `GET /openapi.json`.

Built from the app's routes (mounts included): each route whose endpoint is marked `@documented`
(api/operations.py) becomes an operation with its path parameters, its request model (the JSON body, or the query
string for `GET`: the models the server validates with), its success response model
(api/responses.py; for a text answer, its media type) and the error schema for each status it
can answer. Schemas are pydantic's,
with their `$defs` hoisted into `components/schemas`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pydantic
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.routing import BaseRoute, Mount, Route, compile_path

from gatehouse.api import responses
from gatehouse.api.operations import DOCUMENTED, Operation

REF = "#/components/schemas/{model}"

_REASONS = {
    400: "The request is invalid (every problem is named).",
    401: "The credentials are missing or wrong.",
    403: "The caller may not do this.",
    404: "Not found.",
    409: "A conflict with what is stored (a duplicate, say).",
    413: "The request body is too large.",
    415: "The request body is not `application/json`.",
    429: "Too many requests; retry later.",
    503: "The server or its database is busy; retry after `Retry-After` seconds.",
}

SECURITY_SCHEMES = {
    "b2b": {
        "type": "http",
        "scheme": "basic",
        "description": "The project id as the user name, a project secret as the password.",
    },
    "management": {
        "type": "http",
        "scheme": "basic",
        "description": "A management key: its key id as the user name, its secret as the password.",
    },
    "dashboard": {
        "type": "http",
        "scheme": "bearer",
        "description": "A dashboard session token.",
    },
}


class _RequestSchema(GenerateJsonSchema):
    """Request models refuse explicit `null` (api/parsing.py) for every field they do not name
    nullable: the document says so by leaving `null` out."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])


def _schema_of(
    model: type[pydantic.BaseModel],
    components: dict[str, Any],
    generator: type[GenerateJsonSchema] = GenerateJsonSchema,
) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, schema_generator=generator)
    for name, definition in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        # Two models of one name (a request's and a response's) would hide one of them.
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two schemas are named `{name}`")
    return {"$ref": REF.format(model=model.__name__)}


def _request_components(model: type[pydantic.BaseModel], components: dict[str, Any]) -> None:
    generator = GenerateJsonSchema if getattr(model, "nullable", None) else _RequestSchema
    _schema_of(model, components, generator)


def _operation(
    path: str,
    params: Iterable[str],
    endpoint: Any,
    name: str,
    method: str,
    op: Operation,
    components: dict[str, Any],
) -> Any:
    parameters: list[dict[str, Any]] = [
        {
            "name": param,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
        for param in params
    ]
    out: dict[str, Any] = {
        "operationId": f"{endpoint.__module__.rsplit('.', 1)[-1]}.{name}",
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{scheme: []} for scheme in op.security],
    }
    if op.description:
        out["description"] = op.description
    if op.request is not None:
        _request_components(op.request, components)
        if method == "GET":
            schema = components[op.request.__name__]
            required = set(schema.get("required", []))
            for field_name, field in schema.get("properties", {}).items():
                parameters.append(
                    {
                        "name": field_name,
                        "in": "query",
                        "required": field_name in required,
                        "schema": field,
                    }
                )
        else:
            out["requestBody"] = {
                # An empty body is read as `{}`: required when the model has required fields.
                "required": bool(components[op.request.__name__].get("required")),
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=op.request.__name__)}}
                },
            }
    if parameters:
        out["parameters"] = parameters
    success = {"type": "string"} if op.response is None else _schema_of(op.response, components)
    answers: dict[str, Any] = {
        "200": {"description": "Done.", "content": {op.media_type: {"schema": success}}}
    }
    if op.success_status != 200:
        answers = {
            str(op.success_status): {
                "description": op.description or "A redirect: see the `Location` header.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            }
        }
    error_ref = _schema_of(responses.Error, components)
    own = {answer.status: answer for answer in op.answers}
    for status in sorted({*op.errors, *own}):
        if status == 304:
            answers["304"] = {"description": "Not modified (the `If-None-Match` tag matches)."}
            continue
        schema, description = error_ref, _REASONS.get(status, "")
        if status in own:
            body = _schema_of(own[status].model, components)
            schema = {"anyOf": [body, error_ref]} if status in op.errors else body
            description = own[status].description
        answers[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    out["responses"] = answers
    return out


def _routes(
    routes: Iterable[BaseRoute], prefix: str = "", params: tuple[str, ...] = ()
) -> Iterable[tuple[str, tuple[str, ...], Route]]:
    """Every `Route` among `routes` and the routes of their mounts, with its full path and path
    parameters."""
    for route in routes:
        if isinstance(route, Mount):
            # The mount's own parameters (its `param_convertors` add the `{path}` it passes on).
            own = compile_path(route.path)[2]
            yield from _routes(route.routes, prefix + route.path, (*params, *own))
        elif isinstance(route, Route):
            yield prefix + route.path, (*params, *route.param_convertors), route


def document(routes: Iterable[BaseRoute], server_url: str = "/") -> dict[str, Any]:
    """The document for every documented route among `routes` (an app's `routes`, mounts
    included)."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for path, params, route in _routes(routes):
        op = DOCUMENTED.get(route.endpoint)
        if op is None:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                path, params, route.endpoint, route.name, method, op, components
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse",
            "version": "0.1.0",
            "description": "Stytch's B2B API and Management API, Gatehouse's extensions and its "
            "operational endpoints, as Gatehouse serves them. Errors are "
            "`{status_code, request_id, error_type, error_message, error_url}`.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
