"""Differential tests: our compiled engine, a tiny reference evaluator and the official Stytch SDK's
local evaluator must give the same verdict for every check, so that a local (SDK) check and a
server check never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stytch.b2b.models.sessions import AuthorizationCheck
from stytch.shared import rbac_local

from gatehouse.policy import WILDCARD, CompiledPolicy, Permission, Policy, Resource, Role

RESOURCE_IDS = ["docs", "files", "stytch.sso"]
UNKNOWN_RESOURCES = ["ghost", "Docs", "docs "]  # not declared; near-misses must not match
ACTIONS = ["read", "write", "delete", "update.info.name"]
UNDECLARED_ACTIONS = ["publish", "READ", ""]
ROLE_IDS = ["viewer", "editor", "admin", "stytch_member", "r4"]
ORG_ROLE_IDS = ["auditor", "org_admin", "editor"]  # "editor" may collide with a project role
UNKNOWN_ROLES = ["ghost_role"]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def reference(roles: Sequence[Role], subject: Iterable[str], resource_id: str, action: str) -> bool:
    """Obviously correct: some held role has a permission on exactly this resource whose actions
    contain this action or `*`. Declared actions and declared resources play no part."""
    held = set(subject)
    for role in roles:
        if role.role_id not in held:
            continue
        for permission in role.permissions:
            if permission.resource_id != resource_id:
                continue
            if action in permission.actions or WILDCARD in permission.actions:
                return True
    return False


def stytch_policy(resources: Sequence[Resource], roles: Sequence[Role]) -> rbac_local.Policy:
    return rbac_local.Policy(
        resources=[
            rbac_local.PolicyResource(
                resource_id=r.resource_id, description=r.description, actions=list(r.actions)
            )
            for r in resources
        ],
        roles=[
            rbac_local.PolicyRole(
                role_id=role.role_id,
                description=role.description,
                permissions=[
                    rbac_local.PolicyRolePermission(
                        resource_id=p.resource_id, actions=list(p.actions)
                    )
                    for p in role.permissions
                ],
            )
            for role in roles
        ],
        scopes=[],
    )


def stytch_says(
    policy: rbac_local.Policy, subject: Sequence[str], resource_id: str, action: str
) -> bool:
    check = AuthorizationCheck(organization_id="org-1", resource_id=resource_id, action=action)
    return rbac_local.is_authorized(policy, list(subject), check)


resources_st = st.lists(
    st.tuples(
        st.sampled_from(RESOURCE_IDS),
        st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4, unique=True),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
).map(lambda items: tuple(Resource(rid, "", tuple(actions)) for rid, actions in items))

permission_st = st.builds(
    Permission,
    st.sampled_from(RESOURCE_IDS + UNKNOWN_RESOURCES[:1]),
    st.lists(st.sampled_from(ACTIONS + [WILDCARD]), max_size=3, unique=True).map(tuple),
)


def roles_st(ids: list[str]) -> st.SearchStrategy[tuple[Role, ...]]:
    return st.lists(
        st.builds(
            Role,
            st.sampled_from(ids),
            st.just(""),
            st.lists(permission_st, max_size=3).map(tuple),
        ),
        max_size=len(ids),
        unique_by=lambda r: r.role_id,
    ).map(tuple)


check_st = st.tuples(
    st.sampled_from(RESOURCE_IDS + UNKNOWN_RESOURCES),
    st.sampled_from(ACTIONS + UNDECLARED_ACTIONS + [WILDCARD]),
)

subject_st = st.lists(
    st.sampled_from(ROLE_IDS + ORG_ROLE_IDS + UNKNOWN_ROLES), max_size=4, unique=True
)


def assert_all_agree(
    compiled: CompiledPolicy,
    roles: Sequence[Role],
    resources: Sequence[Resource],
    subject: Sequence[str],
    checks: Sequence[tuple[str, str]],
) -> None:
    sdk_policy = stytch_policy(resources, roles)
    batch = compiled.checker(frozenset(subject))
    for resource_id, action in checks:
        expected = reference(roles, subject, resource_id, action)
        assert stytch_says(sdk_policy, subject, resource_id, action) == expected
        assert compiled.check(frozenset(subject), resource_id, action) == expected
        assert batch(resource_id, action) == expected
        decision = compiled.authorize(subject, resource_id, action)
        assert decision.allowed == expected
        assert bool(decision) == expected
        # The verdict names exactly the roles that would each allow it on their own.
        alone = sorted({r for r in subject if reference(roles, [r], resource_id, action)})
        assert list(decision.granting_roles) == alone


@SETTINGS
@given(
    resources=resources_st,
    roles=roles_st(ROLE_IDS),
    subject=subject_st,
    checks=st.lists(check_st, min_size=1, max_size=12),
)
def test_engine_reference_and_stytch_sdk_agree(
    resources: tuple[Resource, ...],
    roles: tuple[Role, ...],
    subject: list[str],
    checks: list[tuple[str, str]],
) -> None:
    compiled = CompiledPolicy(Policy(resources, roles, ()))
    assert_all_agree(compiled, roles, resources, subject, checks)


@SETTINGS
@given(
    resources=resources_st,
    roles=roles_st(ROLE_IDS),
    org_roles=roles_st(ORG_ROLE_IDS),
    subject=subject_st,
    checks=st.lists(check_st, min_size=1, max_size=12),
)
def test_org_roles_layer_like_extra_policy_roles(
    resources: tuple[Resource, ...],
    roles: tuple[Role, ...],
    org_roles: tuple[Role, ...],
    subject: list[str],
    checks: list[tuple[str, str]],
) -> None:
    base = CompiledPolicy(Policy(resources, roles, ()))
    layered = base.with_roles(org_roles)
    # The SDK's policy cache appends the org policy's roles to the project's roles.
    assert_all_agree(layered, roles + org_roles, resources, subject, checks)
    # Layering leaves the project's own compiled policy untouched.
    assert_all_agree(base, roles, resources, subject, checks)
    assert layered.role_ids() == {r.role_id for r in roles + org_roles}


def test_wildcard_matches_undeclared_actions_like_the_sdk() -> None:
    """The spec's named edge: `*` matches ANY action string, even one never declared."""
    resources = (Resource("docs", "", ("read",)),)
    roles = (Role("admin", "", (Permission("docs", (WILDCARD,)),)),)
    compiled = CompiledPolicy(Policy(resources, roles, ()))
    sdk = stytch_policy(resources, roles)
    for action in ("read", "publish", "", WILDCARD):
        assert compiled.check(frozenset({"admin"}), "docs", action)
        assert stytch_says(sdk, ["admin"], "docs", action)
    # Resource ids match exactly: no prefix, case or whitespace folding.
    for resource_id in ("Docs", "docs.sub", "doc", "docs "):
        assert not compiled.check(frozenset({"admin"}), resource_id, "read")
        assert not stytch_says(sdk, ["admin"], resource_id, "read")
