"""Enforcing the default resources on built-in endpoints called with a member session header.

Each field an update sets needs its action; member operations need the `stytch.member` action, or
the same `stytch.self` action when the session's member is the target (some actions have no self
form). All required actions are checked before anything is written, and a denial names every
missing one. Calls made with the project secret alone are trusted and skip this.
"""

from __future__ import annotations

from collections.abc import Iterable

from gatehouse.errors import Denied, GatehouseError, tenancy_error
from gatehouse.policy.defaults import MEMBER, ORGANIZATION, SELF
from gatehouse.services.context import ActiveSession, Caller
from gatehouse.services.node.runtime import Runtime
from gatehouse.storage.rows import OrganizationRow

# Organization update fields -> stytch.organization action. The first block is docs/spec/PRODUCT.md's table;
# the rest are fields the seed has no action for: named in the same style, they are undeclared, so
# only a `*` permission on stytch.organization grants them (docs/DECISIONS.md).
ORGANIZATION_FIELD_ACTIONS: dict[str, str] = {
    "organization_name": "update.info.name",
    "organization_slug": "update.info.slug",
    "untrusted_metadata": "update.info.untrusted_metadata",
    "email_jit_provisioning": "update.info.email_jit_provisioning",
    "organization_logo_url": "update.info.logo_url",
    "email_invites": "update.info.email_invites",
    "email_allowed_domains": "update.info.allowed_domains",
    "sso_default_connection_id": "update.info.default_sso_connection",
    "sso_jit_provisioning": "update.info.sso_jit_provisioning",
    "mfa_policy": "update.info.mfa_policy",
    "rbac_email_implicit_role_assignments": "update.info.implicit_roles",
    # Not in the seed:
    "organization_external_id": "update.info.external_id",
    "sso_jit_provisioning_allowed_connections": "update.info.sso_jit_provisioning",
    "auth_methods": "update.info.auth_methods",
    "allowed_auth_methods": "update.info.auth_methods",
    "mfa_methods": "update.info.mfa_methods",
    "allowed_mfa_methods": "update.info.mfa_methods",
    "oauth_tenant_jit_provisioning": "update.info.oauth_tenant_jit_provisioning",
    "allowed_oauth_tenants": "update.info.oauth_tenant_jit_provisioning",
    "claimed_email_domains": "update.info.claimed_email_domains",
    "first_party_connected_apps_allowed_type": "update.info.connected_apps",
    "allowed_first_party_connected_apps": "update.info.connected_apps",
    "third_party_connected_apps_allowed_type": "update.info.connected_apps",
    "allowed_third_party_connected_apps": "update.info.connected_apps",
}

# Member update fields -> (stytch.member action, stytch.self action or None when there is none).
MEMBER_FIELD_ACTIONS: dict[str, tuple[str, str | None]] = {
    "name": ("update.info.name", "update.info.name"),
    "untrusted_metadata": ("update.info.untrusted_metadata", "update.info.untrusted_metadata"),
    "mfa_phone_number": ("update.info.mfa-phone", "update.info.mfa-phone"),
    "mfa_enrolled": ("update.settings.mfa_enrolled", "update.settings.mfa_enrolled"),
    "is_breakglass": ("update.settings.is-breakglass", None),
    "roles": ("update.settings.roles", None),
    # Not in the seed (undeclared: only `*` grants them):
    "email_address": ("update.info.email", "update.info.email"),
    "unlink_email": ("update.info.email", "update.info.email"),
    "external_id": ("update.info.external_id", None),
    "default_mfa_method": (
        "update.settings.default_mfa_method",
        "update.settings.default_mfa_method",
    ),
}

