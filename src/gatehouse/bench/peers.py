"""The engine benchmark's peers: one generated policy translated into each engine's own terms.

Every translation keeps Gatehouse's (and the Stytch SDK's) semantics, so decisions can be compared
one for one: a role grants an action on a resource if it lists that action or `*` on that
resource; `*` also grants actions the resource does not declare; unknown resources are denied.
Engines that know users rather than role sets get one synthetic subject per distinct role set,
assigned exactly those roles.

Each `prepare_*` function does its setup (translation, parsing, loading) outside the measured
time and returns a `Decide`, which answers a stream of checks in order. A peer's package is
imported inside its function, so a missing one raises ModuleNotFoundError for that peer alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gatehouse.policy import WILDCARD, Policy, policy_to_wire

Check = tuple[frozenset[str], str, str]  # (the subject's roles, resource_id, action)
Decide = Callable[[Sequence[Check]], list[bool]]
# role set -> the synthetic subject holding exactly those roles
Subjects = dict[frozenset[str], str]

ORG = "organization-bench"


def subjects_of(requests: Sequence[Check]) -> Subjects:
    """One subject id per distinct role set, in order of first appearance."""
    subjects: Subjects = {}
    for roles, _, _ in requests:
        if roles not in subjects:
            subjects[roles] = f"subject{len(subjects)}"
    return subjects


def grants(policy: Policy) -> Iterator[tuple[str, str, str]]:
    """Every (role_id, resource_id, action) a policy lists, `*` included as written."""
    for role in policy.roles:
        for permission in role.permissions:
            for action in permission.actions:
                yield role.role_id, permission.resource_id, action


def per_call(fn: Callable[[frozenset[str], str, str], object]) -> Decide:
    """A stream decider for an engine answering one check per call (the common case)."""

    def decide(stream: Sequence[Check]) -> list[bool]:
        return [bool(fn(roles, resource, action)) for roles, resource, action in stream]

    return decide


# --- the official Stytch SDK's local evaluator -----------------------------------------------


def prepare_stytch_converted(policy: Policy, subjects: Subjects) -> Decide:
    """`is_authorized` on a policy converted once, as a caller caching the conversion would."""
    from stytch.b2b.models.rbac import Policy as B2BPolicy
    from stytch.b2b.models.sessions import AuthorizationCheck
    from stytch.shared import rbac_local

    converted = rbac_local.policy_from_b2b_policy(B2BPolicy(**policy_to_wire(policy)))
    role_lists = {roles: sorted(roles) for roles in subjects}

    def check(roles: frozenset[str], resource: str, action: str) -> bool:
        request = AuthorizationCheck(organization_id=ORG, resource_id=resource, action=action)
        return rbac_local.is_authorized(converted, role_lists[roles], request)

    return per_call(check)


def prepare_stytch_per_call(policy: Policy, subjects: Subjects) -> Decide:
    """`perform_authorization_check`, the SDK's own entry point: it converts the policy per call."""
    from stytch.b2b.models.rbac import Policy as B2BPolicy
    from stytch.b2b.models.sessions import AuthorizationCheck
    from stytch.shared import rbac_local

    sdk_policy = B2BPolicy(**policy_to_wire(policy))
    role_lists = {roles: sorted(roles) for roles in subjects}

    def check(roles: frozenset[str], resource: str, action: str) -> bool:
        request = AuthorizationCheck(organization_id=ORG, resource_id=resource, action=action)
        try:
            rbac_local.perform_authorization_check(sdk_policy, role_lists[roles], ORG, request)
        except rbac_local.RBACPermissionError:
            return False
        return True

    return per_call(check)


# --- pycasbin ----------------------------------------------------------------------------------

