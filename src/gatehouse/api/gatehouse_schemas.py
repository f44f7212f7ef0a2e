"""Request models for Gatehouse's own endpoints (`/v1/b2b/gatehouse/...`), and the fast reader of
the batch-authorize body.

The batch body can hold 10,000 checks, and the endpoint is meant to answer a million checks a
second, so its body is parsed and validated in one pass by pydantic's JSON reader into plain
dicts. Measured per 1,000 checks, against parsing alone (`pydantic_core.from_json`, 1.0): a
dict whose keys are the two literal field names and which must hold both, 1.45; a strict
TypedDict, 1.75; a strict model per check, 2.4; `json.loads` then validation, 2.6. Only when that
pass refuses the body, or the body may hold a NUL, is it read again the ordinary way, with the
TypedDict (`api.parsing.validate`), so that every error says what the other endpoints would say.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, cast

import pydantic
from pydantic import Field
from typing_extensions import TypedDict

from gatehouse.api.parsing import Body, check_text, finite_float, no_constant, validate
from gatehouse.api.schemas import Ident, Token
from gatehouse.errors import Code, GatehouseError, InvalidInput

MAX_CHECKS = 10_000
# 10,000 checks of 128-character ids fit; the other endpoints' 1 MB limit would not.
MAX_BATCH_BYTES = 4_000_000
# A body with thousands of bad checks is reported by its first problems, not all of them.
MAX_PROBLEMS = 20

CheckText = Annotated[str, Field(min_length=1, max_length=128)]


class Check(TypedDict):
    """One check of a batch; a TypedDict so that validating it builds nothing but a dict."""

    __pydantic_config__ = pydantic.ConfigDict(extra="forbid", strict=True)  # type: ignore[misc]

    resource_id: CheckText
    action: CheckText


class BatchAuthorize(Body):
    session_token: Token | None = None
    session_jwt: Token | None = None
    organization_id: Ident
    checks: Annotated[list[Check], Field(min_length=1, max_length=MAX_CHECKS)]
    explain: bool = False


# The same check, cheaper to validate: only the two field names are allowed, and both must be
# there. Refusals are re-read with `Check` for their messages.
_FastCheck = Annotated[dict[Literal["resource_id", "action"], CheckText], Field(min_length=2)]


class _FastBatchAuthorize(BatchAuthorize):
    checks: Annotated[list[_FastCheck], Field(min_length=1, max_length=MAX_CHECKS)]  # type: ignore[assignment]


def _both_or_neither(body: BatchAuthorize) -> None:
    if (body.session_token is None) == (body.session_jwt is None):
        raise InvalidInput(
            "pass exactly one of `session_token` or `session_jwt`", code=Code.INVALID_REQUEST
        )


def _slow(raw: bytes) -> BatchAuthorize:
    """The ordinary reading, for its error messages (or a body the fast path cannot vouch for)."""
    try:
        data = json.loads(raw, parse_constant=no_constant, parse_float=finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("the request body is not valid json", code=Code.INVALID_JSON) from None
    check_text(data, "the request body")
    try:
        return validate(BatchAuthorize, data)
    except InvalidInput as error:
        if len(error.problems) <= MAX_PROBLEMS:
            raise
        shown = error.problems[:MAX_PROBLEMS]
        more = len(error.problems) - MAX_PROBLEMS
        raise InvalidInput(
            f"the request is invalid ({more} more problems not listed)", shown
        ) from None


def parse_batch(raw: bytes, content_type: str) -> BatchAuthorize:
    """Validate a batch-authorize body: strict types, unknown fields and nulls refused."""
    if len(raw) > MAX_BATCH_BYTES:
        raise GatehouseError(
            Code.REQUEST_TOO_LARGE, f"the request body must be at most {MAX_BATCH_BYTES} bytes"
        )
    if content_type and "json" not in content_type:
        raise GatehouseError(
            Code.UNSUPPORTED_MEDIA_TYPE, "send the request body as `application/json`"
        )
    if not raw or raw.isspace():
        raw = b"{}"
    body: BatchAuthorize | None = None
    # `\u0000` is the only way a NUL gets into JSON text; lone surrogates fail the fast path.
    if b"\\u0000" not in raw:
        try:
            body = cast(BatchAuthorize, _FastBatchAuthorize.model_validate_json(raw))
        except pydantic.ValidationError:
            body = None
        # An explicit null is refused, as on every endpoint: the ordinary reading says so.
        if body is not None and any(getattr(body, f) is None for f in body.model_fields_set):
            body = None
    if body is None:
        body = _slow(raw)
    _both_or_neither(body)
    return body
