"""The defaults every policy starts with: exactly the seed's resources, actions and roles."""

from __future__ import annotations

from gatehouse.policy import (
    DEFAULT_RESOURCES,
    DEFAULT_ROLES,
    WILDCARD,
    Permission,
    compile_policy,
    default_policy,
    validate_policy,
)

# Copied by hand from docs/spec/seeds/rbac-resources-and-roles.txt, in the seed's order.
SEED_ACTIONS: dict[str, list[str]] = {
    "stytch.organization": [
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
    ],
    "stytch.member": [
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
    ],
    "stytch.sso": [
        "create",
        "update",
        "delete",
    ],
    "stytch.self": [
        "update.info.name",
        "update.info.untrusted_metadata",
        "update.info.mfa-phone",
        "update.info.delete.mfa-phone",
        "update.info.delete.password",
        "update.settings.mfa_enrolled",
        "delete",
    ],
}


def test_default_resources_are_exactly_the_seeds_four_with_the_seeds_action_lists() -> None:
    got = {r.resource_id: list(r.actions) for r in DEFAULT_RESOURCES}
    assert got == SEED_ACTIONS
    # Same order as the seed too (dict equality ignores key order; lists do not).
    for resource in DEFAULT_RESOURCES:
        assert list(resource.actions) == SEED_ACTIONS[resource.resource_id]
    assert len(DEFAULT_RESOURCES) == 4


def test_default_policy_holds_the_default_resources_and_roles() -> None:
    policy = default_policy()
    assert policy.resources == DEFAULT_RESOURCES
    assert policy.roles == DEFAULT_ROLES
    assert policy.scopes == ()
    assert [r.role_id for r in policy.roles] == ["stytch_member", "stytch_admin"]


def test_stytch_member_holds_every_self_action_except_delete_and_delete_password() -> None:
    role = default_policy().role("stytch_member")
    assert role is not None
    expected = [
        "update.info.name",
        "update.info.untrusted_metadata",
        "update.info.mfa-phone",
        "update.info.delete.mfa-phone",
        "update.settings.mfa_enrolled",
    ]
    assert role.permissions == (Permission("stytch.self", tuple(expected)),)

    compiled = compile_policy(default_policy())
    member = frozenset({"stytch_member"})
    for action in SEED_ACTIONS["stytch.self"]:
        allowed = action not in ("delete", "update.info.delete.password")
        assert compiled.check(member, "stytch.self", action) is allowed, action
    for rid in ("stytch.organization", "stytch.member", "stytch.sso"):
        for action in SEED_ACTIONS[rid]:
            assert not compiled.check(member, rid, action), (rid, action)


def test_stytch_admin_holds_wildcard_on_organization_member_sso_and_nothing_else() -> None:
    role = default_policy().role("stytch_admin")
    assert role is not None
    assert {p.resource_id: p.actions for p in role.permissions} == {
        "stytch.organization": (WILDCARD,),
        "stytch.member": (WILDCARD,),
        "stytch.sso": (WILDCARD,),
    }
    assert len(role.permissions) == 3

    compiled = compile_policy(default_policy())
    admin = frozenset({"stytch_admin"})
    for rid in ("stytch.organization", "stytch.member", "stytch.sso"):
        for action in SEED_ACTIONS[rid]:
            assert compiled.check(admin, rid, action), (rid, action)
    # Nothing on stytch.self: admins get self actions only through stytch_member.
    for action in SEED_ACTIONS["stytch.self"]:
        assert not compiled.check(admin, "stytch.self", action), action


def test_default_policy_validates_with_no_problems() -> None:
    assert validate_policy(default_policy()) == []
