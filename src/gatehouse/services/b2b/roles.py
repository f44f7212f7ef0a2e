"""Which roles a member holds, and why (their `sources`), exactly as docs/spec/PRODUCT.md's role assignment.

A member's roles are the union of `stytch_member` (always), direct assignments, the
organization's email-domain implicit roles, the SCIM group roles of the organization's SCIM
connection for the groups the member is in (`members.scim`; the connection's rules are kept in the
organization's settings under `SCIM_SETTING`, so both come with the rows a session already reads),
and the implicit roles of the SAML connections the member has a registration with
(`saml_connection_implicit_role_assignments`, and `saml_group_implicit_role_assignments` for the
groups the IdP last sent for them). SSO connection roles are listed on the member, but a check
grants them only when the session holds a factor from that connection (`effective_role_ids` with
the session's `factors`); SCIM group roles need no session factor: PRODUCT.md asks that only of SSO
connection roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gatehouse.policy.defaults import STYTCH_MEMBER
from gatehouse.services.addresses import domain_of
from gatehouse.services.context import Environment
from gatehouse.storage.rows import (
    MemberRow,
    OrganizationRow,
    SamlConnectionRow,
    SsoRegistrationRow,
)


@dataclass(frozen=True, slots=True)
class SsoGrant:
    """What one SAML connection the member is registered with grants them."""

    connection_id: str
    connection_roles: tuple[str, ...]
    group_roles: tuple[tuple[str, str], ...]  # (group, role_id), for the member's groups


def sso_grants(
    connections: Iterable[SamlConnectionRow], registrations: Iterable[SsoRegistrationRow]
) -> tuple[SsoGrant, ...]:
    """The grants of the connections among `connections` that a registration links to."""
    by_id = {c["id"]: c for c in connections}
    grants = []
    for registration in registrations:
        connection = by_id.get(registration["connection_id"])
        if connection is None:
            continue
        config = connection["config"]
        groups = set(registration["sso_attributes"].get("groups") or [])
        grants.append(
            SsoGrant(
                connection["id"],
                tuple(
                    r["role_id"]
                    for r in config.get("saml_connection_implicit_role_assignments", [])
                ),
                tuple(
                    (r["group"], r["role_id"])
                    for r in config.get("saml_group_implicit_role_assignments", [])
                    if r["group"] in groups
                ),
            )
        )
    return tuple(grants)


def factor_connections(factors: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The SSO connections a session's authentication factors come from."""
    found = set()
    for factor in factors:
        sso = factor.get("saml_sso_factor")
        if isinstance(sso, dict) and sso.get("provider_id"):
            found.add(str(sso["provider_id"]))
    return frozenset(found)


# The organization setting holding its SCIM connection's summary and group role rules; it is not
# an Organization wire field (`api/wire.py` turns it into `scim_active_connection`).
SCIM_SETTING = "_scim_connection"


def scim_group_roles(member: MemberRow, org: OrganizationRow) -> list[tuple[str, str, str]]:
    """(role_id, connection_id, group_id) for each SCIM group rule the member's groups meet."""
    registration = member.get("scim")
    connection = org["settings"].get(SCIM_SETTING)
    if not registration or not connection:
        return []
    if registration.get("connection_id") != connection["connection_id"]:
        return []
    groups = set(registration.get("group_ids") or [])
    return [
        (rule["role_id"], connection["connection_id"], rule["group_id"])
        for rule in connection.get("group_roles") or []
        if rule["group_id"] in groups
    ]


def member_roles(
    member: MemberRow,
    direct: list[str],
    org: OrganizationRow,
    sso: Sequence[SsoGrant] = (),
) -> list[dict[str, Any]]:
    """The wire `roles` list: each role once, with every source that grants it."""
    sources: dict[str, list[dict[str, Any]]] = {STYTCH_MEMBER: []}
    for role_id in direct:
        sources.setdefault(role_id, []).append({"type": "direct_assignment", "details": {}})
    if not sources[STYTCH_MEMBER]:
        # Every member holds stytch_member; Stytch reports it as a direct assignment.
        sources[STYTCH_MEMBER].append({"type": "direct_assignment", "details": {}})
    domain = domain_of(member["email"])
    for rule in org["settings"].get("rbac_email_implicit_role_assignments", []):
        if rule["domain"].lower() == domain:
            sources.setdefault(rule["role_id"], []).append(
                {"type": "email_assignment", "details": {"email_domain": rule["domain"]}}
            )
    for role_id, connection_id, group_id in scim_group_roles(member, org):
        sources.setdefault(role_id, []).append(
            {
                "type": "scim_connection_group",
                "details": {"connection_id": connection_id, "group_id": group_id},
            }
        )
    for grant in sso:
        for role_id in grant.connection_roles:
            sources.setdefault(role_id, []).append(
                {"type": "sso_connection", "details": {"connection_id": grant.connection_id}}
            )
        for group, role_id in grant.group_roles:
            sources.setdefault(role_id, []).append(
                {
                    "type": "sso_connection_group",
                    "details": {"connection_id": grant.connection_id, "group": group},
                }
            )
    ordered = [STYTCH_MEMBER] + sorted(r for r in sources if r != STYTCH_MEMBER)
    return [{"role_id": role_id, "sources": sources[role_id]} for role_id in ordered]


def effective_role_ids(
    member: MemberRow,
    direct: list[str],
    org: OrganizationRow,
    sso: Sequence[SsoGrant] = (),
    factors: Iterable[dict[str, Any]] = (),
) -> frozenset[str]:
    """The role ids a check grants from: every source above, but a connection's roles only
    when one of the session's `factors` comes from that connection."""
    roles = {STYTCH_MEMBER, *direct}
    present = factor_connections(factors)
    for grant in sso:
        if grant.connection_id in present:
            roles.update(grant.connection_roles)
            roles.update(role_id for _, role_id in grant.group_roles)
    domain = domain_of(member["email"])
    for rule in org["settings"].get("rbac_email_implicit_role_assignments", []):
        if rule["domain"].lower() == domain:
            roles.add(rule["role_id"])
    roles.update(role_id for role_id, _, _ in scim_group_roles(member, org))
    return frozenset(roles)


def role_exists(environment: Environment, org: OrganizationRow, role_id: str) -> bool:
    """Whether `role_id` names a role of the project policy or of the organization's own."""
    if environment.compiled.has_role(role_id):
        return True
    return any(r["role_id"] == role_id for r in org["custom_roles"])
