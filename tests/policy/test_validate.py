"""Validation rules from docs/spec/PRODUCT.md ("Policy semantics (exact)" and the org policy rules).

Each row is one rule: a policy that breaks it (exactly one problem, at an exact path, whose reason
names the offending input in backticks) and the nearest policy that does not (no problems).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gatehouse.policy import (
    DEFAULT_RESOURCES,
    DEFAULT_ROLES,
    WILDCARD,
    OrgPolicy,
    Permission,
    Policy,
    Resource,
    Role,
    Scope,
    validate_org_policy,
    validate_policy,
)

MEMBER_ROLE, ADMIN_ROLE = DEFAULT_ROLES
ORG_RES, MEMBER_RES, SSO_RES, SELF_RES = DEFAULT_RESOURCES
assert SSO_RES.resource_id == "stytch.sso"

DOCS = Resource("docs", "Documents", ("read", "write"))


def res(resource_id: str = "docs", *actions: str) -> Resource:
    return Resource(resource_id, "", actions or ("read", "write"))


def role(role_id: str, *permissions: Permission) -> Role:
    return Role(role_id, "", permissions)


def perm(resource_id: str, *actions: str) -> Permission:
    return Permission(resource_id, actions)


def policy(
    resources: tuple[Resource, ...] = (DOCS,),
    roles: tuple[Role, ...] = (),
    scopes: tuple[Scope, ...] = (),
) -> Policy:
    """The default policy plus custom resources (from index 4) and roles (from index 2)."""
    return Policy(DEFAULT_RESOURCES + resources, DEFAULT_ROLES + roles, scopes)


def with_default_resource(resource: Resource) -> Policy:
    resources = tuple(
        resource if r.resource_id == resource.resource_id else r for r in DEFAULT_RESOURCES
    )
    return Policy(resources + (DOCS,), DEFAULT_ROLES, ())


ADMIN_WITHOUT_SSO = Role(
    ADMIN_ROLE.role_id,
    ADMIN_ROLE.description,
    tuple(p for p in ADMIN_ROLE.permissions if p.resource_id != "stytch.sso"),
)


@dataclass(frozen=True)
class Rule:
    id: str
    denied: Policy | None  # None: the rule is a permission (only an allowed case)
    path: str
    mention: str  # what the reason must contain (the offending input, in backticks)
    allowed: Policy


RULES: list[Rule] = [
    Rule(
        "resource-id-charset",
        policy((res("docs/v1"),)),
        "resources[4].resource_id",
        "`docs/v1`",
        policy((res("Docs.v1:a_b-9"),)),
    ),
    Rule(
        "resource-id-too-long",
        policy((res("a" * 129),)),
        "resources[4].resource_id",
        f"`{'a' * 129}`",
        policy((res("a" * 128),)),
    ),
    Rule(
        "resource-id-empty",
        policy((res(""),)),
        "resources[4].resource_id",
        "``",
        policy((res("d"),)),
    ),
    Rule(
        "resource-id-duplicate",
        policy((res("docs"), res("docs"))),
        "resources[5].resource_id",
        "`docs`",
        policy((res("docs"), res("docs2"))),
    ),
    Rule(
        "default-resource-id-duplicate",
        policy((SSO_RES,)),
        "resources[4].resource_id",
        "`stytch.sso`",
        policy(()),
    ),
    Rule(
        "custom-resource-id-reserved-prefix",
        policy((res("stytch_docs"),)),
        "resources[4].resource_id",
        "`stytch_docs`",
        policy((res("app.stytch_docs"),)),
    ),
    Rule(
        "default-resource-actions-changed",
        with_default_resource(
            Resource("stytch.sso", SSO_RES.description, ("create", "update", "remove"))
        ),
        "resources[2].actions",
        "`stytch.sso`",
        with_default_resource(
            Resource("stytch.sso", SSO_RES.description, ("create", "update", "delete"))
        ),
    ),
    Rule(
        "default-resource-actions-missing",
        with_default_resource(Resource("stytch.sso", SSO_RES.description, ("create", "update"))),
        "resources[2].actions",
        "`stytch.sso`",
        with_default_resource(SSO_RES),
    ),
    Rule(
        "default-resource-actions-extra",
        with_default_resource(
            Resource(
                "stytch.self", SELF_RES.description, SELF_RES.actions + ("update.info.avatar",)
            )
        ),
        "resources[3].actions",
        "`stytch.self`",
        with_default_resource(SELF_RES),
    ),
    Rule(
        "default-resource-missing",
        Policy((ORG_RES, MEMBER_RES, SELF_RES, DOCS), (MEMBER_ROLE, ADMIN_WITHOUT_SSO), ()),
        "resources",
        "`stytch.sso`",
        Policy(
            (ORG_RES, MEMBER_RES, SSO_RES, SELF_RES, DOCS), (MEMBER_ROLE, ADMIN_WITHOUT_SSO), ()
        ),
    ),
    Rule(
        "action-duplicate",
        policy((res("docs", "read", "read"),)),
        "resources[4].actions[1]",
        "`read`",
        policy((res("docs", "read", "reads"),)),
    ),
    Rule(
        "action-empty",
        policy((res("docs", "read", ""),)),
        "resources[4].actions[1]",
        "empty",  # the offending input is the empty string; the reason says so
        policy((res("docs", "read", "r"),)),
    ),
    Rule(
        "action-wildcard-declared",
        policy((res("docs", "read", "*"),)),
        "resources[4].actions[1]",
        "`*`",
        policy((res("docs", "read", "all"),)),
    ),
    Rule(
        "role-id-duplicate",
        policy(roles=(role("editor"), role("editor"))),
        "roles[3].role_id",
        "`editor`",
        policy(roles=(role("editor"), role("editor2"))),
    ),
    Rule(
        "default-role-id-duplicate",
        policy(roles=(MEMBER_ROLE,)),
        "roles[2].role_id",
        "`stytch_member`",
        policy(roles=()),
    ),
    Rule(
        "custom-role-id-reserved-prefix",
        policy(roles=(role("stytch_editor"),)),
        "roles[2].role_id",
        "`stytch_editor`",
        policy(roles=(role("app_stytch_editor"),)),
    ),
    Rule(
        "default-role-missing",
        Policy(DEFAULT_RESOURCES, (MEMBER_ROLE,), ()),
        "roles",
        "`stytch_admin`",
        Policy(DEFAULT_RESOURCES, (MEMBER_ROLE, Role("stytch_admin", ADMIN_ROLE.description)), ()),
    ),
    Rule(
        "default-role-description-edited",
        Policy(
            DEFAULT_RESOURCES,
            (Role("stytch_member", "Everyone", MEMBER_ROLE.permissions), ADMIN_ROLE),
            (),
        ),
        "roles[0].description",
        "`stytch_member`",
        Policy(DEFAULT_RESOURCES, (MEMBER_ROLE, ADMIN_ROLE), ()),
    ),
    Rule(
        "default-role-permissions-editable",
        None,
        "",
        "",
        Policy(
            DEFAULT_RESOURCES + (DOCS,),
            (
                Role("stytch_member", MEMBER_ROLE.description, (perm("docs", "read"),)),
                ADMIN_WITHOUT_SSO,
            ),
            (),
        ),
    ),
    Rule(
        "permission-resource-missing",
        policy(roles=(role("editor", perm("doc", "read")),)),
        "roles[2].permissions[0].resource_id",
        "`doc`",
        policy(roles=(role("editor", perm("docs", "read")),)),
    ),
    Rule(
        "default-role-permission-resource-missing",
        Policy(
            DEFAULT_RESOURCES,
            (
                MEMBER_ROLE,
                Role(
                    "stytch_admin",
                    ADMIN_ROLE.description,
                    ADMIN_ROLE.permissions + (perm("stytch.scim", WILDCARD),),
                ),
            ),
            (),
        ),
        "roles[1].permissions[3].resource_id",
        "`stytch.scim`",
        Policy(DEFAULT_RESOURCES, (MEMBER_ROLE, ADMIN_ROLE), ()),
    ),
    Rule(
        "permission-action-undeclared",
        policy(roles=(role("editor", perm("docs", "read", "delete")),)),
        "roles[2].permissions[0].actions[1]",
        "`delete`",
        policy(roles=(role("editor", perm("docs", "read", "write")),)),
    ),
    Rule(
        "permission-wildcard-allowed",
        None,
        "",
        "",
        policy(
            roles=(
                role("editor", perm("docs", WILDCARD), perm("stytch.self", WILDCARD)),
                role("writer", perm("docs", "write", WILDCARD)),
            )
        ),
    ),
    Rule(
        "scope-duplicate",
        policy(scopes=(Scope("read:docs", ""), Scope("read:docs", ""))),
        "scopes[1].scope",
        "`read:docs`",
        policy(scopes=(Scope("read:docs", ""), Scope("write:docs", ""))),
    ),
    Rule(
        "scope-permission-resource-missing",
        policy(scopes=(Scope("read:docs", "", (perm("doc", "read"),)),)),
        "scopes[0].permissions[0].resource_id",
        "`doc`",
        policy(scopes=(Scope("read:docs", "", (perm("docs", "read"),)),)),
    ),
    Rule(
        "scope-permission-action-undeclared",
        policy(scopes=(Scope("read:docs", "", (perm("docs", "list"),)),)),
        "scopes[0].permissions[0].actions[0]",
        "`list`",
        policy(scopes=(Scope("read:docs", "", (perm("docs", "*"),)),)),
    ),
]


@pytest.mark.parametrize("rule", [r for r in RULES if r.denied is not None], ids=lambda r: r.id)
def test_rule_denied(rule: Rule) -> None:
    assert rule.denied is not None
    problems = validate_policy(rule.denied)
    assert [p.path for p in problems] == [rule.path], problems
    assert rule.mention in problems[0].reason, problems[0]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_allowed(rule: Rule) -> None:
    assert validate_policy(rule.allowed) == []


def test_every_problem_is_reported_at_once() -> None:
    bad = Policy(
        resources=(ORG_RES, MEMBER_RES, SELF_RES, res("stytch_docs"), res("docs", "read", "*")),
        roles=(
            Role("stytch_member", "edited", MEMBER_ROLE.permissions),
            role("editor", perm("docs", "delete"), perm("nowhere", "read")),
            role("editor"),
        ),
        scopes=(Scope("read:docs", ""), Scope("read:docs", "")),
    )
    problems = validate_policy(bad)
    assert sorted((p.path, p.reason) for p in problems) == sorted(
        [
            (
                "resources[3].resource_id",
                "custom resource id `stytch_docs` must not start with `stytch`; choose another id",
            ),
            ("resources[4].actions[1]", "`*` is reserved and cannot be declared as an action"),
            ("resources", "default resource `stytch.sso` is missing; it cannot be removed"),
            (
                "roles[0].description",
                "the description of default role `stytch_member` cannot be edited",
            ),
            (
                "roles[1].permissions[0].actions[0]",
                "action `delete` is not declared on resource `docs`",
            ),
            ("roles[1].permissions[1].resource_id", "resource `nowhere` does not exist"),
            ("roles[2].role_id", "role `editor` is declared twice"),
            ("roles", "default role `stytch_admin` is missing; it cannot be deleted"),
            ("scopes[1].scope", "scope `read:docs` is declared twice"),
        ]
    )


# --- Organization policies (custom roles layered on the project's resources) -------------------

PROJECT = policy(roles=(role("editor", perm("docs", "read", "write")),))


@dataclass(frozen=True)
class OrgRule:
    id: str
    denied: tuple[Role, ...]
    path: str
    mention: str
    allowed: tuple[Role, ...]


ORG_RULES: list[OrgRule] = [
    OrgRule(
        "role-id-duplicate",
        (role("auditor"), role("auditor")),
        "org_policy.roles[1].role_id",
        "`auditor`",
        (role("auditor"), role("reviewer")),
    ),
    OrgRule(
        "role-id-equals-project-role",
        (role("editor"),),
        "org_policy.roles[0].role_id",
        "`editor`",
        (role("org_editor"),),
    ),
    OrgRule(
        "role-id-equals-default-role",
        (role("stytch_admin"),),
        "org_policy.roles[0].role_id",
        "`stytch_admin`",
        (role("org_admin"),),
    ),
    OrgRule(
        "resource-missing",
        (role("auditor", perm("doc", "read")),),
        "org_policy.roles[0].permissions[0].resource_id",
        "`doc`",
        (role("auditor", perm("docs", "read")),),
    ),
    OrgRule(
        "actions-empty",
        (role("auditor", perm("docs")),),
        "org_policy.roles[0].permissions[0].actions",
        "at least one action",  # the offending input is an empty list; the reason says so
        (role("auditor", perm("docs", "read")),),
    ),
    OrgRule(
        "action-undeclared",
        (role("auditor", perm("docs", "delete")),),
        "org_policy.roles[0].permissions[0].actions[0]",
        "`delete`",
        (role("auditor", perm("docs", "write")),),
    ),
    OrgRule(
        "wildcard-not-sole-action",
        (role("auditor", perm("docs", "read", "*")),),
        "org_policy.roles[0].permissions[0].actions",
        "`*`",
        (role("auditor", perm("docs", "*")),),
    ),
]


@pytest.mark.parametrize("rule", ORG_RULES, ids=lambda r: r.id)
def test_org_rule_denied(rule: OrgRule) -> None:
    problems = validate_org_policy(PROJECT, OrgPolicy(rule.denied))
    assert [p.path for p in problems] == [rule.path], problems
    assert rule.mention in problems[0].reason, problems[0]


@pytest.mark.parametrize("rule", ORG_RULES, ids=lambda r: r.id)
def test_org_rule_allowed(rule: OrgRule) -> None:
    assert validate_policy(PROJECT) == []
    assert validate_org_policy(PROJECT, OrgPolicy(rule.allowed)) == []


def test_org_policy_reports_every_problem_at_once() -> None:
    org = OrgPolicy(
        (
            role("editor", perm("docs", "read", "*")),
            role("auditor", perm("nowhere", "read"), perm("docs")),
            role("auditor", perm("stytch.sso", "archive")),
        )
    )
    problems = validate_org_policy(PROJECT, org)
    assert sorted(p.path for p in problems) == sorted(
        [
            "org_policy.roles[0].role_id",
            "org_policy.roles[0].permissions[0].actions",
            "org_policy.roles[1].permissions[0].resource_id",
            "org_policy.roles[1].permissions[1].actions",
            "org_policy.roles[2].role_id",
            "org_policy.roles[2].permissions[0].actions[0]",
        ]
    )
