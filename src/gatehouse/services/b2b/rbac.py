"""The project RBAC policy and organization policies: read, validate, apply atomically.

A change is validated whole; a change that removes a role or resource still in use (direct
assignments, email implicit rules, organization roles) is refused with every use listed, unless the
caller asks to cascade, in which case the uses are removed in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gatehouse.errors import Code, GatehouseError, InvalidInput
from gatehouse.policy import (
    OrgPolicy,
    Policy,
    PolicyProblems,
    Problem,
    org_policy_from_wire,
    org_policy_to_wire,
    policy_to_wire,
    validate_org_policy,
    validate_policy,
)
from gatehouse.policy.diff import describe_changes
from gatehouse.policy.model import WILDCARD
from gatehouse.services import clock, events
from gatehouse.services.b2b import enforcement
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.b2b.roles import SCIM_SETTING
from gatehouse.services.context import Caller, Environment
from gatehouse.services.node.runtime import Runtime
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    ProjectStore,
    ReadTx,
    ScimStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import OrganizationRow


class _Store(
    Transactions, OrganizationStore, MemberStore, ProjectStore, EventStore, ScimStore, Protocol
):
    """The storage this service uses."""


@dataclass
class Uses:
    """Where removed roles, resources or actions are still referenced."""

    assignments: dict[str, list[str]] = field(default_factory=dict)  # role_id -> member ids
    implicit_rules: list[tuple[str, str, str]] = field(default_factory=list)  # org, domain, role
    org_roles: list[tuple[str, str, str]] = field(default_factory=list)  # org, role, resource
    org_role_ids: list[tuple[str, str]] = field(default_factory=list)  # org, role id taken
    scim_rules: list[tuple[str, str, str]] = field(default_factory=list)  # org, scim group, role

    def problems(self) -> list[Problem]:
        out = [
            Problem(
                "roles",
                f"role `{role_id}` is still assigned directly to {len(members)} member(s): "
                + ", ".join(f"`{m}`" for m in members[:10])
                + (" ..." if len(members) > 10 else ""),
            )
            for role_id, members in sorted(self.assignments.items())
        ]
        out += [
            Problem(
                "roles",
                f"role `{role}` is still granted by organization `{org}` to email domain `{domain}`",
            )
            for org, domain, role in self.implicit_rules
        ]
        out += [
            Problem(
                "resources",
                f"organization `{org}` role `{role}` still uses `{what}`",
            )
            for org, role, what in self.org_roles
        ]
        out += [
            Problem(
                "roles",
                f"role `{role}` is still granted by organization `{org}`'s SCIM group `{group}`",
            )
            for org, group, role in self.scim_rules
        ]
        out += [
            Problem("roles", f"role id `{role}` is already a custom role of organization `{org}`")
            for org, role in self.org_role_ids
        ]
        return out

    def __bool__(self) -> bool:
        return bool(self.assignments or self.implicit_rules or self.org_roles or self.scim_rules)

    @property
    def blocking(self) -> bool:
        """Uses that cascading cannot resolve (a new project role id taken by an org role)."""
        return bool(self.org_role_ids)


def _strip_org_role(
    role: dict[str, Any], declared: dict[str, frozenset[str]]
) -> tuple[dict[str, Any], list[str]]:
    """An org role with permissions on removed resources/actions dropped, and what was dropped."""
    kept, dropped = [], []
    for perm in role["permissions"]:
        actions = declared.get(perm["resource_id"])
        if actions is None:
            dropped.append(perm["resource_id"])
            continue
        good = [a for a in perm["actions"] if a == WILDCARD or a in actions]
        dropped += [f"{perm['resource_id']}:{a}" for a in perm["actions"] if a not in good]
        if good:
            kept.append({"resource_id": perm["resource_id"], "actions": good})
    return {**role, "permissions": kept}, dropped


class Rbac:
    def __init__(self, runtime: Runtime, organizations: Organizations) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.organizations = organizations

    def policy_version(self, environment_id: str) -> int:
        """The environment's policy version as committed now (0 once it is deleted)."""
        with self.store.read() as tx:
            head = self.store.environment_head(tx, environment_id)
        return head["policy_version"] if head is not None else 0

    def policy_wire(self, environment: Environment) -> dict[str, Any]:
        return policy_to_wire(environment.policy)

    def _uses(
        self, tx: ReadTx, environment: Environment, new: Policy
    ) -> tuple[Uses, list[OrganizationRow]]:
        uses = Uses()
        removed_roles = environment.policy.role_ids() - new.role_ids()
        for role_id in sorted(removed_roles):
            members = self.store.members_with_direct_role(tx, environment.id, role_id)
            if members:
                uses.assignments[role_id] = members
        declared = {r.resource_id: frozenset(r.actions) for r in new.resources}
        orgs = self.store.organizations_in(tx, environment.id)
        added_roles = new.role_ids() - environment.policy.role_ids()
        for org in orgs:
            for role in org["custom_roles"]:
                if role["role_id"] in added_roles:
                    uses.org_role_ids.append((org["id"], role["role_id"]))
            for rule in org["settings"].get("rbac_email_implicit_role_assignments", []):
                if rule["role_id"] in removed_roles:
                    uses.implicit_rules.append((org["id"], rule["domain"], rule["role_id"]))
            scim = org["settings"].get(SCIM_SETTING) or {}
            for rule in scim.get("group_roles") or []:
                if rule["role_id"] in removed_roles:
                    uses.scim_rules.append((org["id"], rule["group_id"], rule["role_id"]))
            for role in org["custom_roles"]:
                for what in _strip_org_role(role, declared)[1]:
                    uses.org_roles.append((org["id"], role["role_id"], what))
        return uses, orgs

    def set_policy(
        self,
        caller: Caller,
        new: Policy,
        *,
        cascade: bool = False,
        dry_run: bool = False,
        actor_role: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[Policy, int]:
        """Validate and apply `new` as the environment's policy; returns it with its version.
        With `expected_version` (the version a person reviewed the change against), a policy that
        has moved on since is refused (`policy_conflict`), changing nothing."""
        problems = validate_policy(new)
        if problems:
            raise InvalidInput("the policy is invalid", problems, code=Code.INVALID_POLICY)
        environment = caller.environment
        with self.store.transaction() as tx:
            current = self.runtime.load_environment(tx, environment.id)
            assert current is not None
            if expected_version is not None and expected_version != current.policy_version:
                raise GatehouseError(
                    Code.POLICY_CONFLICT,
                    f"the policy changed since version {expected_version} (it is now version "
                    f"{current.policy_version}); review the change against the current policy",
                )
            if new == current.policy:
                return current.policy, current.policy_version
            uses, orgs = self._uses(tx, current, new)
            if uses.blocking:
                raise GatehouseError(
                    Code.POLICY_IN_USE,
                    "the change adds role ids that organizations already use: "
                    + "; ".join(
                        str(p) for p in uses.problems() if "already a custom role" in p.reason
                    )
                    + "; choose other role ids",
                )
            if uses and not cascade:
                raise GatehouseError(
                    Code.POLICY_IN_USE,
                    "the change removes roles or resources that are still in use: "
                    + "; ".join(str(p) for p in uses.problems())
                    + "; remove those uses first, or apply with cascade",
                )
            if dry_run:
                return new, current.policy_version
            if uses:
                self._cascade(tx, current, new, uses, orgs)
            if not self.store.set_policy(
                tx, current.id, current.policy_version, policy_to_wire(new)
            ):
                raise GatehouseError(
                    Code.POLICY_CONFLICT, "the policy changed while this change was applied; retry"
                )
            events.record(
                self.store,
                tx,
                current.id,
                caller.actor,
                "rbac_policy.update",
                current.id,
                {
                    "version": current.policy_version + 1,
                    "cascade": bool(uses),
                    "changes": _logged_changes(current.policy, new),
                },
                actor_role=actor_role or caller.actor_role,
            )
            return new, current.policy_version + 1

    def _cascade(
        self,
        tx: WriteTx,
        environment: Environment,
        new: Policy,
        uses: Uses,
        orgs: list[OrganizationRow],
    ) -> None:
        for role_id in uses.assignments:
            self.store.remove_direct_role(tx, environment.id, role_id)
        removed_roles = environment.policy.role_ids() - new.role_ids()
        declared = {r.resource_id: frozenset(r.actions) for r in new.resources}
        now = clock.now()
        for org in orgs:
            rules = org["settings"].get("rbac_email_implicit_role_assignments", [])
            kept_rules = [r for r in rules if r["role_id"] not in removed_roles]
            roles = [_strip_org_role(r, declared)[0] for r in org["custom_roles"]]
            scim = org["settings"].get(SCIM_SETTING)
            scim_rules = (scim or {}).get("group_roles") or []
            kept_scim = [r for r in scim_rules if r["role_id"] not in removed_roles]
            if scim and kept_scim != scim_rules:
                # The connection's rules and their copy in the settings (services/b2b/scim.py).
                self.store.update_scim_connection(
                    tx, scim["connection_id"], {"group_roles": kept_scim, "updated_at": now}
                )
            if kept_rules != rules or roles != org["custom_roles"] or kept_scim != scim_rules:
                settings = {**org["settings"], "rbac_email_implicit_role_assignments": kept_rules}
                if scim:
                    settings[SCIM_SETTING] = {**scim, "group_roles": kept_scim}
                self.store.update_organization(
                    tx, org["id"], {"settings": settings, "custom_roles": roles, "updated_at": now}
                )

    # -- organization policies -------------------------------------------------------------

    def org_policy_wire(self, org: OrganizationRow) -> dict[str, Any]:
        return {"roles": org["custom_roles"]}

    def parse_org_policy(self, environment: Environment, data: Any) -> OrgPolicy:
        try:
            org_policy = org_policy_from_wire(data)
        except PolicyProblems as error:
            raise InvalidInput(
                "the org policy is invalid", error.problems, code=Code.INVALID_POLICY
            ) from None
        problems = validate_org_policy(environment.policy, org_policy)
        if problems:
            raise InvalidInput("the org policy is invalid", problems, code=Code.INVALID_POLICY)
        return org_policy

    def set_org_policy(self, caller: Caller, ident: str, data: Any) -> OrganizationRow:
        """Validate `data` as the organization's policy and apply it, in one transaction with
        reading the organization (so the check of what it removes sees what is replaced)."""
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, ident)
            enforcement.require_tenancy(caller, org)
            org_policy = self.parse_org_policy(environment, data)
            new_ids = {r.role_id for r in org_policy.roles}
            removed = {r["role_id"] for r in org["custom_roles"]} - new_ids
            uses: list[str] = []
            for role_id in sorted(removed):
                members = self.store.members_with_direct_role(tx, environment.id, role_id)
                org_members = [
                    m for m in members if (self.store.get_member(tx, org["id"], m) is not None)
                ]
                if org_members:
                    uses.append(
                        f"role `{role_id}` is still assigned to {len(org_members)} member(s)"
                    )
            for rule in org["settings"].get("rbac_email_implicit_role_assignments", []):
                if rule["role_id"] in removed:
                    uses.append(
                        f"role `{rule['role_id']}` is still granted to email domain `{rule['domain']}`"
                    )
            for rule in (org["settings"].get(SCIM_SETTING) or {}).get("group_roles") or []:
                if rule["role_id"] in removed:
                    uses.append(
                        f"role `{rule['role_id']}` is still granted to SCIM group `{rule['group_id']}`"
                    )
            if uses:
                raise GatehouseError(
                    Code.POLICY_IN_USE,
                    "the org policy removes roles that are still in use: " + "; ".join(uses),
                )
            wire = org_policy_to_wire(org_policy)["roles"]
            now = clock.now()
            self.store.update_organization(tx, org["id"], {"custom_roles": wire, "updated_at": now})
            events.record_call(
                self.store,
                tx,
                caller,
                "org_policy.update",
                org["id"],
                {"roles": [r.role_id for r in org_policy.roles]},
            )
        return {**org, "custom_roles": wire, "updated_at": now}


LOGGED_CHANGES = 200  # lines of a policy change kept in its event


def _logged_changes(old: Policy, new: Policy) -> list[str]:
    """What a policy change did, as `gatehouse policy apply --dry-run` prints it (capped)."""
    lines = describe_changes(old, new)
    if len(lines) > LOGGED_CHANGES:
        more = len(lines) - LOGGED_CHANGES
        lines = [*lines[:LOGGED_CHANGES], f"... and {more} more"]
    return lines
