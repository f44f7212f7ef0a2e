"""A policy compiled for answering checks without scanning roles.

`check` is the hot path: one dict lookup for the subject's role set (cached), one for the
resource, one set membership. `authorize` also names the granting roles and explains the
decision; it is only as costly as the subject's own roles.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from gatehouse.policy.model import WILDCARD, Permission, Policy, Role

# How many distinct role sets keep a merged grant table. A B2B app has few distinct role sets;
# past this the oldest quarter is dropped (insertion order), so a hit never pays for recency
# tracking and a miss never empties the whole cache.
ROLESET_CACHE_LIMIT = 4096
# Explained decisions kept per compiled policy (the single check's verdict names its roles).
DECISION_CACHE_LIMIT = 65_536

_Grants = dict[str, frozenset[str]]  # resource_id -> actions granted (may contain "*")


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a check, with its reasons. Truthy when allowed."""

    allowed: bool
    resource_id: str
    action: str
    granting_roles: tuple[str, ...] = ()
    reason: str = ""
    undeclared_action: bool = False

    def __bool__(self) -> bool:
        return self.allowed


def _grants_of(permissions: Iterable[Permission]) -> _Grants:
    merged: dict[str, set[str]] = {}
    for perm in permissions:
        merged.setdefault(perm.resource_id, set()).update(perm.actions)
    return {rid: frozenset(actions) for rid, actions in merged.items()}


class CompiledPolicy:
    __slots__ = ("policy", "extra_roles", "_role_grants", "_declared", "_rolesets", "_decisions")

    def __init__(self, policy: Policy, extra_roles: tuple[Role, ...] = ()) -> None:
        # Compiling allocates many small containers that all survive; the cyclic collector would
        # scan them again and again (about two thirds of the time at 10,000 roles).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._compile(policy, extra_roles)
        finally:
            if collecting:
                gc.enable()

    def _compile(self, policy: Policy, extra_roles: tuple[Role, ...]) -> None:
        self.policy = policy
        self.extra_roles = extra_roles
        self._declared: dict[str, frozenset[str]] = {
            r.resource_id: frozenset(r.actions) for r in policy.resources
        }
        # A role id listed twice (e.g. an org role named like a project role added later) grants
        # the union of its entries, as the SDK's local evaluator does; it never shadows one.
        by_role: dict[str, list[Permission]] = {}
        for role in policy.roles + extra_roles:
            by_role.setdefault(role.role_id, []).extend(role.permissions)
        self._role_grants: dict[str, _Grants] = {
            role_id: _grants_of(perms) for role_id, perms in by_role.items()
        }
        self._rolesets: dict[frozenset[str], _Grants] = {}
        # A compiled policy never changes, so neither does a decision it made.
        self._decisions: dict[tuple[frozenset[str], str, str], Decision] = {}

    def with_roles(self, extra_roles: tuple[Role, ...]) -> CompiledPolicy:
        """This policy with an organization's custom roles layered on top."""
        if not extra_roles:
            return self
        return CompiledPolicy(self.policy, extra_roles)

    def has_role(self, role_id: str) -> bool:
        return role_id in self._role_grants

    def role_ids(self) -> frozenset[str]:
        return frozenset(self._role_grants)

    def _merged(self, roles: frozenset[str]) -> _Grants:
        merged = self._rolesets.get(roles)
        if merged is None:
            acc: dict[str, set[str]] = {}
            for role_id in roles:
                for rid, actions in self._role_grants.get(role_id, {}).items():
                    acc.setdefault(rid, set()).update(actions)
            merged = {rid: frozenset(a) for rid, a in acc.items()}
            if len(self._rolesets) >= ROLESET_CACHE_LIMIT:
                for stale in list(islice(self._rolesets, ROLESET_CACHE_LIMIT // 4)):
                    self._rolesets.pop(stale, None)
            self._rolesets[roles] = merged
        return merged

    def check(self, roles: frozenset[str], resource_id: str, action: str) -> bool:
        """True iff one of `roles` grants `action` (or `*`) on `resource_id`."""
        merged = self._rolesets.get(roles)  # one call per check when warm: the hot path
        if merged is None:
            merged = self._merged(roles)
        actions = merged.get(resource_id)
        return actions is not None and (action in actions or WILDCARD in actions)

    def checker(self, roles: frozenset[str]) -> Callable[[str, str], bool]:
        """`check` for one role set, asked many times (a batch): the role set is looked up once."""
        grants = self._merged(roles).get

        def allowed(resource_id: str, action: str) -> bool:
            actions = grants(resource_id)
            return actions is not None and (action in actions or WILDCARD in actions)

        return allowed

    def permissions(self, roles: frozenset[str]) -> dict[str, frozenset[str]]:
        """What `roles` may do: resource_id -> granted actions (`*` expanded to declared ones)."""
        out: dict[str, frozenset[str]] = {}
        for rid, actions in self._merged(roles).items():
            if WILDCARD in actions:
                actions = (actions - {WILDCARD}) | self._declared.get(rid, frozenset())
            out[rid] = actions
        return out

    def authorize(self, roles: Iterable[str], resource_id: str, action: str) -> Decision:
        """Decide and explain: which roles grant it, or why none does."""
        role_set = roles if isinstance(roles, frozenset) else frozenset(roles)
        key = (role_set, resource_id, action)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._explain(role_set, resource_id, action)
            if len(self._decisions) >= DECISION_CACHE_LIMIT:
                for stale in list(islice(self._decisions, DECISION_CACHE_LIMIT // 4)):
                    self._decisions.pop(stale, None)
            self._decisions[key] = decision
        return decision

    def _explain(self, role_set: frozenset[str], resource_id: str, action: str) -> Decision:
        granting: list[str] = []
        by_wildcard_only = True
        for role_id in sorted(role_set):
            actions = self._role_grants.get(role_id, {}).get(resource_id)
            if actions is None:
                continue
            if action in actions:
                granting.append(role_id)
                by_wildcard_only = False
            elif WILDCARD in actions:
                granting.append(role_id)
        declared = self._declared.get(resource_id)
        undeclared = declared is not None and action not in declared
        if granting:
            how = "`*`" if by_wildcard_only else f"`{action}`"
            reason = f"granted {how} on `{resource_id}` by " + ", ".join(f"`{r}`" for r in granting)
            if undeclared:
                reason += f"; note: `{action}` is not declared on `{resource_id}` (a typo?)"
            return Decision(True, resource_id, action, tuple(granting), reason, undeclared)
        if declared is None:
            reason = f"resource `{resource_id}` is not in the policy"
        else:
            unknown = sorted(r for r in role_set if r not in self._role_grants)
            reason = (
                f"none of the roles {', '.join(f'`{r}`' for r in sorted(role_set)) or '(none)'} "
                f"grants `{action}` on `{resource_id}`"
            )
            if undeclared:
                reason += f"; `{action}` is not declared on `{resource_id}`"
            if unknown:
                reason += "; unknown roles ignored: " + ", ".join(f"`{r}`" for r in unknown)
        return Decision(False, resource_id, action, (), reason, undeclared)


def compile_policy(policy: Policy) -> CompiledPolicy:
    return CompiledPolicy(policy)
