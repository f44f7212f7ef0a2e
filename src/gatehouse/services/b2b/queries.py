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
    if problems:
        raise InvalidInput("the search query is invalid", problems)
    return cast(SearchQuery, query)
