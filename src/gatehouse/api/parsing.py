"""Reading requests at the edge: JSON bodies and query strings, validated against a model.

Every problem is reported at once with its path. Explicit `null` is refused (leave a field out
instead) except where a model names the field nullable. Path parameters that the official SDK
repeats in the query or body must equal the path's.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar, TypeVar

import pydantic
from starlette.requests import Request

from gatehouse.errors import Code, GatehouseError, InvalidInput
from gatehouse.policy import Problem
from gatehouse.policy.document import problems_from_validation_error

MAX_BODY_BYTES = 1_000_000


class Body(pydantic.BaseModel):
    """Base of every request model: strict types, unknown fields refused, nulls refused."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    nullable: ClassVar[frozenset[str]] = frozenset()

    def given(self) -> dict[str, Any]:
        """Only the fields the caller sent, as plain values."""
        return self.model_dump(exclude_unset=True, mode="python")


M = TypeVar("M", bound=Body)


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a json object", code=Code.INVALID_JSON)
    problems = [
        Problem(k, "must not be null; leave the field out instead")
        for k, v in data.items()
        if v is None and k not in model.nullable
    ]
    cleaned = {k: v for k, v in data.items() if v is not None or k in model.nullable}
    try:
        parsed = model.model_validate(cleaned)
    except pydantic.ValidationError as error:
        problems += problems_from_validation_error(error)
        parsed = None
    if problems or parsed is None:
        raise InvalidInput("the request is invalid", problems)
    return parsed


def _too_large(limit: int) -> GatehouseError:
    return GatehouseError(Code.REQUEST_TOO_LARGE, f"the request body must be at most {limit} bytes")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused at once when `Content-Length` is over `limit`, and otherwise as soon as
    what arrived grows past it: never more than `limit` (plus one chunk) is held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    body = await read_body(request)
    if not body.strip():
        return {}
    if content_type and "json" not in content_type:
        raise GatehouseError(
            Code.UNSUPPORTED_MEDIA_TYPE, "send the request body as `application/json`"
        )
    try:
        data = _DECODER.decode(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("the request body is not valid json", code=Code.INVALID_JSON) from None
    # NUL and lone surrogates can only arrive as `\u` escapes (raw ones are not valid json or
    # utf-8), so a body without any escape needs no walk.
    if b"\\u" in body:
        check_text(data, "the request body")
    return data


def no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not json")


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# One decoder for every request: json.loads with hooks would build a new one each call.
_DECODER = json.JSONDecoder(parse_constant=no_constant, parse_float=finite_float)


def check_text(data: Any, where: str) -> None:
    """Refuse strings no backend can store or no response can carry: NUL, lone surrogates."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise InvalidInput(f"{where} holds a NUL character")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"{where} holds text that is not valid unicode") from None


async def parse_body(request: Request, model: type[M], echoes: dict[str, str] | None = None) -> M:
    data = await json_body(request)
    if echoes:
        check_text(echoes, "the path")
        if isinstance(data, dict):
            data = _strip_echoes(data, echoes)
    return validate(model, data)


def parse_query(request: Request, model: type[M], echoes: dict[str, str] | None = None) -> M:
    data: dict[str, Any] = {}
    for key in request.query_params.keys():
        values = request.query_params.getlist(key)
        if len(values) > 1:
            raise InvalidInput(f"query parameter `{key}` is given more than once")
        data[key] = values[0]
    check_text(data, "the query string")
    if echoes:
        check_text(echoes, "the path")
        data = _strip_echoes(data, echoes)
    return validate(model, data)


def _strip_echoes(data: dict[str, Any], echoes: dict[str, str]) -> dict[str, Any]:
    """Remove path parameters the SDK repeats, after checking they match the path (the path's
    text was checked by the caller)."""
    out = dict(data)
    problems = []
    for name, path_value in echoes.items():
        if name in out:
            if out.pop(name) != path_value:
                problems.append(
                    Problem(name, f"must equal the `{name}` in the path (`{path_value}`)")
                )
    if problems:
        raise InvalidInput("the request is invalid", problems)
    return out
