"""The OpenAPI 3.1 document, served at `GET /openapi.json`.

Built from the app's routes: each route whose endpoint is marked `@documented` (api/operations.py)
becomes an operation with its path parameters, its request model (the JSON body, or the query
string for `GET`: the models the server validates with), its success response model
(api/responses.py) and the error schema for each status it can answer. Schemas are pydantic's,
with their `$defs` hoisted into `components/schemas`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pydantic
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.routing import BaseRoute, Route

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


def _operation(route: Route, method: str, op: Operation, components: dict[str, Any]) -> Any:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
        for name in route.param_convertors
    ]
    out: dict[str, Any] = {
        "operationId": f"{route.endpoint.__module__.rsplit('.', 1)[-1]}.{route.name}",
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{name: []} for name in op.security],
    }
    if op.request is not None:
        _request_components(op.request, components)
        if method == "GET":
            schema = components[op.request.__name__]
            required = set(schema.get("required", []))
            for name, field in schema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": field}
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
    answers: dict[str, Any] = {
        "200": {
            "description": "Done.",
            "content": {"application/json": {"schema": _schema_of(op.response, components)}},
        }
    }
    error_ref = _schema_of(responses.Error, components)
    for status in sorted(op.errors):
        if status == 304:
            answers["304"] = {"description": "Not modified (the `If-None-Match` tag matches)."}
            continue
        answers[str(status)] = {
            "description": _REASONS[status],
            "content": {"application/json": {"schema": error_ref}},
        }
    out["responses"] = answers
    return out


def document(routes: Iterable[BaseRoute], server_url: str = "/") -> dict[str, Any]:
    """The document for every documented route among `routes` (an app's `routes`)."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or route.endpoint not in DOCUMENTED:
            continue
        op = DOCUMENTED[route.endpoint]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = _operation(
                route, method, op, components
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse",
            "version": "0.1.0",
            "description": "Stytch's B2B API and Management API, as Gatehouse serves them. Errors are "
            "`{status_code, request_id, error_type, error_message, error_url}`.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
