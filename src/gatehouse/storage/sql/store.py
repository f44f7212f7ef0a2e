"""The SQL implementation of the Store, for SQLite and PostgreSQL alike.

Rows travel as plain dicts keyed by column name. Every method takes the transaction it runs in,
so a service decides what is atomic.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gatehouse.storage.interface import Change, Row
from gatehouse.storage.sql import changes, constraints, search
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.workspace_store import SqlWorkspaceStore


def _row(result: Any) -> Row | None:
    return dict(result._mapping) if result is not None else None


class SqlStore(SqlWorkspaceStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._on_commit: list[Callable[[list[Change]], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A read-write transaction (on SQLite it takes the write lock up front). The changes it
        recorded go to `on_commit` subscribers once it has committed."""
        with self.engine.begin() as tx:
            try:
                yield tx
            finally:
                # Connection.info outlives the transaction (it belongs to the pooled connection).
                recorded = tx.info.pop(changes.PENDING, None)
        if recorded:
            for subscriber in self._on_commit:
                subscriber(recorded)

    def on_commit(self, subscriber: Callable[[list[Change]], None]) -> None:
        """Call `subscriber` with the changes of each transaction this store commits."""
        self._on_commit.append(subscriber)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite it runs beside the writer instead of queueing."""
        with self.engine.connect().execution_options(gatehouse_read_only=True) as conn:
            with conn.begin():
                yield conn

    # -- the change feed (storage/sql/changes.py) ------------------------------------------

    def record_change(self, tx: Connection, change: Change) -> None:
        changes.record(tx, change)

    def listen_changes(
        self,
        on_change: Callable[[Change], None],
        on_reset: Callable[[], None],
        on_ready: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        changes.listen(self.engine, on_change, on_reset, on_ready, stop)

    def _org_changed(self, tx: Connection, organization_id: str) -> None:
        environment_id = tx.execute(
            select(t.organizations.c.environment_id).where(t.organizations.c.id == organization_id)
        ).scalar()
        if environment_id is not None:
            changes.record(tx, Change(environment_id, "organization", organization_id))

    def _insert(self, tx: Connection, table: Any, row: Row) -> None:
        try:
            with tx.begin_nested():
                tx.execute(insert(table).values(**row))
        except IntegrityError as error:
            raise constraints.translate(error, row) from None

    def _update(self, tx: Connection, table: Any, row_id: str, values: Row) -> None:
        if not values:
            return
        try:
            with tx.begin_nested():
                tx.execute(update(table).where(table.c.id == row_id).values(**values))
        except IntegrityError as error:
            raise constraints.translate(error, values) from None

    # -- tenancy ---------------------------------------------------------------------------

    def workspace_exists(self, tx: Connection) -> bool:
        return tx.execute(select(func.count()).select_from(t.workspaces)).scalar_one() > 0

    def insert_workspace(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.workspaces, row)

    def insert_workspace_member(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.workspace_members, row)

    def insert_project(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.projects, row)

    def insert_environment(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.environments, row)

    def get_environment(self, tx: Connection, environment_id: str) -> Row | None:
        return _row(
            tx.execute(select(t.environments).where(t.environments.c.id == environment_id)).first()
        )

    def environment_head(self, tx: Connection, environment_id: str) -> Row | None:
        """An environment without its policy document: what every request needs."""
        e = t.environments
        return _row(
            tx.execute(
                select(e.c.id, e.c.project_id, e.c.kind, e.c.name, e.c.policy_version).where(
                    e.c.id == environment_id
                )
            ).first()
        )

    def list_environments(self, tx: Connection) -> list[Row]:
        rows = tx.execute(select(t.environments).order_by(t.environments.c.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def set_policy(
        self, tx: Connection, environment_id: str, expected_version: int, policy: Any
    ) -> bool:
        """Compare-and-set: store `policy` as version expected+1; False if someone got there first."""
        result = tx.execute(
            update(t.environments)
            .where(
                t.environments.c.id == environment_id,
                t.environments.c.policy_version == expected_version,
            )
            .values(policy=policy, policy_version=expected_version + 1)
        )
        if result.rowcount != 1:
            return False
        changes.record(tx, Change(environment_id, "policy", environment_id))
        return True

    def insert_secret(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.api_secrets, row)

    def secrets(self, tx: Connection, environment_id: str) -> list[Row]:
        rows = tx.execute(
            select(t.api_secrets).where(t.api_secrets.c.environment_id == environment_id)
        ).all()
        return [dict(r._mapping) for r in rows]

    def insert_signing_key(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.signing_keys, row)

    def signing_keys(self, tx: Connection, environment_id: str) -> list[Row]:
        rows = tx.execute(
            select(t.signing_keys)
            .where(t.signing_keys.c.environment_id == environment_id)
            .order_by(t.signing_keys.c.created_at.desc())
        ).all()
        return [dict(r._mapping) for r in rows]

    # -- organizations ---------------------------------------------------------------------

    def insert_organization(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.organizations, row)

    def update_organization(self, tx: Connection, organization_id: str, values: Row) -> None:
        self._update(tx, t.organizations, organization_id, values)
        if values:
            self._org_changed(tx, organization_id)

    def delete_organization(self, tx: Connection, organization_id: str) -> None:
        # Children first: SQLite enforces ON DELETE CASCADE only with the pragma, and being
        # explicit keeps both backends identical.
        self._org_changed(tx, organization_id)
        member_ids = select(t.members.c.id).where(t.members.c.organization_id == organization_id)
        tx.execute(delete(t.member_roles).where(t.member_roles.c.member_id.in_(member_ids)))
        tx.execute(
            delete(t.member_sessions).where(t.member_sessions.c.organization_id == organization_id)
        )
        tx.execute(delete(t.members).where(t.members.c.organization_id == organization_id))
        tx.execute(delete(t.organizations).where(t.organizations.c.id == organization_id))

    def find_organization(self, tx: Connection, environment_id: str, ident: str) -> Row | None:
        """By id, slug or external id, in that order of precedence."""
        org = t.organizations
        for column in (org.c.id, org.c.slug, org.c.external_id):
            found = tx.execute(
                select(org).where(org.c.environment_id == environment_id, column == ident)
            ).first()
            if found is not None:
                return _row(found)
        return None

    def get_organizations(
        self, tx: Connection, environment_id: str, ids: Iterable[str]
    ) -> list[Row]:
        rows = tx.execute(
            select(t.organizations).where(
                t.organizations.c.environment_id == environment_id,
                t.organizations.c.id.in_(list(ids)),
            )
        ).all()
        return [dict(r._mapping) for r in rows]

    def organizations_in(self, tx: Connection, environment_id: str) -> list[Row]:
        rows = tx.execute(
            select(t.organizations).where(t.organizations.c.environment_id == environment_id)
        ).all()
        return [dict(r._mapping) for r in rows]

    def search_organizations(
        self,
        tx: Connection,
        environment_id: str,
        query: dict[str, Any] | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Row], int, str | None]:
        org = t.organizations
        where = and_(
            org.c.environment_id == environment_id,
            search.build_condition(query, search.ORGANIZATION_FILTERS),
        )
        total = tx.execute(select(func.count()).select_from(org).where(where)).scalar_one()
        rows = tx.execute(
            select(org)
            .where(where, search.after_cursor(org, cursor))
            .order_by(org.c.created_at, org.c.id)
            .limit(limit + 1)
        ).all()
        return _page(rows, total, limit)

    # -- members ---------------------------------------------------------------------------

    def insert_member(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.members, row)

    def update_member(self, tx: Connection, member_id: str, values: Row) -> None:
        self._update(tx, t.members, member_id, values)
        if values:
            # Member and session changes only drop node caches, which key them by id alone.
            changes.record(tx, Change("", "member", member_id))

    def get_member(self, tx: Connection, organization_id: str, member_id: str) -> Row | None:
        return _row(
            tx.execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id, t.members.c.id == member_id
                )
            ).first()
        )

    def get_member_by_id(self, tx: Connection, environment_id: str, member_id: str) -> Row | None:
        return _row(
            tx.execute(
                select(t.members).where(
                    t.members.c.environment_id == environment_id, t.members.c.id == member_id
                )
            ).first()
        )

    def find_member_by_email(
        self, tx: Connection, organization_id: str, email: str, *, include_deleted: bool = False
    ) -> Row | None:
        conditions = [
            t.members.c.organization_id == organization_id,
            t.members.c.email_lower == email.lower(),
        ]
        if not include_deleted:
            conditions.append(t.members.c.status != "deleted")
        return _row(
            tx.execute(
                select(t.members).where(*conditions).order_by(t.members.c.created_at.desc())
            ).first()
        )

    def find_member_by_external_id(
        self, tx: Connection, organization_id: str, external_id: str
    ) -> Row | None:
        return _row(
            tx.execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id,
                    t.members.c.external_id == external_id,
                )
            ).first()
        )

    def find_member_by_password_id(
        self, tx: Connection, organization_id: str, password_id: str
    ) -> Row | None:
        return _row(
            tx.execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id,
                    t.members.c.password_id == password_id,
                    t.members.c.status != "deleted",
                )
            ).first()
        )

    def search_members(
        self,
        tx: Connection,
        environment_id: str,
        organization_ids: list[str],
        query: dict[str, Any] | None,
        cursor: str | None,
        limit: int,
        include_deleted: bool,
    ) -> tuple[list[Row], int, str | None]:
        m = t.members
        conditions = [
            m.c.environment_id == environment_id,
            m.c.organization_id.in_(organization_ids),
            search.build_condition(query, search.MEMBER_FILTERS),
        ]
        if not include_deleted:
            conditions.append(m.c.status != "deleted")
        where = and_(*conditions)
        total = tx.execute(select(func.count()).select_from(m).where(where)).scalar_one()
        rows = tx.execute(
            select(m)
            .where(where, search.after_cursor(m, cursor))
            .order_by(m.c.created_at, m.c.id)
            .limit(limit + 1)
        ).all()
        return _page(rows, total, limit)

    def direct_roles(self, tx: Connection, member_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(member_ids)
        out: dict[str, list[str]] = {member_id: [] for member_id in ids}
        if not ids:
            return out
        rows = tx.execute(
            select(t.member_roles.c.member_id, t.member_roles.c.role_id)
            .where(t.member_roles.c.member_id.in_(ids))
            .order_by(t.member_roles.c.role_id)
        ).all()
        for member_id, role_id in rows:
            out[member_id].append(role_id)
        return out

    def set_direct_roles(
        self, tx: Connection, environment_id: str, member_id: str, role_ids: Iterable[str]
    ) -> None:
        tx.execute(delete(t.member_roles).where(t.member_roles.c.member_id == member_id))
        rows = [
            {"member_id": member_id, "role_id": role_id, "environment_id": environment_id}
            for role_id in sorted(set(role_ids))
        ]
        if rows:
            tx.execute(insert(t.member_roles), rows)
        changes.record(tx, Change(environment_id, "member", member_id))

    def members_with_direct_role(
        self, tx: Connection, environment_id: str, role_id: str
    ) -> list[str]:
        rows = tx.execute(
            select(t.member_roles.c.member_id).where(
                t.member_roles.c.environment_id == environment_id,
                t.member_roles.c.role_id == role_id,
            )
        ).all()
        return [r[0] for r in rows]

    def remove_direct_role(self, tx: Connection, environment_id: str, role_id: str) -> None:
        tx.execute(
            delete(t.member_roles).where(
                t.member_roles.c.environment_id == environment_id,
                t.member_roles.c.role_id == role_id,
            )
        )
        # Many members at once: the environment's cached sessions all go.
        changes.record(tx, Change(environment_id, "policy", environment_id))

    # -- sessions --------------------------------------------------------------------------

    def insert_session(self, tx: Connection, row: Row) -> None:
        self._insert(tx, t.member_sessions, row)

    def get_session(self, tx: Connection, environment_id: str, session_id: str) -> Row | None:
        s = t.member_sessions
        return _row(
            tx.execute(
                select(s).where(s.c.environment_id == environment_id, s.c.id == session_id)
            ).first()
        )

    def find_session_by_token_hash(
        self, tx: Connection, environment_id: str, token_hash: str
    ) -> Row | None:
        s = t.member_sessions
        return _row(
            tx.execute(
                select(s).where(s.c.environment_id == environment_id, s.c.token_hash == token_hash)
            ).first()
        )

    def update_session(self, tx: Connection, session_id: str, values: Row) -> None:
        self._update(tx, t.member_sessions, session_id, values)
        if values:
            changes.record(tx, Change("", "session", session_id))

    def active_sessions(self, tx: Connection, member_id: str, now: dt.datetime) -> list[Row]:
        s = t.member_sessions
        rows = tx.execute(
            select(s)
            .where(s.c.member_id == member_id, s.c.revoked_at.is_(None), s.c.expires_at > now)
            .order_by(s.c.started_at)
        ).all()
        return [dict(r._mapping) for r in rows]

    def revoke_member_sessions(self, tx: Connection, member_id: str, now: dt.datetime) -> int:
        s = t.member_sessions
        result = tx.execute(
            update(s)
            .where(s.c.member_id == member_id, s.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        changes.record(tx, Change("", "member", member_id))
        return result.rowcount

    # -- events ----------------------------------------------------------------------------

    def insert_event(self, tx: Connection, row: Row) -> None:
        tx.execute(insert(t.events).values(**row))

    def events(self, tx: Connection, environment_id: str, limit: int = 100) -> list[Row]:
        rows = tx.execute(
            select(t.events)
            .where(t.events.c.environment_id == environment_id)
            .order_by(t.events.c.id.desc())
            .limit(limit)
        ).all()
        return [dict(r._mapping) for r in rows]


def _page(rows: Sequence[Any], total: int, limit: int) -> tuple[list[Row], int, str | None]:
    items = [dict(r._mapping) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = search.encode_cursor(last["created_at"], last["id"])
    return items, total, next_cursor
