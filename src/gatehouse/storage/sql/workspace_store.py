"""The SQL implementation of the workspace half of the Store: the workspace, its people, email
domain rules, management keys, dashboard sessions, one-time email tokens, and the Management
API's view of projects, environments and secrets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Table, delete, literal, select, update

from gatehouse.storage.interface import Change, ReadTx, WriteTx
from gatehouse.storage.rows import (
    DashboardSessionRow,
    DashboardSessionValues,
    DomainRow,
    EmailTokenRow,
    EnvironmentInfo,
    EnvironmentValues,
    EventRow,
    ProjectRow,
    ProjectValues,
    SecretRow,
    WorkspaceKeyRow,
    WorkspaceKeyValues,
    WorkspaceMemberRow,
    WorkspaceMemberValues,
    WorkspaceRow,
    WorkspaceValues,
)
from gatehouse.storage.sql import changes
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.tx import every, one

T = TypeVar("T")


def _first(result: Any, shape: type[T]) -> T | None:
    return one(result.first(), shape)


class SqlWorkspaceStore:
    """Mixed into SqlStore; relies on its `_insert` and `_update`."""

    def _insert(
        self, tx: WriteTx, table: Table, row: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _update(
        self, tx: WriteTx, table: Table, row_id: str, values: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- the workspace ---------------------------------------------------------------------

    def get_workspace(self, tx: ReadTx) -> WorkspaceRow | None:
        """The database's workspace (Gatehouse runs one workspace per database)."""
        return _first(
            _c(tx).execute(select(t.workspaces).order_by(t.workspaces.c.created_at).limit(1)),
            WorkspaceRow,
        )

    def lock_workspace(self, tx: WriteTx, workspace_id: str) -> None:
        """Serialise changes that must see every member (last-Admin rules): PostgreSQL locks the
        row until the transaction ends; SQLite's write transactions are already serial."""
        w = t.workspaces
        _c(tx).execute(select(w.c.id).where(w.c.id == workspace_id).with_for_update())

    def update_workspace(self, tx: WriteTx, workspace_id: str, values: WorkspaceValues) -> None:
        self._update(tx, t.workspaces, workspace_id, values)

    # -- people ----------------------------------------------------------------------------

    def get_workspace_member(self, tx: ReadTx, member_id: str) -> WorkspaceMemberRow | None:
        wm = t.workspace_members
        return _first(_c(tx).execute(select(wm).where(wm.c.id == member_id)), WorkspaceMemberRow)

    def find_workspace_member_by_email(
        self, tx: ReadTx, workspace_id: str, email: str
    ) -> WorkspaceMemberRow | None:
        wm = t.workspace_members
        return _first(
            _c(tx).execute(
                select(wm).where(wm.c.workspace_id == workspace_id, wm.c.email == email.lower())
            ),
            WorkspaceMemberRow,
        )

    def list_workspace_members(self, tx: ReadTx, workspace_id: str) -> list[WorkspaceMemberRow]:
        wm = t.workspace_members
        return every(
            _c(tx).execute(
                select(wm)
                .where(wm.c.workspace_id == workspace_id)
                .order_by(wm.c.created_at, wm.c.id)
            ),
            WorkspaceMemberRow,
        )

    def update_workspace_member(
        self, tx: WriteTx, member_id: str, values: WorkspaceMemberValues
    ) -> None:
        self._update(tx, t.workspace_members, member_id, values)

    def delete_workspace_member(self, tx: WriteTx, member_id: str) -> None:
        _c(tx).execute(
            delete(t.dashboard_sessions).where(t.dashboard_sessions.c.member_id == member_id)
        )
        _c(tx).execute(delete(t.workspace_members).where(t.workspace_members.c.id == member_id))

    # -- email domain rules ----------------------------------------------------------------

    def list_domains(self, tx: ReadTx, workspace_id: str) -> list[DomainRow]:
        d = t.workspace_domains
        return every(
            _c(tx).execute(select(d).where(d.c.workspace_id == workspace_id).order_by(d.c.domain)),
            DomainRow,
        )

    def put_domain(self, tx: WriteTx, row: DomainRow) -> None:
        d = t.workspace_domains
        _c(tx).execute(
            delete(d).where(d.c.workspace_id == row["workspace_id"], d.c.domain == row["domain"])
        )
        self._insert(tx, d, row)

    def delete_domain(self, tx: WriteTx, workspace_id: str, domain: str) -> bool:
        d = t.workspace_domains
        result = _c(tx).execute(
            delete(d).where(d.c.workspace_id == workspace_id, d.c.domain == domain)
        )
        return result.rowcount == 1

    # -- management keys -------------------------------------------------------------------

    def insert_workspace_key(self, tx: WriteTx, row: WorkspaceKeyRow) -> None:
        self._insert(tx, t.workspace_keys, row)

    def get_workspace_key(self, tx: ReadTx, key_id: str) -> WorkspaceKeyRow | None:
        return _first(
            _c(tx).execute(select(t.workspace_keys).where(t.workspace_keys.c.id == key_id)),
            WorkspaceKeyRow,
        )

    def list_workspace_keys(self, tx: ReadTx, workspace_id: str) -> list[WorkspaceKeyRow]:
        k = t.workspace_keys
        return every(
            _c(tx).execute(
                select(k).where(k.c.workspace_id == workspace_id).order_by(k.c.created_at, k.c.id)
            ),
            WorkspaceKeyRow,
        )

    def update_workspace_key(self, tx: WriteTx, key_id: str, values: WorkspaceKeyValues) -> None:
        self._update(tx, t.workspace_keys, key_id, values)

    # -- dashboard sessions ----------------------------------------------------------------

    def insert_dashboard_session(self, tx: WriteTx, row: DashboardSessionRow) -> None:
        self._insert(tx, t.dashboard_sessions, row)

    def find_dashboard_session(self, tx: ReadTx, token_hash: str) -> DashboardSessionRow | None:
        s = t.dashboard_sessions
        return _first(
            _c(tx).execute(select(s).where(s.c.token_hash == token_hash)), DashboardSessionRow
        )

    def revoke_dashboard_sessions(self, tx: WriteTx, member_id: str, now: dt.datetime) -> None:
        s = t.dashboard_sessions
        _c(tx).execute(
            update(s)
            .where(s.c.member_id == member_id, s.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def update_dashboard_session(
        self, tx: WriteTx, session_id: str, values: DashboardSessionValues
    ) -> None:
        self._update(tx, t.dashboard_sessions, session_id, values)

    # -- one-time email tokens -------------------------------------------------------------

    def insert_email_token(self, tx: WriteTx, row: EmailTokenRow) -> None:
        self._insert(tx, t.email_tokens, row)

    def find_email_token(self, tx: ReadTx, token_hash: str) -> EmailTokenRow | None:
        e = t.email_tokens
        return _first(_c(tx).execute(select(e).where(e.c.token_hash == token_hash)), EmailTokenRow)

    def use_email_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool:
        """Mark used; False if it already was (two racing redemptions: one wins)."""
        e = t.email_tokens
        result = _c(tx).execute(
            update(e).where(e.c.id == token_id, e.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1

    # -- projects, environments, secrets ---------------------------------------------------

    def list_projects(self, tx: ReadTx, workspace_id: str) -> list[ProjectRow]:
        p = t.projects
        return every(
            _c(tx).execute(
                select(p).where(p.c.workspace_id == workspace_id).order_by(p.c.created_at, p.c.id)
            ),
            ProjectRow,
        )

    def get_project_by_slug(self, tx: ReadTx, workspace_id: str, slug: str) -> ProjectRow | None:
        p = t.projects
        return _first(
            _c(tx).execute(select(p).where(p.c.workspace_id == workspace_id, p.c.slug == slug)),
            ProjectRow,
        )

    def update_project(self, tx: WriteTx, project_id: str, values: ProjectValues) -> None:
        self._update(tx, t.projects, project_id, values)

    def delete_project(self, tx: WriteTx, project_id: str) -> None:
        for environment in self.environments_of(tx, project_id):
            self.delete_environment(tx, environment["id"])
        _c(tx).execute(delete(t.projects).where(t.projects.c.id == project_id))

    def environments_of(self, tx: ReadTx, project_id: str) -> list[EnvironmentInfo]:
        e = t.environments
        columns = [c for c in e.c if c.name != "policy"]
        return every(
            _c(tx).execute(
                select(*columns)
                .where(e.c.project_id == project_id)
                .order_by(e.c.created_at, e.c.id)
            ),
            EnvironmentInfo,
        )

    def get_environment_by_slug(
        self, tx: ReadTx, project_id: str, slug: str
    ) -> EnvironmentInfo | None:
        e = t.environments
        columns = [c for c in e.c if c.name != "policy"]
        return _first(
            _c(tx).execute(select(*columns).where(e.c.project_id == project_id, e.c.slug == slug)),
            EnvironmentInfo,
        )

    def update_environment(
        self, tx: WriteTx, environment_id: str, values: EnvironmentValues
    ) -> None:
        self._update(tx, t.environments, environment_id, values)
        changes.record(_c(tx), Change(environment_id, "environment", environment_id))

    def delete_environment(self, tx: WriteTx, environment_id: str) -> None:
        """The environment and everything in it."""
        changes.record(_c(tx), Change(environment_id, "environment", environment_id))
        org_ids = select(t.organizations.c.id).where(
            t.organizations.c.environment_id == environment_id
        )
        member_ids = select(t.members.c.id).where(t.members.c.environment_id == environment_id)
        _c(tx).execute(delete(t.member_roles).where(t.member_roles.c.member_id.in_(member_ids)))
        _c(tx).execute(
            delete(t.member_sessions).where(t.member_sessions.c.environment_id == environment_id)
        )
        _c(tx).execute(
            delete(t.member_emails).where(t.member_emails.c.organization_id.in_(org_ids))
        )
        _c(tx).execute(
            delete(t.organization_identifiers).where(
                t.organization_identifiers.c.environment_id == environment_id
            )
        )
        _c(tx).execute(delete(t.members).where(t.members.c.environment_id == environment_id))
        _c(tx).execute(delete(t.organizations).where(t.organizations.c.id.in_(org_ids)))
        _c(tx).execute(
            delete(t.api_secrets).where(t.api_secrets.c.environment_id == environment_id)
        )
        _c(tx).execute(
            delete(t.signing_keys).where(t.signing_keys.c.environment_id == environment_id)
        )
        _c(tx).execute(delete(t.environments).where(t.environments.c.id == environment_id))

    def get_secret(self, tx: ReadTx, environment_id: str, secret_id: str) -> SecretRow | None:
        s = t.api_secrets
        return _first(
            _c(tx).execute(
                select(s).where(s.c.environment_id == environment_id, s.c.id == secret_id)
            ),
            SecretRow,
        )

    def delete_secret(self, tx: WriteTx, environment_id: str, secret_id: str) -> bool:
        s = t.api_secrets
        result = _c(tx).execute(
            delete(s).where(s.c.environment_id == environment_id, s.c.id == secret_id)
        )
        changes.record(_c(tx), Change(environment_id, "environment", environment_id))
        return result.rowcount == 1

    # -- event log queries -----------------------------------------------------------------

    def query_events(
        self,
        tx: ReadTx,
        scope_id: str,
        *,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[EventRow]:
        e = t.events
        conditions = [e.c.environment_id == scope_id]
        if actor is not None:
            conditions.append(e.c.actor == actor)
        if target is not None:
            conditions.append(e.c.target == target)
        if action is not None:
            conditions.append(e.c.action == action)
        if since is not None:
            conditions.append(e.c.created_at >= since)
        if until is not None:
            conditions.append(e.c.created_at < until)
        if before is not None:
            # Bound as a BIGINT: a cursor beyond a 32-bit id column still compares (PostgreSQL
            # compares int4 with int8 in the same index).
            conditions.append(e.c.id < literal(before, BigInteger))
        return every(
            _c(tx).execute(select(e).where(*conditions).order_by(e.c.id.desc()).limit(limit)),
            EventRow,
        )
