"""Stytch search queries (`{operator, operands: [{filter_name, filter_value}]}`) as SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from gatehouse.storage import search as neutral
from gatehouse.storage.search import SearchQuery, UnknownFilter, encode_cursor
from gatehouse.storage.sql import tables as t

__all__ = [
    "MEMBER_FILTERS",
    "ORGANIZATION_FILTERS",
    "UnknownFilter",
    "build_condition",
    "encode_cursor",
]

Filter = Callable[[Any], ColumnElement[bool]]


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value]


def _like(column: Any, value: Any, *, lowered: bool = False) -> ColumnElement[bool]:
    """`column` contains `value`, ignoring case; `lowered`: the column is stored lowercased
    (`email_lower`), so no lower() per row and its index can be read."""
    escaped = str(value).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return (column if lowered else func.lower(column)).like(f"%{escaped}%", escape="\\")


def _member_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(
        select(t.members.c.id).where(
            t.members.c.organization_id == t.organizations.c.id,
            t.members.c.status != "deleted",
            condition,
        )
    )


_ORGANIZATION_SQL: dict[str, Filter] = {
    "organization_ids": (lambda v: t.organizations.c.id.in_(_strings(v))),
    "organization_slugs": (lambda v: t.organizations.c.slug.in_(_strings(v))),
    "organization_external_ids": (lambda v: t.organizations.c.external_id.in_(_strings(v))),
    "organization_name_fuzzy": (lambda v: _like(t.organizations.c.name, v)),
    "organization_slug_fuzzy": (lambda v: _like(t.organizations.c.slug, v)),
    "member_emails": (
        lambda v: _member_exists(t.members.c.email_lower.in_([s.lower() for s in _strings(v)]))
    ),
    "member_email_fuzzy": (
        lambda v: _member_exists(_like(t.members.c.email_lower, v, lowered=True))
    ),
}

_MEMBER_SQL: dict[str, Filter] = {
    "member_ids": (lambda v: t.members.c.id.in_(_strings(v))),
    "member_emails": (lambda v: t.members.c.email_lower.in_([s.lower() for s in _strings(v)])),
    "member_email_fuzzy": (lambda v: _like(t.members.c.email_lower, v, lowered=True)),
    "member_external_ids": (lambda v: t.members.c.external_id.in_(_strings(v))),
    "member_is_breakglass": (lambda v: t.members.c.is_breakglass == bool(v)),
    "statuses": (lambda v: t.members.c.status.in_(_strings(v))),
    "member_password_exists": (
        lambda v: (
            t.members.c.password_hash.is_not(None) if v else t.members.c.password_hash.is_(None)
        )
    ),
    "member_mfa_phone_numbers": (lambda v: t.members.c.mfa_phone_number.in_(_strings(v))),
    "member_mfa_phone_number_fuzzy": (lambda v: _like(t.members.c.mfa_phone_number, v)),
    "member_roles": (
        lambda v: (
            true()
            if "stytch_member" in v
            else exists(
                select(t.member_roles.c.member_id).where(
                    t.member_roles.c.member_id == t.members.c.id,
                    t.member_roles.c.role_id.in_(_strings(v)),
                )
            )
        )
    ),
}


# name -> (the type its value takes, the SQL it means), for exactly storage.search's filters.
ORGANIZATION_FILTERS: dict[str, tuple[type, Filter]] = {
    name: (kind, _ORGANIZATION_SQL[name]) for name, kind in neutral.ORGANIZATION_FILTERS.items()
}
MEMBER_FILTERS: dict[str, tuple[type, Filter]] = {
    name: (kind, _MEMBER_SQL[name]) for name, kind in neutral.MEMBER_FILTERS.items()
}
assert set(_ORGANIZATION_SQL) == set(ORGANIZATION_FILTERS)
assert set(_MEMBER_SQL) == set(MEMBER_FILTERS)


def build_condition(
    query: SearchQuery | None, filters: dict[str, tuple[type, Filter]]
) -> ColumnElement[bool]:
    """The WHERE clause for a validated query. Raises UnknownFilter for unsupported filters."""
    if not query or not query.get("operands"):
        return true()
    parts: list[ColumnElement[bool]] = []
    for operand in query["operands"]:
        name = operand["filter_name"]
        if name not in filters:
            raise UnknownFilter(name)
        kind, build = filters[name]
        value = operand["filter_value"]
        if kind is list and not value:
            parts.append(false())
            continue
        parts.append(build(value))
    return and_(*parts) if query.get("operator", "AND") == "AND" else or_(*parts)


def after_cursor(table: Any, cursor: str | None) -> ColumnElement[bool]:
    if not cursor:
        return true()
    created, row_id = neutral.decode_cursor(cursor)
    return or_(
        table.c.created_at > created,
        and_(table.c.created_at == created, table.c.id > row_id),
    )
