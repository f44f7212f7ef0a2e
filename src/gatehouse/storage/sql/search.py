"""Stytch search queries (`{operator, operands: [{filter_name, filter_value}]}`) as SQL."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from gatehouse.storage.sql import tables as t

Filter = Callable[[Any], ColumnElement[bool]]


class UnknownFilter(ValueError):
    """A filter name this backend does not answer; the service turns it into a 400."""


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value]


def _like(column: Any, value: Any) -> ColumnElement[bool]:
    escaped = str(value).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _member_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(
        select(t.members.c.id).where(
            t.members.c.organization_id == t.organizations.c.id,
            t.members.c.status != "deleted",
            condition,
        )
    )


ORGANIZATION_FILTERS: dict[str, tuple[type, Filter]] = {
    "organization_ids": (list, lambda v: t.organizations.c.id.in_(_strings(v))),
    "organization_slugs": (list, lambda v: t.organizations.c.slug.in_(_strings(v))),
    "organization_external_ids": (list, lambda v: t.organizations.c.external_id.in_(_strings(v))),
    "organization_name_fuzzy": (str, lambda v: _like(t.organizations.c.name, v)),
    "organization_slug_fuzzy": (str, lambda v: _like(t.organizations.c.slug, v)),
    "member_emails": (
        list,
        lambda v: _member_exists(t.members.c.email_lower.in_([s.lower() for s in _strings(v)])),
    ),
    "member_email_fuzzy": (str, lambda v: _member_exists(_like(t.members.c.email, v))),
}

MEMBER_FILTERS: dict[str, tuple[type, Filter]] = {
    "member_ids": (list, lambda v: t.members.c.id.in_(_strings(v))),
    "member_emails": (
        list,
        lambda v: t.members.c.email_lower.in_([s.lower() for s in _strings(v)]),
    ),
    "member_email_fuzzy": (str, lambda v: _like(t.members.c.email, v)),
    "member_external_ids": (list, lambda v: t.members.c.external_id.in_(_strings(v))),
    "member_is_breakglass": (bool, lambda v: t.members.c.is_breakglass == bool(v)),
    "statuses": (list, lambda v: t.members.c.status.in_(_strings(v))),
    "member_password_exists": (
        bool,
        lambda v: (
            t.members.c.password_hash.is_not(None) if v else t.members.c.password_hash.is_(None)
        ),
    ),
    "member_mfa_phone_numbers": (list, lambda v: t.members.c.mfa_phone_number.in_(_strings(v))),
    "member_mfa_phone_number_fuzzy": (str, lambda v: _like(t.members.c.mfa_phone_number, v)),
    "member_roles": (
        list,
        lambda v: (
            true()
            if "stytch_member" in v
            else exists(
                select(t.member_roles.c.member_id).where(
                    t.member_roles.c.member_id == t.members.c.id,
                    t.member_roles.c.role_id.in_(_strings(v)),
                )
            )
        ),
    ),
}


def build_condition(
    query: dict[str, Any] | None, filters: dict[str, tuple[type, Filter]]
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


def encode_cursor(created_at: dt.datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """Raises ValueError for a cursor this server did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = dt.datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(row_id, str):
            raise ValueError("bad cursor")
        return when.astimezone(dt.UTC), row_id
    except (TypeError, OverflowError, binascii.Error, UnicodeError, RecursionError) as error:
        raise ValueError("bad cursor") from error


def after_cursor(table: Any, cursor: str | None) -> ColumnElement[bool]:
    if not cursor:
        return true()
    created, row_id = decode_cursor(cursor)
    return or_(
        table.c.created_at > created,
        and_(table.c.created_at == created, table.c.id > row_id),
    )
