"""Batch authorization: many (resource, action) checks for one member session in one call.

The single check (`sessions.authenticate` with an `authorization_check`) also extends the session
and mints a JWT; a batch does neither, so that an app may ask thousands of questions for one page
without writing anything. Its verdicts are the single check's exactly: the same session
resolution, the same tenancy error, the same compiled policy (the organization's custom roles
layered on the project's), the same `CompiledPolicy.check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from gatehouse.errors import tenancy_error
from gatehouse.policy import Decision
from gatehouse.services.b2b.sessions import Sessions
from gatehouse.services.context import ActiveSession, Environment
from gatehouse.services.node.runtime import Runtime


class CheckItem(TypedDict):
    resource_id: str
    action: str


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    active: ActiveSession
    policy_version: int
    results: list[bool]
    decisions: list[Decision] | None  # only when explanations were asked for


def decision_to_wire(decision: Decision) -> dict[str, Any]:
    return {
        "authorized": decision.allowed,
        "granting_roles": list(decision.granting_roles),
        "reason": decision.reason,
    }


class Checks:
    def __init__(self, runtime: Runtime, sessions: Sessions) -> None:
        self.runtime = runtime
        self.sessions = sessions

    def batch(
        self,
        environment: Environment,
        token: str | None,
        jwt_token: str | None,
        organization_id: str,
        checks: Sequence[CheckItem],
        explain: bool = False,
    ) -> BatchVerdict:
        """Resolve the session, refuse another organization, then answer every check in order.

        Meant for one threadpool call: resolving may read the database, and the checks that
        follow are pure CPU that would gain nothing from a second hop.
        """
        active = self.sessions.lookup(environment, token, jwt_token).active
        return self._answer(environment, active, organization_id, checks, explain)

    def batch_warm(
        self,
        environment: Environment,
        token: str | None,
        jwt_token: str | None,
        organization_id: str,
        checks: Sequence[CheckItem],
        explain: bool = False,
    ) -> BatchVerdict | None:
        """`batch` from this node's memory alone, for the event loop; None when the session is
        not cached (then call `batch` in a thread)."""
        entry = self.sessions.lookup_cached(environment, token, jwt_token)
        if entry is None:
            return None
        return self._answer(environment, entry.active, organization_id, checks, explain)

    def _answer(
        self,
        environment: Environment,
        active: ActiveSession,
        organization_id: str,
        checks: Sequence[CheckItem],
        explain: bool,
    ) -> BatchVerdict:
        if organization_id != active.organization_id:
            raise tenancy_error(active.organization_id, organization_id)
        compiled = self.runtime.compiled_for_org(environment, active.org)
        roles = active.roles
        if explain:
            authorize = compiled.authorize
            decisions = [authorize(roles, c["resource_id"], c["action"]) for c in checks]
            return BatchVerdict(
                active, environment.policy_version, [d.allowed for d in decisions], decisions
            )
        allowed = compiled.checker(roles)
        results = [allowed(c["resource_id"], c["action"]) for c in checks]
        return BatchVerdict(active, environment.policy_version, results, None)
