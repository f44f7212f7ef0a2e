"""Organizations: create, read, update, delete, search; the wire Organization object."""

from __future__ import annotations

import secrets
from typing import Any

from gatehouse.errors import Code, Duplicate, InvalidInput, Kind, NotFound
from gatehouse.policy import Problem
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement
from gatehouse.services.b2b.rbac import role_exists
from gatehouse.services.context import Caller, Environment
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.slugs import slugify
from gatehouse.storage import Row
from gatehouse.storage.sql.search import ORGANIZATION_FILTERS, decode_cursor

# Every Organization field the SDK requires, with the value a new organization starts with.
SETTING_DEFAULTS: dict[str, Any] = {
    "organization_logo_url": "",
    "untrusted_metadata": {},
    "sso_jit_provisioning": "ALL_ALLOWED",
    "sso_jit_provisioning_allowed_connections": [],
    "sso_default_connection_id": None,
    "email_allowed_domains": [],
    "email_jit_provisioning": "NOT_ALLOWED",
    "email_invites": "ALL_ALLOWED",
    "auth_methods": "ALL_ALLOWED",
    "allowed_auth_methods": [],
    "mfa_policy": "OPTIONAL",
    "rbac_email_implicit_role_assignments": [],
    "mfa_methods": "ALL_ALLOWED",
    "allowed_mfa_methods": [],
    "oauth_tenant_jit_provisioning": "NOT_ALLOWED",
    "allowed_oauth_tenants": {},
    "claimed_email_domains": [],
    "first_party_connected_apps_allowed_type": "ALL_ALLOWED",
    "allowed_first_party_connected_apps": [],
    "third_party_connected_apps_allowed_type": "ALL_ALLOWED",
    "allowed_third_party_connected_apps": [],
}

_SLUG_ATTEMPTS = 5

_COLUMNS = {
    "organization_name": "name",
    "organization_slug": "slug",
    "organization_external_id": "external_id",
    "trusted_metadata": "trusted_metadata",
}


def org_to_wire(org: Row) -> dict[str, Any]:
    settings = {**SETTING_DEFAULTS, **org["settings"]}
    return {
        "organization_id": org["id"],
        "organization_name": org["name"],
        "organization_slug": org["slug"],
        "organization_external_id": org["external_id"],
        "trusted_metadata": org["trusted_metadata"],
        **settings,
        "sso_active_connections": [],
        "scim_active_connection": None,
        "custom_roles": org["custom_roles"],
        "created_at": clock.iso(org["created_at"]),
        "updated_at": clock.iso(org["updated_at"]),
    }


class Organizations:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    def find(self, tx: Any, environment: Environment, ident: str) -> Row:
        org = self.store.find_organization(tx, environment.id, ident)
        if org is None:
            raise NotFound(Kind.ORGANIZATION, ident)
        return org

    def get(self, caller: Caller, ident: str) -> Row:
        with self.store.read() as tx:
            return self.find(tx, caller.environment, ident)

    def _check_roles(self, environment: Environment, org: Row, fields: dict[str, Any]) -> None:
        problems = [
            Problem(
                f"rbac_email_implicit_role_assignments[{i}].role_id",
                f"role `{rule['role_id']}` does not exist in the project or organization policy",
            )
            for i, rule in enumerate(fields.get("rbac_email_implicit_role_assignments") or [])
            if not role_exists(environment, org, rule["role_id"])
        ]
        if problems:
            raise InvalidInput("unknown role", problems, code=Code.ROLE_NOT_FOUND)

    def _write_values(self, fields: dict[str, Any]) -> tuple[Row, dict[str, Any]]:
        columns: Row = {}
        settings: dict[str, Any] = {}
        for name, value in fields.items():
            if name in _COLUMNS:
                columns[_COLUMNS[name]] = value
            else:
                settings[name] = value
        return columns, settings

    def create(self, caller: Caller, fields: dict[str, Any]) -> Row:
        environment = caller.environment
        now = clock.now()
        columns, settings = self._write_values(fields)
        org: Row = {
            "id": ids.new_id("organization", environment.kind),
            "environment_id": environment.id,
            "name": columns["name"],
            "slug": columns.get("slug") or slugify(columns["name"], "organization", "org"),
            "external_id": columns.get("external_id"),
            "trusted_metadata": columns.get("trusted_metadata") or {},
            "settings": settings,
            "custom_roles": [],
            "created_at": now,
            "updated_at": now,
        }
        self._check_roles(environment, org, fields)
        with self.store.transaction() as tx:
            if "slug" in columns:
                self.store.insert_organization(tx, org)  # a slug taken: Duplicate
            else:
                self._insert_with_free_slug(tx, environment, org)
            events.record(
                self.store,
                tx,
                environment.id,
                caller.actor,
                "organization.create",
                org["id"],
                fields,
                actor_role=caller.actor_role,
            )
        return org

    def _insert_with_free_slug(self, tx: Any, environment: Environment, org: Row) -> None:
        """Insert with the slug made from the name, or that slug with a random suffix when it
        is taken, by then or meanwhile (two organizations of one name created at once)."""
        for _ in range(_SLUG_ATTEMPTS):
            if self.store.find_organization(tx, environment.id, org["slug"]) is None:
                try:
                    self.store.insert_organization(tx, org)
                    return
                except Duplicate as taken:
                    if taken.field != "organization_slug":
                        raise
            org["slug"] = f"{org['slug'][:100]}-{secrets.token_hex(3)}"
        self.store.insert_organization(tx, org)

    def update(self, caller: Caller, ident: str, fields: dict[str, Any]) -> Row:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.find(tx, environment, ident)
            enforcement.require_organization(self.runtime, caller, org, fields)
            self._check_roles(environment, org, fields)
            # Gatehouse has no SSO connections yet, so any connection id named is unknown.
            connections = list(fields.get("sso_jit_provisioning_allowed_connections") or [])
            if fields.get("sso_default_connection_id"):
                connections.insert(0, fields["sso_default_connection_id"])
            if connections:
                raise NotFound(Kind.SSO_CONNECTION, connections[0])
            columns, settings = self._write_values(fields)
            values: Row = {**columns, "updated_at": clock.now()}
            if settings:
                values["settings"] = {**org["settings"], **settings}
            self.store.update_organization(tx, org["id"], values)  # a slug taken: Duplicate
            events.record(
                self.store,
                tx,
                environment.id,
                caller.actor,
                "organization.update",
                org["id"],
                fields,
                actor_role=caller.actor_role,
            )
            return {**org, **values}

    def delete(self, caller: Caller, ident: str) -> str:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.find(tx, environment, ident)
            enforcement.require_organization(self.runtime, caller, org, (), delete=True)
            self.store.delete_organization(tx, org["id"])
            events.record(
                self.store,
                tx,
                environment.id,
                caller.actor,
                "organization.delete",
                org["id"],
                actor_role=caller.actor_role,
            )
        return str(org["id"])

    def search(
        self, caller: Caller, query: dict[str, Any] | None, cursor: str | None, limit: int
    ) -> tuple[list[Row], int, str | None]:
        check_query(query, ORGANIZATION_FILTERS)
        check_cursor(cursor)
        with self.store.read() as tx:
            return self.store.search_organizations(tx, caller.environment.id, query, cursor, limit)


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


def check_query(query: dict[str, Any] | None, filters: dict[str, tuple[type, Any]]) -> None:
    """Every problem with a search query's filters, at once."""
    if not query:
        return
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
        kind = filters[name][0]
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
