"""All services of one Gatehouse node, wired together over one store."""

from __future__ import annotations

from typing import Any

from gatehouse import metrics
from gatehouse.config import Settings
from gatehouse.services.b2b.callers import Callers
from gatehouse.services.b2b.email_flows import EmailFlows
from gatehouse.services.b2b.jwks import PublicKeys
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.mfa import Mfa
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.b2b.password_flows import PasswordFlows
from gatehouse.services.b2b.passwords import Passwords
from gatehouse.services.b2b.rbac import Rbac
from gatehouse.services.b2b.scim import ScimConnections, ScimServer
from gatehouse.services.b2b.sso import SsoService
from gatehouse.services.mail import Mailer
from gatehouse.services.node.observed import CountedChecks, CountedSessions
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.redirects import RedirectUrls
from gatehouse.services.security.signing import SigningKeys
from gatehouse.services.workspace.people import Workspace
from gatehouse.services.workspace.projects import Projects
from gatehouse.services.workspace.provisioning import Provisioning
from gatehouse.services.workspace.sign_in import DashboardAuth
from gatehouse.services.workspace.support import Support
from gatehouse.storage import Store


class Gatehouse:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.runtime = Runtime(store, settings)
        self._store = store  # private: routes, the dashboard and the CLI call services
        self.keys = SigningKeys(store, self.runtime.sealer)
        # A signing key added here or on another node (an environment change) is used at once.
        store.on_commit(self.keys.forget)
        self.runtime.subscribe(lambda change: self.keys.forget([change]))
        self.workspace = Workspace(self.runtime)
        self.provisioning = Provisioning(self.runtime, self.workspace)
        self.organizations = Organizations(self.runtime)
        self.rbac = Rbac(self.runtime, self.organizations)
        self.members = Members(self.runtime, self.organizations)
        # The check services count their decisions (gatehouse.metrics).
        self.sessions = CountedSessions(self.runtime, self.keys, self.organizations)
        self.checks = CountedChecks(self.runtime, self.sessions)
        self.public_keys = PublicKeys(self.runtime, self.sessions)
        self.callers = Callers(self.runtime, self.sessions)
        self.passwords = Passwords(self.members, self.sessions)
        self.projects = Projects(self.workspace, self.provisioning, self.rbac)
        self.redirect_urls = RedirectUrls(self.projects)
        self.mailer = Mailer(self.runtime.settings)
        self.dashboard_auth = DashboardAuth(self.workspace, self.mailer)
        self.email_flows = EmailFlows(self.members, self.sessions, self.mailer)
        self.support = Support(
            self.workspace,
            self.projects,
            self.organizations,
            self.members,
            self.sessions,
            self.mailer,
        )
        self.password_flows = PasswordFlows(self.email_flows, self.passwords, self.support)
        self.scim_connections = ScimConnections(self.runtime, self.organizations)
        self.scim = ScimServer(self.runtime, self.scim_connections)
        self.sso = SsoService(self.members, self.sessions)
        self.mfa = Mfa(self.members, self.sessions, self.runtime.sms_sender)

    def initialise(
        self, admin_email: str, workspace_name: str, project_name: str
    ) -> dict[str, Any]:
        """`gatehouse init` (see `Provisioning.initialise`)."""
        return self.provisioning.initialise(admin_email, workspace_name, project_name)

    def close(self) -> None:
        """Stop following the change feed and release the database connections."""
        self.runtime.stop()
        self._store.close()

    def readiness(self) -> dict[str, str]:
        """`/readyz`: each check's state, `ok` or what is wrong (blocking: run it in a thread)."""
        checks = {"database": "ok", "migrations": "ok", "change_feed": "ok"}
        try:
            self._store.ping()
        except Exception as error:  # whatever the driver raises, the node is not ready
            checks["database"] = f"the database does not answer: {type(error).__name__}"
            checks["migrations"] = "unknown: the database does not answer"
        else:
            try:
                if not self._store.schema_at_head():
                    checks["migrations"] = "the schema is not at the newest migration"
            except Exception as error:
                checks["migrations"] = f"could not read the schema version: {type(error).__name__}"
        if not self.runtime.feed_connected:
            checks["change_feed"] = "the change feed is not connected"
        return checks

    def node_state(self) -> metrics.NodeState:
        """What `/metrics` reports of this node (no database query)."""
        cache, runtime = self.runtime.cache, self.runtime
        return metrics.NodeState(
            cache_hits=dict(cache.hits),
            cache_misses=dict(cache.misses),
            feed_connected=runtime.feed_connected,
            feed_reconnects=runtime.feed_reconnects,
            feed_events=runtime.feed_events,
            pool_checked_out=self._store.pool_checked_out(),
        )

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
