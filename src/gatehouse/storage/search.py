"""Stytch's search queries as storage understands them, backend-neutral: the filters each search
answers and the type of value each takes, and the paging cursor. `sql/search.py` builds the SQL
for exactly these filters (it asserts the two lists are equal when it is imported)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any, Literal, TypedDict


class UnknownFilter(ValueError):
    """A filter name this backend does not answer; services check queries first (a 400)."""


class Operand(TypedDict):
    filter_name: str
    filter_value: Any


class SearchQuery(TypedDict):
    """`{operator, operands: [{filter_name, filter_value}]}`, validated (services check it)."""

    operator: Literal["AND", "OR"]
    operands: list[Operand]


# filter name -> the type its value must have (`list` means a list of strings)
ORGANIZATION_FILTERS: dict[str, type] = {
    "organization_ids": list,
    "organization_slugs": list,
    "organization_external_ids": list,
    "organization_name_fuzzy": str,
    "organization_slug_fuzzy": str,
    "member_emails": list,
    "member_email_fuzzy": str,
}

MEMBER_FILTERS: dict[str, type] = {
    "member_ids": list,
    "member_emails": list,
    "member_email_fuzzy": str,
    "member_external_ids": list,
    "member_is_breakglass": bool,
    "statuses": list,
    "member_password_exists": bool,
    "member_mfa_phone_numbers": list,
    "member_mfa_phone_number_fuzzy": str,
    "member_roles": list,
}


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