MEMBER_CREATE = ("create", None)
MEMBER_DELETE = ("delete", "delete")
MEMBER_SEARCH = ("search", None)
MEMBER_REACTIVATE = ("create", None)
MEMBER_DELETE_MFA_PHONE = ("update.info.delete.mfa-phone", "update.info.delete.mfa-phone")
MEMBER_DELETE_PASSWORD = ("update.info.delete.password", "update.info.delete.password")
# Not in the seed (undeclared: only `*` grants it), named as Stytch's own default policy does.
MEMBER_DELETE_TOTP = ("update.info.delete.mfa-totp", "update.info.delete.mfa-totp")

# Never settable with a session header, whatever the policy says.
SESSION_FORBIDDEN_FIELDS = frozenset({"trusted_metadata"})


def _tenancy(session: ActiveSession, organization_id: str) -> None:
    if session.organization_id != organization_id:
        raise tenancy_error(session.organization_id, organization_id)


def require_tenancy(caller: Caller, org: OrganizationRow) -> None:
    if caller.session is not None:
        _tenancy(caller.session, org["id"])


def _forbidden_fields(fields: Iterable[str]) -> None:
    bad = sorted(SESSION_FORBIDDEN_FIELDS.intersection(fields))
    if bad:
        raise Denied(
            f"`{bad[0]}` cannot be set by a call made with a member session; "
            "set it from your backend with the project secret"
        )


def _deny(missing: list[tuple[str, str]]) -> GatehouseError:
    listed = ", ".join(f"`{action}` on `{resource}`" for resource, action in missing)
    return Denied(f"the session's member is not permitted: missing {listed}")


def require_organization(
    runtime: Runtime,
    caller: Caller,
    org: OrganizationRow,
    fields: Iterable[str],
    *,
    delete: bool = False,
) -> None:
    session = caller.session
    if session is None:
        return
    fields = list(fields)
    _tenancy(session, org["id"])
    _forbidden_fields(fields)
    actions = sorted(
        {ORGANIZATION_FIELD_ACTIONS[f] for f in fields if f in ORGANIZATION_FIELD_ACTIONS}
    )
    if delete:
        actions.append("delete")
    compiled = runtime.compiled_for_org(caller.environment, org)
    roles = session.roles
    missing = [(ORGANIZATION, a) for a in actions if not compiled.check(roles, ORGANIZATION, a)]
    if missing:
        raise _deny(missing)


def require_member(
    runtime: Runtime,
    caller: Caller,
    org: OrganizationRow,
    target_member_id: str | None,
    needs: Iterable[tuple[str, str | None]],
    fields: Iterable[str] = (),
) -> None:
    """`needs` are (stytch.member action, stytch.self action or None) pairs."""
    session = caller.session
    if session is None:
        return
    _tenancy(session, org["id"])
    _forbidden_fields(fields)
    compiled = runtime.compiled_for_org(caller.environment, org)
    roles = session.roles
    is_self = target_member_id is not None and target_member_id == session.member_id
    missing: list[tuple[str, str]] = []
    for member_action, self_action in dict.fromkeys(needs):
        if compiled.check(roles, MEMBER, member_action):
            continue
        if is_self and self_action is not None and compiled.check(roles, SELF, self_action):
            continue
        if is_self and self_action is not None:
            missing.append((SELF, self_action))
        else:
            missing.append((MEMBER, member_action))
    if missing:
        raise _deny(missing)


def member_update_needs(fields: Iterable[str]) -> list[tuple[str, str | None]]:
    return [MEMBER_FIELD_ACTIONS[f] for f in fields if f in MEMBER_FIELD_ACTIONS]


SSO = "stytch.sso"


def require_sso(runtime: Runtime, caller: Caller, org: OrganizationRow, action: str) -> None:
    """SSO and SCIM connection management (`create`, `update`, `delete`) with a member session
    header needs that action on `stytch.sso` (the seed has no SCIM resource: docs/DECISIONS.md)."""
    session = caller.session
    if session is None:
        return
    _tenancy(session, org["id"])
    compiled = runtime.compiled_for_org(caller.environment, org)
    if not compiled.check(session.roles, SSO, action):
        raise _deny([(SSO, action)])