# RBAC with domains: the domain is the organization; `*` in a policy line grants any action.
CASBIN_MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.obj == p.obj && (r.act == p.act || p.act == "*")
"""

# FastEnforcer narrows the policy lines to those matching the request's (obj, dom) before matching.
CASBIN_CACHE_KEY_ORDER = (2, 1)


def _casbin_load(enforcer: Any, policy: Policy, subjects: Subjects) -> None:
    enforcer.add_policies(
        [[role, ORG, resource, action] for role, resource, action in grants(policy)]
    )
    enforcer.add_named_grouping_policies(
        "g", [[subject, role, ORG] for roles, subject in subjects.items() for role in sorted(roles)]
    )


def _casbin_decide(enforcer: Any, subjects: Subjects) -> Decide:
    enforce = enforcer.enforce

    def check(roles: frozenset[str], resource: str, action: str) -> bool:
        return bool(enforce(subjects[roles], ORG, resource, action))

    return per_call(check)


def prepare_casbin(policy: Policy, subjects: Subjects) -> Decide:
    import casbin  # type: ignore[import-untyped,import-not-found,unused-ignore]

    enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=CASBIN_MODEL))
    _casbin_load(enforcer, policy, subjects)
    return _casbin_decide(enforcer, subjects)


def prepare_casbin_fast(policy: Policy, subjects: Subjects) -> Decide:
    import casbin  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from casbin.model import FastModel  # type: ignore[import-untyped,import-not-found,unused-ignore]

    model = FastModel(list(CASBIN_CACHE_KEY_ORDER))
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.FastEnforcer(model, cache_key_order=list(CASBIN_CACHE_KEY_ORDER))
    _casbin_load(enforcer, policy, subjects)
    return _casbin_decide(enforcer, subjects)


# --- cedarpy -----------------------------------------------------------------------------------


def cedar_policies(policy: Policy) -> str:
    """One permit per role, resource and action; `*` permits any action on that resource."""
    lines = []
    for role, resource, action in grants(policy):
        action_scope = "action" if action == WILDCARD else f"action == Action::{json.dumps(action)}"
        lines.append(
            f"permit(principal in Role::{json.dumps(role)}, {action_scope}, "
            f"resource == Resource::{json.dumps(resource)});"
        )
    return "\n".join(lines)


def cedar_entities(policy: Policy, subjects: Subjects) -> str:
    """The roles, and one subject per role set whose parents are its roles."""
    role_ids = sorted({role.role_id for role in policy.roles} | {r for rs in subjects for r in rs})
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Role", "id": role_id}, "attrs": {}, "parents": []} for role_id in role_ids
    ]
    entities.extend(
        {
            "uid": {"type": "Subject", "id": subject},
            "attrs": {},
            "parents": [{"type": "Role", "id": role_id} for role_id in sorted(roles)],
        }
        for roles, subject in subjects.items()
    )
    return json.dumps(entities)


def _cedar_setup(
    policy: Policy, subjects: Subjects
) -> tuple[Any, Any, Callable[[Check], dict[str, Any]]]:
    import cedarpy

    policies = cedarpy.PolicySet.from_str(cedar_policies(policy))
    entities = cedarpy.Entities.from_json_str(cedar_entities(policy, subjects))

    def request(check: Check) -> dict[str, Any]:
        roles, resource, action = check
        return {
            "principal": {"type": "Subject", "id": subjects[roles]},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Resource", "id": resource},
            "context": {},
        }

    return policies, entities, request


def prepare_cedar(policy: Policy, subjects: Subjects) -> Decide:
    """`is_authorized` one check at a time, on a pre-parsed PolicySet and Entities handle."""
    import cedarpy

    policies, entities, request = _cedar_setup(policy, subjects)

    def decide(stream: Sequence[Check]) -> list[bool]:
        return [cedarpy.is_authorized(request(c), policies, entities).allowed for c in stream]

    return decide


def prepare_cedar_batch(policy: Policy, subjects: Subjects) -> Decide:
    """`is_authorized_batch` over the whole stream at once (one crossing into Rust)."""
    import cedarpy

    policies, entities, request = _cedar_setup(policy, subjects)

    def decide(stream: Sequence[Check]) -> list[bool]:
        results = cedarpy.is_authorized_batch([request(c) for c in stream], policies, entities)
        return [result.allowed for result in results]

    return decide


# --- oso (Polar) -------------------------------------------------------------------------------


def polar_policy(policy: Policy) -> str:
    """A `grants` fact per role, resource and action (an unbound action for `*`)."""
    lines = ["allow(roles, action, resource) if role in roles and grants(role, resource, action);"]
    for role, resource, action in grants(policy):
        action_term = "_action" if action == WILDCARD else json.dumps(action)
        lines.append(f"grants({json.dumps(role)}, {json.dumps(resource)}, {action_term});")
    return "\n".join(lines)


def prepare_oso(policy: Policy, subjects: Subjects) -> Decide:
    from oso import Oso  # type: ignore[import-untyped,import-not-found,unused-ignore]

    oso = Oso()
    oso.load_str(polar_policy(policy))
    role_lists = {roles: sorted(roles) for roles in subjects}
    is_allowed = oso.is_allowed

    def check(roles: frozenset[str], resource: str, action: str) -> bool:
        return bool(is_allowed(role_lists[roles], action, resource))

    return per_call(check)
