"""The database's uniqueness rules, and what a violation of each means to an API caller.

A write refused by a unique constraint or index is translated here, once, at the storage edge:
into the Stytch error for that rule (`DuplicateValue`, an `errors.Duplicate` naming the field
and the value, and a storage `Conflict`), or, for a
constraint nothing promises to the caller (a foreign key, a rule below), into `Conflict` with the
constraint's name, which the API answers as a 409 `conflict`.

PostgreSQL names the violated constraint; SQLite names only the table and columns, which identify
it just as well (no two unique rules of the schema share a column list): both report its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError, OperationalError

from gatehouse.errors import Code
from gatehouse.storage.interface import Conflict, DuplicateValue
from gatehouse.storage.sql import tables as t


@dataclass(frozen=True, slots=True)
class UniqueRule:
    name: str  # the constraint or unique index
    table: str
    columns: tuple[str, ...]
    code: Code
    field: str  # the caller's name for the value
    value_column: str  # where the value is in the row written
    scope: str  # where it must be unique, for the message


RULES = (
    UniqueRule(
        "uq_scim_connections_organization_id",
        "scim_connections",
        ("organization_id",),
        Code.DUPLICATE_SCIM_CONNECTION,
        "organization_id",
        "organization_id",
        "project",
    ),
    UniqueRule(
        "uq_scim_users_connection_id_user_name_lower",
        "scim_users",
        ("connection_id", "user_name_lower"),
        Code.DUPLICATE_SCIM_USER_NAME,
        "userName",
        "user_name_lower",
        "SCIM connection",
    ),
    UniqueRule(
        "uq_members_organization_id_email_lower",
        "members",
        ("organization_id", "email_lower"),
        Code.DUPLICATE_MEMBER_EMAIL,
        "email_address",
        "email",
        "organization",
    ),
    UniqueRule(
        "uq_members_organization_id_external_id",
        "members",
        ("organization_id", "external_id"),
        Code.DUPLICATE_EXTERNAL_ID,
        "external_id",
        "external_id",
        "organization",
    ),
    UniqueRule(
        "uq_organizations_environment_id_slug",
        "organizations",
        ("environment_id", "slug"),
        Code.DUPLICATE_ORGANIZATION_SLUG,
        "organization_slug",
        "slug",
        "project",
    ),
    UniqueRule(
        "uq_organizations_environment_id_external_id",
        "organizations",
        ("environment_id", "external_id"),
        Code.DUPLICATE_EXTERNAL_ID,
        "organization_external_id",
        "external_id",
        "project",
    ),
    # An organization's id, slug and external id share one namespace (one lookup): the row
    # written names which field it came from (`kind`), and so which error it is (`_BY_KIND`).
    UniqueRule(
        "pk_organization_identifiers",
        "organization_identifiers",
        ("environment_id", "identifier"),
        Code.DUPLICATE_ORGANIZATION_SLUG,
        "organization_slug",
        "identifier",
        "project",
    ),
    # A member's current address and the addresses members retired, one member each.
    UniqueRule(
        "pk_member_emails",
        "member_emails",
        ("organization_id", "email_lower"),
        Code.DUPLICATE_MEMBER_EMAIL,
        "email_address",
        "email",
        "organization",
    ),
    UniqueRule(
        "uq_projects_workspace_id_slug",
        "projects",
        ("workspace_id", "slug"),
        Code.DUPLICATE_PROJECT_SLUG,
        "project_slug",
        "slug",
        "workspace",
    ),
    UniqueRule(
        "uq_environments_project_id_slug",
        "environments",
        ("project_id", "slug"),
        Code.DUPLICATE_ENVIRONMENT_SLUG,
        "environment_slug",
        "slug",
        "project",
    ),
    UniqueRule(
        "uq_workspace_members_workspace_id_email",
        "workspace_members",
        ("workspace_id", "email"),
        Code.DUPLICATE_WORKSPACE_MEMBER,
        "email_address",
        "email",
        "workspace",
    ),
)
_BY_NAME = {rule.name: rule for rule in RULES}


def _unique_names() -> dict[tuple[str, tuple[str, ...]], str]:
    """(table, columns) -> name of every unique constraint and unique index of the schema, so a
    refusal SQLite reports by columns gets the name PostgreSQL would report."""
    names: dict[tuple[str, tuple[str, ...]], str] = {}
    for table in t.metadata.sorted_tables:
        key = table.primary_key
        if isinstance(key.name, str):
            names[(table.name, tuple(c.name for c in key.columns))] = key.name
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and isinstance(constraint.name, str):
                names[(table.name, tuple(c.name for c in constraint.columns))] = constraint.name
        for index in table.indexes:
            if index.unique and isinstance(index.name, str):
                names[(table.name, tuple(c.name for c in index.columns))] = index.name
    return names


_NAMES = _unique_names()

# organization_identifiers rows by kind: the field the identifier was written as.
_BY_KIND = {
    "external_id": (Code.DUPLICATE_EXTERNAL_ID, "organization_external_id"),
}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def constraint_of(error: IntegrityError) -> str:
    """The violated constraint's name (PostgreSQL), or `table(columns)` as SQLite reports it."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    found = _SQLITE_UNIQUE.search(str(error.orig))
    if found is None:
        return str(error.orig).split("\n", 1)[0][:200]
    qualified = [c.strip() for c in found.group(1).split(",")]
    table = qualified[0].split(".", 1)[0]
    columns = tuple(c.split(".", 1)[-1] for c in qualified)
    return _NAMES.get((table, columns), f"{table}({', '.join(columns)})")


def translate(error: IntegrityError, values: Mapping[str, Any]) -> Exception:
    """What to raise for a refused write of `values`."""
    name = constraint_of(error)
    rule = _BY_NAME.get(name)
    if rule is None:
        return Conflict(name, str(error.orig).split("\n", 1)[0][:500])
    value = str(values.get(rule.value_column, ""))
    code, field = rule.code, rule.field
    if rule.table == "organization_identifiers":
        code, field = _BY_KIND.get(str(values.get("kind")), (code, field))
    return DuplicateValue(
        rule.name,
        code,
        field,
        value,
        f"{field.replace('_', ' ')} `{value}` is already in use in this {rule.scope}",
    )


# PostgreSQL: lock_not_available (lock_timeout), serialization_failure, deadlock_detected.
_BUSY_SQLSTATES = frozenset({"55P03", "40001", "40P01"})


def is_busy(error: OperationalError) -> bool:
    """Lock contention past the wait limit, as opposed to a broken connection or a bug."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _BUSY_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text
