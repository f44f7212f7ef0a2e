"""The check services, counted: every authorization decision goes to `gatehouse.metrics`.

Subclasses rather than edits, so the services keep one job each; `Gatehouse` (services/wiring.py)
wires these in. A count costs one lock-protected integer add per single check and two per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatehouse import metrics
from gatehouse.errors import Code, GatehouseError
from gatehouse.policy import Decision
from gatehouse.services.b2b.checks import BatchVerdict, CheckItem, Checks
from gatehouse.services.b2b.sessions import Sessions
from gatehouse.services.context import ActiveSession, Environment


def _tenancy(error: GatehouseError) -> bool:
    return error.code is Code.SESSION_AUTHORIZATION_TENANCY_ERROR


class CountedSessions(Sessions):
    def check(
        self, environment: Environment, active: ActiveSession, check: dict[str, str]
    ) -> Decision:
        try:
            decision = super().check(environment, active, check)
        except GatehouseError as error:
            if _tenancy(error):
                metrics.CHECK_TENANCY.inc()
            raise
        (metrics.CHECK_ALLOWED if decision.allowed else metrics.CHECK_DENIED).inc()
        return decision


class CountedChecks(Checks):
    def _answer(
        self,
        environment: Environment,
        active: ActiveSession,
        organization_id: str,
        checks: Sequence[CheckItem],
        explain: bool,
    ) -> BatchVerdict:
        try:
            verdict = super()._answer(environment, active, organization_id, checks, explain)
        except GatehouseError as error:
            if _tenancy(error):
                metrics.BATCH_TENANCY.inc(len(checks))
            raise
        allowed = sum(verdict.results)
        if allowed:
            metrics.BATCH_ALLOWED.inc(allowed)
        if allowed < len(verdict.results):
            metrics.BATCH_DENIED.inc(len(verdict.results) - allowed)
        return verdict
