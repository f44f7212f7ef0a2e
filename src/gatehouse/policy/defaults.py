"""The default resources and roles every policy holds, exactly as the seed lists them.

Default resources and their action lists are read-only. Default roles cannot be deleted and their
descriptions cannot change; their permissions can.
"""

from __future__ import annotations

from gatehouse.policy.model import WILDCARD, Permission, Policy, Resource, Role

RESERVED_PREFIX = "stytch"

ORGANIZATION = "stytch.organization"
MEMBER = "stytch.member"
SSO = "stytch.sso"
SELF = "stytch.self"

STYTCH_MEMBER = "stytch_member"
STYTCH_ADMIN = "stytch_admin"

DEFAULT_RESOURCES: tuple[Resource, ...] = (
    Resource(
        ORGANIZATION,
        "Access controls for the Organization.",
        (
            "update.info.name",
            "update.info.slug",
            "update.info.untrusted_metadata",
            "update.info.email_jit_provisioning",
            "update.info.logo_url",
            "update.info.email_invites",
            "update.info.allowed_domains",
            "update.info.default_sso_connection",
            "update.info.sso_jit_provisioning",
            "update.info.mfa_policy",
            "update.info.implicit_roles",
            "delete",
        ),
    ),
    Resource(
        MEMBER,
        "Access controls for all Members in the Organization.",
        (
            "create",
            "update.info.name",
            "update.info.untrusted_metadata",
            "update.info.mfa-phone",
            "update.info.delete.mfa-phone",
            "update.settings.is-breakglass",
            "update.settings.mfa_enrolled",
            "update.settings.roles",
            "search",
            "delete",
        ),
    ),
    Resource(SSO, "Access controls for SSO Connections.", ("create", "update", "delete")),
    Resource(
        SELF,
        "Access controls for the logged-in user's Member.",
        (
            "update.info.name",
            "update.info.untrusted_metadata",
            "update.info.mfa-phone",
            "update.info.delete.mfa-phone",
            "update.info.delete.password",
            "update.settings.mfa_enrolled",
            "delete",
        ),
    ),
)

DEFAULT_RESOURCE_IDS = frozenset(r.resource_id for r in DEFAULT_RESOURCES)

_SELF_ACTIONS = next(r for r in DEFAULT_RESOURCES if r.resource_id == SELF).actions

DEFAULT_ROLE_DESCRIPTIONS: dict[str, str] = {
    STYTCH_MEMBER: (
        "Granted to all Members upon creation; grants permissions already implicitly granted "
        "to logged in Members via the SDK. Cannot be deleted."
    ),
    STYTCH_ADMIN: (
        "Granted to Members who create an organization through the Stytch discovery flow. "
        "Admins will also have the stytch_member role. Cannot be deleted."
    ),
}

DEFAULT_ROLES: tuple[Role, ...] = (
    Role(
        STYTCH_MEMBER,
        DEFAULT_ROLE_DESCRIPTIONS[STYTCH_MEMBER],
        (
            Permission(
                SELF,
                tuple(
                    a for a in _SELF_ACTIONS if a not in ("delete", "update.info.delete.password")
                ),
            ),
        ),
    ),
    Role(
        STYTCH_ADMIN,
        DEFAULT_ROLE_DESCRIPTIONS[STYTCH_ADMIN],
        (
            Permission(ORGANIZATION, (WILDCARD,)),
            Permission(MEMBER, (WILDCARD,)),
            Permission(SSO, (WILDCARD,)),
        ),
    ),
)

DEFAULT_ROLE_IDS = frozenset(DEFAULT_ROLE_DESCRIPTIONS)


def default_policy() -> Policy:
    """The policy a new environment starts with."""
    return Policy(resources=DEFAULT_RESOURCES, roles=DEFAULT_ROLES, scopes=())


def is_reserved(identifier: str) -> bool:
    # Case-insensitive, so `Stytch.docs` cannot pass for a custom id that reads like a default.
    return identifier.lower().startswith(RESERVED_PREFIX)
