"""What the OpenAPI document (api/openapi.py) says about an endpoint, declared beside it.

A route module marks an endpoint with `@documented(...)`: the request model it validates with
(a JSON body, or the query string for `GET`), the response model its success answer has (or, for
an answer that is not JSON, its media type), and the error statuses it can answer. The document is
built from the app's routes and these marks only; tests/api/test_openapi.py fails for a route the
app serves without one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic

from gatehouse.api.parsing import Body

# What every B2B endpoint can answer: a refused body (400), bad credentials (401), a member
# session without the permission (403), a body over the limit (413), not json (415), the
# server or database busy (503).
B2B_ERRORS = (400, 401, 403, 413, 415, 503)
# The Management API's: the same, and a missing project, environment or secret (404).
MANAGEMENT_ERRORS = (400, 401, 403, 404, 413, 415, 503)
# A management key (basic auth) or a dashboard session (bearer).
MANAGEMENT = ("management", "dashboard")
# The operational endpoints (`/healthz`, `/readyz`, `/metrics`, ...): only the connection cap's
# refusal (api/app.py `_Guard`).
OPERATIONAL_ERRORS = (503,)


@dataclass(frozen=True)
class Answer:
    """A status answered with a body of its own (beside the error body, if also an error)."""

    status: int
    description: str
    model: type[pydantic.BaseModel]


@dataclass(frozen=True)
class Operation:
    summary: str
    response: type[pydantic.BaseModel] | None  # the JSON success body; None: `media_type` text
    request: type[Body] | None = None
    errors: tuple[int, ...] = B2B_ERRORS
    security: tuple[str, ...] = ("b2b",)  # any one of these; none: readable without credentials
    tag: str = "B2B"
    media_type: str = "application/json"  # of the success answer
    description: str = ""  # Markdown: what the summary cannot say (a stream's events, say)
    answers: tuple[Answer, ...] = ()
    # A redirect (302, 303) answers with a `Location` header and no body.
    success_status: int = 200


F = TypeVar("F", bound=Callable[..., Any])

DOCUMENTED: dict[Callable[..., Any], Operation] = {}


def documented(
    summary: str,
    response: type[pydantic.BaseModel] | None,
    request: type[Body] | None = None,
    *,
    errors: tuple[int, ...] = B2B_ERRORS,
    security: tuple[str, ...] = ("b2b",),
    tag: str = "B2B",
    media_type: str = "application/json",
    description: str = "",
    answers: tuple[Answer, ...] = (),
    success_status: int = 200,
) -> Callable[[F], F]:
    if (response is None) == (media_type == "application/json"):
        raise ValueError("a JSON answer names its response model; any other names none")

    def mark(endpoint: F) -> F:
        DOCUMENTED[endpoint] = Operation(
            summary,
            response,
            request,
            errors,
            security,
            tag,
            media_type,
            description,
            answers,
            success_status,
        )
        return endpoint

    return mark
