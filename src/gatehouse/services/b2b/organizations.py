"""Organizations: create, read, update, delete, search; the wire Organization object."""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from gatehouse.errors import Code, Duplicate, InvalidInput, Kind, NotFound
from gatehouse.policy import Problem
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement, org_rules
from gatehouse.services.b2b.queries import check_cursor, check_query
from gatehouse.services.b2b.roles import role_exists
from gatehouse.services.context import Caller, Environment, OrganizationPage
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.slugs import slugify
from gatehouse.storage.interface import (
    EventStore,
    OrganizationStore,
    ReadTx,
    SsoStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import OrganizationRow, OrganizationValues
from gatehouse.storage.search import ORGANIZATION_FILTERS


class _Store(Transactions, OrganizationStore, EventStore, SsoStore, Protocol):
    """The storage this service uses."""


_SLUG_ATTEMPTS = 5

_COLUMNS = {
    "organization_name": "name",
    "organization_slug": "slug",
    "organization_external_id": "external_id",
    "trusted_metadata": "trusted_metadata",
}


class Organizations:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store

    def find(self, tx: ReadTx, environment: Environment, ident: str) -> OrganizationRow:
        org = self.store.find_organization(tx, environment.id, ident)
        if org is None:
            raise NotFound(Kind.ORGANIZATION, ident)
        return org

    def get(self, caller: Caller, ident: str) -> OrganizationRow:
        """The organization; a member session header must belong to it (the tenancy error)."""
        with self.store.read() as tx:
            org = self.find(tx, caller.environment, ident)
        enforcement.require_tenancy(caller, org)
        return org

    def _check_roles(
        self, environment: Environment, org: OrganizationRow, fields: dict[str, Any]
    ) -> None:
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

    @staticmethod
    def _write_values(fields: dict[str, Any]) -> tuple[OrganizationValues, dict[str, Any]]:
        """The columns and the settings (every other wire field) that `fields` set."""
        columns: OrganizationValues = {}
        if "organization_name" in fields:
            columns["name"] = fields["organization_name"]
        if "organization_slug" in fields:
            columns["slug"] = fields["organization_slug"]
        if "organization_external_id" in fields:
            columns["external_id"] = fields["organization_external_id"]
        if "trusted_metadata" in fields:
            columns["trusted_metadata"] = fields["trusted_metadata"]
        settings = {k: v for k, v in fields.items() if k not in _COLUMNS}
        return columns, settings

    def create(self, caller: Caller, fields: dict[str, Any]) -> OrganizationRow:
        org = self.new_row(caller.environment, fields)
        with self.store.transaction() as tx:
            self.insert(tx, caller, org, fields)
        return org

    def new_row(self, environment: Environment, fields: dict[str, Any]) -> OrganizationRow:
        """A new organization's row from create fields, checked (not yet written)."""
        org_rules.check_allowed_domains(fields.get("email_allowed_domains"))
        now = clock.now()
        columns, settings = self._write_values(fields)
        name = fields["organization_name"]
        org: OrganizationRow = {
            "id": ids.new_id("organization", environment.kind),
            "environment_id": environment.id,
            "name": name,
            "slug": columns.get("slug") or slugify(name, "organization", "org"),
            "external_id": columns.get("external_id"),
            "trusted_metadata": columns.get("trusted_metadata") or {},
            "settings": settings,
            "custom_roles": [],
            "created_at": now,
            "updated_at": now,
        }
        self._check_roles(environment, org, fields)
        return org

    def insert(
        self, tx: WriteTx, caller: Caller, org: OrganizationRow, fields: dict[str, Any]
    ) -> None:
        """Write a row from `new_row` (a slug given and taken: Duplicate) and its event."""
        if fields.get("organization_slug"):
            self.store.insert_organization(tx, org)
        else:
            self._insert_with_free_slug(tx, caller.environment, org)
        events.record_call(self.store, tx, caller, "organization.create", org["id"], fields)

    def _insert_with_free_slug(
        self, tx: WriteTx, environment: Environment, org: OrganizationRow
    ) -> None:
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

    def update(self, caller: Caller, ident: str, fields: dict[str, Any]) -> OrganizationRow:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.find(tx, environment, ident)
            enforcement.require_organization(self.runtime, caller, org, fields)
            org_rules.check_allowed_domains(fields.get("email_allowed_domains"))
            self._check_roles(environment, org, fields)
            # Every connection id named must be one of this organization's SSO connections.
            connections = list(fields.get("sso_jit_provisioning_allowed_connections") or [])
            if fields.get("sso_default_connection_id"):
                connections.insert(0, fields["sso_default_connection_id"])
            for connection_id in connections:
                found = self.store.get_saml_connection(
                    tx, environment.id, connection_id
                ) or self.store.get_oidc_connection(tx, environment.id, connection_id)
                if found is None or found["organization_id"] != org["id"]:
                    raise NotFound(Kind.SSO_CONNECTION, connection_id)
            columns, settings = self._write_values(fields)
            values: OrganizationValues = {**columns, "updated_at": clock.now()}
            if settings:
                values["settings"] = {**org["settings"], **settings}
            self.store.update_organization(tx, org["id"], values)  # a slug taken: Duplicate
            events.record_call(self.store, tx, caller, "organization.update", org["id"], fields)
            return {**org, **values}

    def delete(self, caller: Caller, ident: str) -> str:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.find(tx, environment, ident)
            enforcement.require_organization(self.runtime, caller, org, (), delete=True)
            self.store.delete_organization(tx, org["id"])
            events.record_call(self.store, tx, caller, "organization.delete", org["id"])
        return str(org["id"])

    def search(
        self,
        caller: Caller,
        query: dict[str, Any] | None,
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> OrganizationPage:
        checked = check_query(query, ORGANIZATION_FILTERS)
        check_cursor(cursor)
        with self.store.read() as tx:
            rows, total, next_cursor = self.store.search_organizations(
                tx, caller.environment.id, checked, cursor, limit, count
            )
        return OrganizationPage(rows, total, next_cursor)
