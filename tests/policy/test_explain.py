"""Decisions explain themselves: who granted it, or why nobody did."""

from __future__ import annotations

from gatehouse.policy import (
    DEFAULT_RESOURCES,
    DEFAULT_ROLES,
    WILDCARD,
    Permission,
    Policy,
    Resource,
    Role,
    compile_policy,
    validate_policy,
)

DOCS = Resource("docs", "Documents", ("read", "write", "share"))
POLICY = Policy(
    DEFAULT_RESOURCES + (DOCS,),
    DEFAULT_ROLES
    + (
        Role("viewer", "", (Permission("docs", ("read",)),)),
        Role("editor", "", (Permission("docs", ("read", "write")),)),
        Role("docs_admin", "", (Permission("docs", (WILDCARD,)),)),
    ),
    (),
)
COMPILED = compile_policy(POLICY)


def test_example_policy_is_valid() -> None:
    assert validate_policy(POLICY) == []


def test_granted_decision_names_every_granting_role_and_only_those() -> None:
    decision = COMPILED.authorize(["viewer", "editor", "stytch_member"], "docs", "read")
    assert decision.allowed and decision
    assert decision.granting_roles == ("editor", "viewer")
    assert decision.reason == "granted `read` on `docs` by `editor`, `viewer`"
    assert not decision.undeclared_action
    assert (decision.resource_id, decision.action) == ("docs", "read")


def test_granted_by_wildcard_says_so() -> None:
    decision = COMPILED.authorize(["docs_admin", "viewer"], "docs", "share")
    assert decision.granting_roles == ("docs_admin",)
    assert decision.reason == "granted `*` on `docs` by `docs_admin`"
    assert not decision.undeclared_action


def test_undeclared_action_granted_by_wildcard_is_flagged_as_a_likely_typo() -> None:
    decision = COMPILED.authorize(["docs_admin"], "docs", "raed")
    assert decision.allowed  # as the SDK's local evaluator would allow it
    assert decision.undeclared_action
    assert decision.granting_roles == ("docs_admin",)
    assert "`raed` is not declared on `docs`" in decision.reason
    assert "typo" in decision.reason


def test_undeclared_action_denied_also_flagged() -> None:
    decision = COMPILED.authorize(["editor"], "docs", "raed")
    assert not decision.allowed
    assert decision.undeclared_action
    assert "`raed` is not declared on `docs`" in decision.reason


def test_unknown_resource_reason_says_it_is_not_in_the_policy() -> None:
    decision = COMPILED.authorize(["docs_admin", "stytch_admin"], "doc", "read")
    assert not decision.allowed
    assert decision.granting_roles == ()
    assert decision.reason == "resource `doc` is not in the policy"
    assert not decision.undeclared_action


def test_denied_reason_names_the_roles_held() -> None:
    decision = COMPILED.authorize(["viewer", "stytch_member"], "docs", "write")
    assert not decision.allowed and not decision
    assert decision.granting_roles == ()
    assert decision.reason == "none of the roles `stytch_member`, `viewer` grants `write` on `docs`"


def test_denied_reason_with_no_roles_and_unknown_roles() -> None:
    none = COMPILED.authorize([], "docs", "read")
    assert not none.allowed
    assert "(none)" in none.reason

    unknown = COMPILED.authorize(["viewr"], "docs", "write")
    assert not unknown.allowed
    assert "`viewr`" in unknown.reason
    assert "unknown roles ignored: `viewr`" in unknown.reason


def test_permissions_expand_wildcard_to_declared_actions() -> None:
    assert COMPILED.permissions(frozenset({"docs_admin"})) == {
        "docs": frozenset({"read", "write", "share"})
    }
    assert COMPILED.permissions(frozenset({"viewer", "editor"})) == {
        "docs": frozenset({"read", "write"})
    }
    admin = COMPILED.permissions(frozenset({"stytch_admin"}))
    assert set(admin) == {"stytch.organization", "stytch.member", "stytch.sso"}
    assert admin["stytch.sso"] == frozenset({"create", "update", "delete"})
    assert WILDCARD not in admin["stytch.member"]
    assert len(admin["stytch.member"]) == 10
    assert COMPILED.permissions(frozenset({"nobody"})) == {}
