"""Search queries and cursors as callers send them, checked before storage sees them: every
problem at once, each with its path, in the words of the filter vocabulary storage answers."""

from __future__ import annotations

from typing import Any, cast

from gatehouse.errors import Code, InvalidInput
from gatehouse.policy import Problem
from gatehouse.storage.search import SearchQuery, decode_cursor


def check_cursor(cursor: str | None) -> None:
    if cursor:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise InvalidInput(
                f"cursor `{cursor[:100]}` is not one this server issued; pass a `next_cursor` "
                "from an earlier page",
                code=Code.INVALID_CURSOR,
            ) from None


# Values one list filter may take, and all of a query's list filters together. Stytch documents
# no limit; these keep every search statement far below the bind parameters PostgreSQL (65,535)
# and SQLite (32,766 in default builds) take (docs/DECISIONS.md).
MAX_FILTER_VALUES = 1_000
MAX_QUERY_VALUES = 10_000


def check_query(query: dict[str, Any] | None, filters: dict[str, type]) -> SearchQuery | None:
    """The query, once every problem with its filters (all reported at once) is ruled out."""
    if not query:
        return None
    problems: list[Problem] = []
    for i, operand in enumerate(query.get("operands", [])):
        name = operand.get("filter_name")
        path = f"query.operands[{i}]"
        if name not in filters:
            problems.append(
                Problem(
                    f"{path}.filter_name",
                    f"filter `{name}` is not supported; use one of "
                    + ", ".join(f"`{f}`" for f in sorted(filters)),
                )
            )
            continue
        kind = filters[name]
        value = operand.get("filter_value")
        ok = (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
            if kind is list
            else isinstance(value, kind)
        )
        if not ok:
            expected = {list: "a list of strings", str: "a string", bool: "a boolean"}[kind]
            problems.append(Problem(f"{path}.filter_value", f"filter `{name}` takes {expected}"))
        elif kind is list and len(value) > MAX_FILTER_VALUES:
            problems.append(
                Problem(
                    f"{path}.filter_value",
                    f"filter `{name}` takes at most {MAX_FILTER_VALUES} values (got "
                    f"{len(value)}); split the search",
                )
            )
    total = sum(
        len(o.get("filter_value") or ())
        for o in query.get("operands", [])
        if filters.get(o.get("filter_name")) is list and isinstance(o.get("filter_value"), list)
    )
    if total > MAX_QUERY_VALUES and not problems:
        problems.append(
            Problem(
                "query.operands",
                f"the filters take at most {MAX_QUERY_VALUES} values together (got {total}); "
                "split the search",
            )
        )
    if problems:
        raise InvalidInput("the search query is invalid", problems)
    return cast(SearchQuery, query)
