"""Policy documents: the B2B wire shape and the policy-file shape, both ways, and shape errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gatehouse.policy import (
    DEFAULT_RESOURCES,
    DEFAULT_ROLES,
    WILDCARD,
    OrgPolicy,
    Permission,
    Policy,
    PolicyProblems,
    Problem,
    Resource,
    Role,
    Scope,
    default_policy,
    org_policy_from_wire,
    org_policy_to_wire,
    policy_from_file,
    policy_from_wire,
    policy_to_file,
    policy_to_wire,
    validate_policy,
)

MEMBER_ROLE, ADMIN_ROLE = DEFAULT_ROLES

CUSTOM = Policy(
    resources=DEFAULT_RESOURCES
    + (
        Resource("docs", "Documents", ("read", "write", "share")),
        Resource("billing:invoices", "", ("view",)),
    ),
    roles=(
        Role(
            "stytch_member",
            MEMBER_ROLE.description,
            (Permission("stytch.self", ("update.info.name",)), Permission("docs", ("read",))),
        ),
        ADMIN_ROLE,
        Role("editor", "Edits documents", (Permission("docs", ("read", "write")),)),
        Role("billing_admin", "", (Permission("billing:invoices", (WILDCARD,)),)),
        Role("nobody", "Holds nothing"),
    ),
    scopes=(
        Scope("read:docs", "Read documents", (Permission("docs", ("read",)),)),
        Scope(
            "admin", "", (Permission("docs", (WILDCARD,)), Permission("stytch.sso", ("create",)))
        ),
    ),
)


def test_custom_policy_is_valid() -> None:
    # The round trips below are about a policy a user could really hold.
    assert validate_policy(CUSTOM) == []


@pytest.mark.parametrize("policy", [default_policy(), CUSTOM], ids=["default", "custom"])
def test_wire_round_trip(policy: Policy) -> None:
    wire = policy_to_wire(policy)
    # Survives real JSON, not just Python dicts.
    assert policy_from_wire(json.loads(json.dumps(wire))) == policy


def test_wire_shape_lists_every_default_and_custom_entry() -> None:
    wire = policy_to_wire(CUSTOM)
    assert set(wire) == {"resources", "roles", "scopes"}
    assert [r["resource_id"] for r in wire["resources"]] == [
        "stytch.organization",
        "stytch.member",
        "stytch.sso",
        "stytch.self",
        "docs",
        "billing:invoices",
    ]
    assert wire["roles"][3] == {
        "role_id": "billing_admin",
        "description": "",
        "permissions": [{"resource_id": "billing:invoices", "actions": ["*"]}],
    }
    assert wire["scopes"][0] == {
        "scope": "read:docs",
        "description": "Read documents",
        "permissions": [{"resource_id": "docs", "actions": ["read"]}],
    }


@pytest.mark.parametrize("policy", [default_policy(), CUSTOM], ids=["default", "custom"])
def test_file_round_trip(policy: Policy) -> None:
    data = policy_to_file(policy)
    assert policy_from_file(json.loads(json.dumps(data))) == policy


def test_file_shape_implies_defaults() -> None:
    data = policy_to_file(CUSTOM)
    assert [r["resource_id"] for r in data["custom_resources"]] == ["docs", "billing:invoices"]
    assert data["custom_resources"][0]["available_actions"] == ["read", "write", "share"]
    assert [r["role_id"] for r in data["custom_roles"]] == ["editor", "billing_admin", "nobody"]
    assert data["stytch_member"] == {
        "permissions": [
            {"resource_id": "stytch.self", "actions": ["update.info.name"]},
            {"resource_id": "docs", "actions": ["read"]},
        ]
    }
    # A file that leaves the default roles out keeps their seed permissions.
    minimal = {"custom_resources": [{"resource_id": "docs", "available_actions": ["read"]}]}
    parsed = policy_from_file(minimal)
    assert parsed.roles == DEFAULT_ROLES
    assert parsed.resources == DEFAULT_RESOURCES + (Resource("docs", "", ("read",)),)


def test_file_ignores_edits_to_the_read_only_default_resources() -> None:
    data = policy_to_file(CUSTOM)
    data["stytch_resources"][2]["available_actions"] = ["create"]
    assert policy_from_file(data) == CUSTOM


def test_org_policy_round_trip() -> None:
    org = OrgPolicy(
        (
            Role("auditor", "Reads everything", (Permission("docs", ("read",)),)),
            Role("org_admin", "", (Permission("docs", (WILDCARD,)),)),
        )
    )
    assert org_policy_from_wire(json.loads(json.dumps(org_policy_to_wire(org)))) == org
    assert org_policy_to_wire(OrgPolicy()) == {"roles": []}


def _problems(parse: Any, data: Any) -> set[Problem]:
    with pytest.raises(PolicyProblems) as caught:
        parse(data)
    return set(caught.value.problems)


def test_wire_shape_errors_are_all_reported_with_paths() -> None:
    data = copy.deepcopy(policy_to_wire(CUSTOM))
    data["roles"][2]["permissions"].append({"resource_id": "docs", "actions": "read"})  # wrong type
    data["roles"][2]["colour"] = "blue"  # unknown field
    del data["resources"][4]["actions"]  # missing field
    data["scopes"][1]["permissions"][0]["actions"][0] = 7  # wrong type inside a list
    data["extra"] = True  # unknown top-level field
    assert _problems(policy_from_wire, data) == {
        Problem("roles[2].permissions[1].actions", "must be a list"),
        Problem("roles[2].colour", "is not a known field"),
        Problem("resources[4].actions", "is required"),
        Problem("scopes[1].permissions[0].actions[0]", "must be a string"),
        Problem("extra", "is not a known field"),
    }


def test_wire_document_that_is_not_an_object() -> None:
    assert _problems(policy_from_wire, ["resources"]) == {Problem("", "must be an object")}


def test_file_shape_errors_are_all_reported_with_paths() -> None:
    data = copy.deepcopy(policy_to_file(CUSTOM))
    data["custom_resources"][0]["actions"] = data["custom_resources"][0].pop("available_actions")
    data["custom_roles"][0]["role_id"] = 42
    data["stytch_admin"] = {"permissions": {"resource_id": "docs"}}
    assert _problems(policy_from_file, data) == {
        Problem("custom_resources[0].available_actions", "is required"),
        Problem(
            "custom_resources[0].actions",
            "is not a known field; did you mean `available_actions`?",
        ),
        Problem("custom_roles[0].role_id", "must be a string"),
        Problem("stytch_admin.permissions", "must be a list"),
    }


def test_file_problems_of_shape_and_meaning_come_together() -> None:
    """A misspelt key is named (with a hint); the meaning of every well-shaped part is judged in
    the same run, at its place in the file; uses of a misshapen entry are not judged."""
    data = {
        "stytch_member": {"permisions": [{"resource_id": "stytch.self", "actions": ["*"]}]},
        "custom_resources": [
            {"resource_id": "docs", "actions": ["read"]},  # misshapen: its uses are not judged
            {"resource_id": "stytch.files", "available_actions": ["read", "*"]},
        ],
        "custom_roles": [
            {"role_id": 3},
            {"role_id": "ed", "permissions": [{"resource_id": "docs", "actions": ["read"]}]},
            {"role_id": "viewer", "permissions": [{"resource_id": "nope", "actions": ["x"]}]},
        ],
        "custom_scope": [],
    }
    assert _problems(policy_from_file, data) == {
        Problem("stytch_member.permissions", "is required"),
        Problem("stytch_member.permisions", "is not a known field; did you mean `permissions`?"),
        Problem("custom_resources[0].available_actions", "is required"),
        Problem(
            "custom_resources[0].actions",
            "is not a known field; did you mean `available_actions`?",
        ),
        Problem("custom_roles[0].role_id", "must be a string"),
        Problem("custom_scope", "is not a known field; did you mean `custom_scopes`?"),
        Problem(
            "custom_resources[1].resource_id",
            "custom resource id `stytch.files` must not start with `stytch`; choose another id",
        ),
        Problem(
            "custom_resources[1].available_actions[1]",
            "`*` is reserved and cannot be declared as an action",
        ),
        Problem("custom_roles[2].permissions[0].resource_id", "resource `nope` does not exist"),
    }


def test_org_policy_shape_errors_carry_the_prefix() -> None:
    data = {"roles": [{"role_id": "auditor", "permissions": [{"resource_id": "docs"}]}, "x"]}
    assert _problems(org_policy_from_wire, data) == {
        Problem("org_policy.roles[0].permissions[0].actions", "is required"),
        Problem("org_policy.roles[1]", "must be an object"),
    }


def test_problems_render_as_path_and_reason() -> None:
    error = PolicyProblems(
        (Problem("roles[0].permissions[1].actions", "must be a list"), Problem("", "bad"))
    )
    assert str(error) == "roles[0].permissions[1].actions: must be a list; bad"
