"""Whole-policy validation: every problem at once, each with its path and reason.

Messages follow one style: lowercase, the user's input in backticks, what to do next where useful.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gatehouse.policy import defaults
from gatehouse.policy.model import WILDCARD, OrgPolicy, Permission, Policy, Problem

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_DESCRIPTION = 1024
MAX_ACTION = 128


def _check_id(kind: str, value: str, path: str) -> list[Problem]:
    if not ID_PATTERN.fullmatch(value):
        return [
            Problem(
                path,
                f"{kind} `{value}` must be 1-128 characters of letters, digits, `.`, `_`, `:` or `-`",
            )
        ]
    return []


def _check_description(value: str, path: str) -> list[Problem]:
    if len(value) > MAX_DESCRIPTION:
        return [Problem(path, f"must be at most {MAX_DESCRIPTION} characters")]
    return []


def _check_permissions(
    permissions: Iterable[Permission],
    resources: dict[str, frozenset[str]],
    path: str,
    *,
    wildcard_alone: bool,
) -> list[Problem]:
    problems: list[Problem] = []
    for i, perm in enumerate(permissions):
        ppath = f"{path}[{i}]"
        declared = resources.get(perm.resource_id)
        if declared is None:
            problems.append(
                Problem(f"{ppath}.resource_id", f"resource `{perm.resource_id}` does not exist")
            )
        if not perm.actions:
            problems.append(Problem(f"{ppath}.actions", "must list at least one action"))
        if wildcard_alone and WILDCARD in perm.actions and len(perm.actions) > 1:
            problems.append(
                Problem(f"{ppath}.actions", "`*` must be the only action when it is used")
            )
        for j, action in enumerate(perm.actions):
            if action == WILDCARD:
                continue
            if not action:
                problems.append(Problem(f"{ppath}.actions[{j}]", "must not be empty"))
            elif declared is not None and action not in declared:
                problems.append(
                    Problem(
                        f"{ppath}.actions[{j}]",
                        f"action `{action}` is not declared on resource `{perm.resource_id}`",
                    )
                )
    return problems


def validate_policy(policy: Policy) -> list[Problem]:
    """Every reason `policy` cannot be accepted as a project policy; empty when it is valid."""
    problems: list[Problem] = []
    resources: dict[str, frozenset[str]] = {}
    default_resources = {r.resource_id: r for r in defaults.DEFAULT_RESOURCES}

    for i, resource in enumerate(policy.resources):
        path = f"resources[{i}]"
        rid = resource.resource_id
        problems += _check_id("resource id", rid, f"{path}.resource_id")
        problems += _check_description(resource.description, f"{path}.description")
        if rid in resources:
            problems.append(Problem(f"{path}.resource_id", f"resource `{rid}` is declared twice"))
            continue
        if rid in default_resources:
            expected = default_resources[rid].actions
            if resource.description != default_resources[rid].description:
                problems.append(
                    Problem(
                        f"{path}.description",
                        f"default resource `{rid}` is read-only; its description cannot be edited",
                    )
                )
            if sorted(resource.actions) != sorted(expected):
                problems.append(
                    Problem(
                        f"{path}.actions",
                        f"default resource `{rid}` is read-only; its actions must be exactly "
                        + ", ".join(f"`{a}`" for a in expected),
                    )
                )
        elif defaults.is_reserved(rid):
            problems.append(
                Problem(
                    f"{path}.resource_id",
                    f"custom resource id `{rid}` must not start with `stytch`; choose another id",
                )
            )
        seen: set[str] = set()
        for j, action in enumerate(resource.actions):
            apath = f"{path}.actions[{j}]"
            if action == WILDCARD:
                problems.append(
                    Problem(apath, "`*` is reserved and cannot be declared as an action")
                )
            elif not action:
                problems.append(Problem(apath, "must not be empty"))
            elif len(action) > MAX_ACTION:
                problems.append(Problem(apath, f"must be at most {MAX_ACTION} characters"))
            elif action in seen:
                problems.append(Problem(apath, f"action `{action}` is declared twice"))
            seen.add(action)
        resources[rid] = frozenset(resource.actions)

    for rid in default_resources:
        if rid not in resources:
            problems.append(
                Problem("resources", f"default resource `{rid}` is missing; it cannot be removed")
            )

    role_ids: set[str] = set()
    for i, role in enumerate(policy.roles):
        path = f"roles[{i}]"
        problems += _check_id("role id", role.role_id, f"{path}.role_id")
        problems += _check_description(role.description, f"{path}.description")
        if role.role_id in role_ids:
            problems.append(Problem(f"{path}.role_id", f"role `{role.role_id}` is declared twice"))
        role_ids.add(role.role_id)
        if role.role_id in defaults.DEFAULT_ROLE_IDS:
            if role.description != defaults.DEFAULT_ROLE_DESCRIPTIONS[role.role_id]:
                problems.append(
                    Problem(
                        f"{path}.description",
                        f"the description of default role `{role.role_id}` cannot be edited",
                    )
                )
        elif defaults.is_reserved(role.role_id):
            problems.append(
                Problem(
                    f"{path}.role_id",
                    f"custom role id `{role.role_id}` must not start with `stytch`; choose another id",
                )
            )
        problems += _check_permissions(
            role.permissions, resources, f"{path}.permissions", wildcard_alone=False
        )
    for role_id in sorted(defaults.DEFAULT_ROLE_IDS - role_ids):
        problems.append(
            Problem("roles", f"default role `{role_id}` is missing; it cannot be deleted")
        )

    scope_names: set[str] = set()
    for i, scope in enumerate(policy.scopes):
        path = f"scopes[{i}]"
        if not scope.scope or len(scope.scope) > 128 or any(c.isspace() for c in scope.scope):
            problems.append(
                Problem(
                    f"{path}.scope", f"scope `{scope.scope}` must be 1-128 characters, no spaces"
                )
            )
        problems += _check_description(scope.description, f"{path}.description")
        if scope.scope in scope_names:
            problems.append(Problem(f"{path}.scope", f"scope `{scope.scope}` is declared twice"))
        scope_names.add(scope.scope)
        problems += _check_permissions(
            scope.permissions, resources, f"{path}.permissions", wildcard_alone=False
        )
    return problems


def validate_org_policy(
    policy: Policy, org_policy: OrgPolicy, prefix: str = "org_policy"
) -> list[Problem]:
    """Every reason `org_policy` cannot be layered on the project `policy`."""
    problems: list[Problem] = []
    resources = {r.resource_id: frozenset(r.actions) for r in policy.resources}
    project_roles = policy.role_ids()
    seen: set[str] = set()
    for i, role in enumerate(org_policy.roles):
        path = f"{prefix}.roles[{i}]"
        problems += _check_id("role id", role.role_id, f"{path}.role_id")
        problems += _check_description(role.description, f"{path}.description")
        if role.role_id in seen:
            problems.append(Problem(f"{path}.role_id", f"role `{role.role_id}` is declared twice"))
        seen.add(role.role_id)
        if role.role_id in project_roles:
            problems.append(
                Problem(
                    f"{path}.role_id",
                    f"role `{role.role_id}` already exists in the project policy; choose another id",
                )
            )
        elif defaults.is_reserved(role.role_id):
            problems.append(
                Problem(f"{path}.role_id", f"role id `{role.role_id}` must not start with `stytch`")
            )
        problems += _check_permissions(
            role.permissions, resources, f"{path}.permissions", wildcard_alone=True
        )
    return problems
