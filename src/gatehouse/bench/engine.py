"""Engine benchmark: Gatehouse's compiled check against the official Stytch SDK's local evaluator,
side by side on one generated policy and one request stream, with every decision compared.

Figures are reported as ratios against a baseline measured in the same run (machines here are
noisy): the baseline is a bare function doing one dict get and one frozenset membership.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gatehouse.policy import compile_policy
from gatehouse.policy.defaults import DEFAULT_RESOURCES, DEFAULT_ROLES
from gatehouse.policy.model import WILDCARD, Permission, Policy, Resource, Role


@dataclass(frozen=True)
class Workload:
    policy: Policy
    requests: list[tuple[frozenset[str], str, str]]


def generate(resources: int, roles: int, checks: int, seed: int = 7) -> Workload:
    rng = random.Random(seed)
    custom = tuple(
        Resource(f"res{i}", "", tuple(f"act{j}" for j in range(rng.randint(2, 8))))
        for i in range(resources)
    )
    all_resources = DEFAULT_RESOURCES + custom
    custom_roles = []
    for i in range(roles):
        perms = []
        for resource in rng.sample(custom, k=min(len(custom), rng.randint(5, 30))):
            actions = (
                (WILDCARD,)
                if rng.random() < 0.1
                else tuple(rng.sample(resource.actions, k=rng.randint(1, len(resource.actions))))
            )
            perms.append(Permission(resource.resource_id, actions))
        custom_roles.append(Role(f"role{i}", "", tuple(perms)))
    policy = Policy(resources=all_resources, roles=DEFAULT_ROLES + tuple(custom_roles))
    role_ids = [r.role_id for r in policy.roles]
    rolesets = [frozenset(rng.sample(role_ids, k=rng.randint(1, 4))) for _ in range(200)]
    requests = []
    for _ in range(checks):
        resource = rng.choice(all_resources)
        action = rng.choice(resource.actions + ("undeclared",))
        requests.append((rng.choice(rolesets), resource.resource_id, action))
    return Workload(policy, requests)


def _rate(
    fn: Callable[[frozenset[str], str, str], object],
    requests: Sequence[tuple[frozenset[str], str, str]],
) -> float:
    start = time.perf_counter()
    for roles, resource, action in requests:
        fn(roles, resource, action)
    return len(requests) / (time.perf_counter() - start)


def run(
    resources: int = 204, roles: int = 52, checks: int = 200_000
) -> list[tuple[str, float, int]]:
    """(name, checks per second, disagreements with Gatehouse) for each engine."""
    from stytch.b2b.models.rbac import Policy as B2BPolicy
    from stytch.b2b.models.sessions import AuthorizationCheck
    from stytch.shared import rbac_local

    from gatehouse.policy import policy_to_wire

    work = generate(resources, roles, checks)
    compiled = compile_policy(work.policy)
    expected = [compiled.check(r, res, a) for r, res, a in work.requests]

    table = {(r, res): frozenset({a}) for r, res, _ in work.requests[:1000] for a in ("x",)}

    def baseline(roles: frozenset[str], resource: str, action: str) -> bool:
        return action in table.get((roles, resource), frozenset())

    sdk_policy = B2BPolicy(**policy_to_wire(work.policy))
    converted = rbac_local.policy_from_b2b_policy(sdk_policy)

    def sdk_converted(roles: frozenset[str], resource: str, action: str) -> bool:
        check = AuthorizationCheck(organization_id="org", resource_id=resource, action=action)
        return rbac_local.is_authorized(converted, list(roles), check)

    def sdk_per_call(roles: frozenset[str], resource: str, action: str) -> bool:
        check = AuthorizationCheck(organization_id="org", resource_id=resource, action=action)
        try:
            rbac_local.perform_authorization_check(sdk_policy, list(roles), "org", check)
        except rbac_local.RBACPermissionError:
            return False
        return True

    rows: list[tuple[str, float, int]] = []
    rows.append(("baseline: one dict get + set membership", _rate(baseline, work.requests), 0))
    rows.append(("gatehouse CompiledPolicy.check", _rate(compiled.check, work.requests), 0))
    sample = work.requests[: max(1, checks // 100)]
    for name, fn, stream in (
        (
            "stytch SDK evaluator, pre-converted policy",
            sdk_converted,
            work.requests[: max(1, checks // 10)],
        ),
        ("stytch SDK perform_authorization_check (per call)", sdk_per_call, sample),
    ):
        disagreements = sum(fn(r, res, a) != expected[i] for i, (r, res, a) in enumerate(stream))
        rows.append((name, _rate(fn, stream), disagreements))
    return rows
