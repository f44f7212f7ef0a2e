"""The SQL implementation of the Store, for SQLite and PostgreSQL alike.

Rows travel as plain dicts keyed by column name. Every method takes the transaction it runs in,
so a service decides what is atomic.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, Table, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from gatehouse.storage import database
from gatehouse.storage.interface import Busy, Change, ReadTx, WriteTx
from gatehouse.storage.rows import (
    EnvironmentHead,
    EnvironmentRow,
    EventRow,
    JsonObject,
    MemberEmailRow,
    MemberRow,
    MemberValues,
    NewEvent,
    OrganizationRow,
    OrganizationValues,
    ProjectRow,
    SecretRow,
    SessionRow,
    SessionValues,
    SigningKeyRow,
    WorkspaceMemberRow,
    WorkspaceRow,
)
from gatehouse.storage.search import SearchQuery
from gatehouse.storage.sql import changes, constraints, search
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.email_flow_store import SqlEmailFlowStore
from gatehouse.storage.sql.mfa_store import SqlMfaStore
from gatehouse.storage.sql.scim_store import SqlScimStore
from gatehouse.storage.sql.sso_store import SqlSsoStore
from gatehouse.storage.sql.tx import SqlReadTx, SqlWriteTx, every, one
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.workspace_store import SqlWorkspaceStore

T = TypeVar("T")
P = ParamSpec("P")


def _atomic(
    write: Callable[Concatenate[SqlStore, WriteTx, P], None],
) -> Callable[Concatenate[SqlStore, WriteTx, P], None]:
    """A write of several statements, all or none: refused midway (a Duplicate, say), it leaves
    nothing behind even when the caller's transaction goes on."""

    def atomic(store: SqlStore, tx: WriteTx, /, *args: P.args, **kwargs: P.kwargs) -> None:
        with _c(tx).begin_nested():
            write(store, tx, *args, **kwargs)

    atomic.__doc__, atomic.__name__ = write.__doc__, write.__name__
    return atomic


class SqlStore(SqlWorkspaceStore, SqlEmailFlowStore, SqlScimStore, SqlSsoStore, SqlMfaStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._on_commit: list[Callable[[list[Change]], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection (the store can still be used: it reconnects)."""
        self.engine.dispose()

    def ping(self) -> None:
        """Raises unless the database answers a query."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def schema_at_head(self) -> bool:
        """Whether the schema is at the newest migration this code knows."""
        return database.schema_at_head(self.engine)

    def pool_checked_out(self) -> int:
        checkedout = getattr(self.engine.pool, "checkedout", None)
        return int(checkedout()) if checkedout is not None else 0

    @contextmanager
    def transaction(self) -> Iterator[WriteTx]:
        """A read-write transaction (on SQLite it takes the write lock up front). The changes it
        recorded go to `on_commit` subscribers once it has committed."""
        recorded = None
        try:
            with self.engine.begin() as connection:
                try:
                    yield SqlWriteTx(connection)
                finally:
                    # Connection.info outlives the transaction (it belongs to the pooled connection).
                    recorded = connection.info.pop(changes.PENDING, None)
        except OperationalError as error:
            if constraints.is_busy(error):
                raise Busy(str(error.orig)) from None
            raise
        if recorded:
            for subscriber in self._on_commit:
                subscriber(recorded)

    def on_commit(self, subscriber: Callable[[list[Change]], None]) -> None:
        """Call `subscriber` with the changes of each transaction this store commits."""
        self._on_commit.append(subscriber)

    @contextmanager
    def read(self) -> Iterator[ReadTx]:
        """A read-only transaction: on SQLite it runs beside the writer instead of queueing."""
        try:
            with self.engine.connect().execution_options(gatehouse_read_only=True) as connection:
                with connection.begin():
                    yield SqlReadTx(connection)
        except OperationalError as error:
            if constraints.is_busy(error):
                raise Busy(str(error.orig)) from None
            raise

    # -- the change feed (storage/sql/changes.py) ------------------------------------------

    def record_change(self, tx: WriteTx, change: Change) -> None:
        changes.record(_c(tx), change)

    def listen_changes(
        self,
        on_change: Callable[[Change], None],
        on_reset: Callable[[], None],
        on_ready: Callable[[], None],
        stop: threading.Event,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        changes.listen(self.engine, on_change, on_reset, on_ready, stop, on_lag)

    def _org_changed(self, tx: WriteTx, organization_id: str) -> None:
        environment_id = (
            _c(tx)
            .execute(
                select(t.organizations.c.environment_id).where(
                    t.organizations.c.id == organization_id
                )
            )
            .scalar()
        )
        if environment_id is not None:
            changes.record(_c(tx), Change(environment_id, "organization", organization_id))

    def _insert(self, tx: WriteTx, table: Table, row: Mapping[str, Any]) -> None:
        connection = _c(tx)
        try:
            with connection.begin_nested():
                connection.execute(insert(table).values(**row))
        except IntegrityError as error:
            raise constraints.translate(error, row) from None

    def _update(self, tx: WriteTx, table: Table, row_id: str, values: Mapping[str, Any]) -> None:
        if not values:
            return
        connection = _c(tx)
        try:
            with connection.begin_nested():
                connection.execute(update(table).where(table.c.id == row_id).values(**values))
        except IntegrityError as error:
            raise constraints.translate(error, values) from None

    # -- tenancy ---------------------------------------------------------------------------

    def workspace_exists(self, tx: ReadTx) -> bool:
        return _c(tx).execute(select(func.count()).select_from(t.workspaces)).scalar_one() > 0

    def insert_workspace(self, tx: WriteTx, row: WorkspaceRow) -> None:
        self._insert(tx, t.workspaces, row)

    def insert_workspace_member(self, tx: WriteTx, row: WorkspaceMemberRow) -> None:
        self._insert(tx, t.workspace_members, row)

    def insert_project(self, tx: WriteTx, row: ProjectRow) -> None:
        self._insert(tx, t.projects, row)

    def insert_environment(self, tx: WriteTx, row: EnvironmentRow) -> None:
        self._insert(tx, t.environments, row)

    def get_environment(self, tx: ReadTx, environment_id: str) -> EnvironmentRow | None:
        return one(
            _c(tx)
            .execute(select(t.environments).where(t.environments.c.id == environment_id))
            .first(),
            EnvironmentRow,
        )

    def environment_head(self, tx: ReadTx, environment_id: str) -> EnvironmentHead | None:
        """An environment without its policy document: what every request needs."""
        e = t.environments
        return one(
            _c(tx)
            .execute(
                select(e.c.id, e.c.project_id, e.c.kind, e.c.name, e.c.policy_version).where(
                    e.c.id == environment_id
                )
            )
            .first(),
            EnvironmentHead,
        )

    def list_environments(self, tx: ReadTx) -> list[EnvironmentRow]:
        rows = _c(tx).execute(select(t.environments).order_by(t.environments.c.created_at)).all()
        return every(rows, EnvironmentRow)

    def set_policy(
        self, tx: WriteTx, environment_id: str, expected_version: int, policy: JsonObject
    ) -> bool:
        """Compare-and-set: store `policy` as version expected+1; False if someone got there first."""
        result = _c(tx).execute(
            update(t.environments)
            .where(
                t.environments.c.id == environment_id,
                t.environments.c.policy_version == expected_version,
            )
            .values(policy=policy, policy_version=expected_version + 1)
        )
        if result.rowcount != 1:
            return False
        changes.record(_c(tx), Change(environment_id, "policy", environment_id))
        return True

    def insert_secret(self, tx: WriteTx, row: SecretRow) -> None:
        self._insert(tx, t.api_secrets, row)

    def secrets(self, tx: ReadTx, environment_id: str) -> list[SecretRow]:
        rows = (
            _c(tx)
            .execute(select(t.api_secrets).where(t.api_secrets.c.environment_id == environment_id))
            .all()
        )
        return every(rows, SecretRow)

    def insert_signing_key(self, tx: WriteTx, row: SigningKeyRow) -> None:
        self._insert(tx, t.signing_keys, row)
        # The environment's JWKS changed: nodes drop the one they hold.
        environment_id = row["environment_id"]
        changes.record(_c(tx), Change(environment_id, "environment", environment_id))

    def all_signing_keys(self, tx: ReadTx) -> list[SigningKeyRow]:
        return every(_c(tx).execute(select(t.signing_keys)).all(), SigningKeyRow)

    def replace_signing_key_pem(self, tx: WriteTx, kid: str, old: str, new: str) -> bool:
        result = _c(tx).execute(
            update(t.signing_keys)
            .where(t.signing_keys.c.kid == kid, t.signing_keys.c.private_key_pem == old)
            .values(private_key_pem=new)
        )
        return result.rowcount == 1

    def signing_keys(self, tx: ReadTx, environment_id: str) -> list[SigningKeyRow]:
        rows = (
            _c(tx)
            .execute(
                select(t.signing_keys)
                .where(t.signing_keys.c.environment_id == environment_id)
                .order_by(t.signing_keys.c.created_at.desc())
            )
            .all()
        )
        return every(rows, SigningKeyRow)

    # -- organizations ---------------------------------------------------------------------

    @_atomic
    def insert_organization(self, tx: WriteTx, row: OrganizationRow) -> None:
        self._insert(tx, t.organizations, row)
        self._insert(
            tx,
            t.organization_identifiers,
            {
                "environment_id": row["environment_id"],
                "identifier": row["id"],
                "organization_id": row["id"],
                "kind": "id",
            },
        )
        self._claim_identifiers(tx, row, ("slug", "external_id"))

    @_atomic
    def update_organization(
        self, tx: WriteTx, organization_id: str, values: OrganizationValues
    ) -> None:
        self._update(tx, t.organizations, organization_id, values)
        written = tuple(k for k in ("slug", "external_id") if k in values)
        if written:
            org = t.organizations
            found = one(
                _c(tx).execute(select(org).where(org.c.id == organization_id)).first(),
                OrganizationRow,
            )
            if found is not None:
                self._claim_identifiers(tx, found, written)
        if values:
            self._org_changed(tx, organization_id)

    def _claim_identifiers(
        self, tx: WriteTx, org: OrganizationRow, written: tuple[str, ...]
    ) -> None:
        """Keep `organization_identifiers` in step with the organization's slug and external id:
        the identifiers of the fields just `written` are replaced (one another organization holds
        is refused, as that field's Duplicate); an identifier of a field not written that was not
        claimed (one field held the other's value) is claimed if it is free. Before revision 0006
        two organizations could share an identifier; the older keeps it, the newer is not found
        by it, and changing another field does not refuse the newer."""
        ident = t.organization_identifiers
        connection = _c(tx)
        connection.execute(
            delete(ident).where(
                ident.c.organization_id == org["id"], ident.c.kind.in_(list(written))
            )
        )
        for kind in ("slug", "external_id"):
            value = org.get(kind)
            if value is None:
                continue
            holder = connection.execute(
                select(ident.c.organization_id).where(
                    ident.c.environment_id == org["environment_id"], ident.c.identifier == value
                )
            ).scalar()
            if holder == org["id"] or (holder is not None and kind not in written):
                continue
            row = {
                "environment_id": org["environment_id"],
                "identifier": value,
                "organization_id": org["id"],
                "kind": kind,
            }
            self._insert(tx, ident, row)  # held by another organization: Duplicate

    def delete_organization(self, tx: WriteTx, organization_id: str) -> None:
        # Children first: SQLite enforces ON DELETE CASCADE only with the pragma, and being
        # explicit keeps both backends identical.
        self._org_changed(tx, organization_id)
        member_ids = select(t.members.c.id).where(t.members.c.organization_id == organization_id)
        _c(tx).execute(delete(t.member_roles).where(t.member_roles.c.member_id.in_(member_ids)))
        _c(tx).execute(
            delete(t.member_emails).where(t.member_emails.c.organization_id == organization_id)
        )
        _c(tx).execute(
            delete(t.organization_identifiers).where(
                t.organization_identifiers.c.organization_id == organization_id
            )
        )
        _c(tx).execute(
            delete(t.member_sessions).where(t.member_sessions.c.organization_id == organization_id)
        )
        _c(tx).execute(delete(t.members).where(t.members.c.organization_id == organization_id))
        _c(tx).execute(delete(t.organizations).where(t.organizations.c.id == organization_id))

    def find_organization(
        self, tx: ReadTx, environment_id: str, ident: str
    ) -> OrganizationRow | None:
        """By id, slug or external id: an exact id first, then the one organization that holds
        `ident` in `organization_identifiers` (ids, slugs and external ids are unique across the
        three, so at most one does)."""
        org = t.organizations
        ident_t = t.organization_identifiers
        found = (
            _c(tx)
            .execute(select(org).where(org.c.environment_id == environment_id, org.c.id == ident))
            .first()
        )
        if found is None:
            found = (
                _c(tx)
                .execute(
                    select(org)
                    .join(ident_t, ident_t.c.organization_id == org.c.id)
                    .where(
                        ident_t.c.environment_id == environment_id,
                        ident_t.c.identifier == ident,
                        org.c.environment_id == environment_id,
                    )
                )
                .first()
            )
        return one(found, OrganizationRow) if found is not None else None

    def get_organizations(
        self, tx: ReadTx, environment_id: str, ids: Iterable[str]
    ) -> list[OrganizationRow]:
        rows = (
            _c(tx)
            .execute(
                select(t.organizations).where(
                    t.organizations.c.environment_id == environment_id,
                    t.organizations.c.id.in_(list(ids)),
                )
            )
            .all()
        )
        return every(rows, OrganizationRow)

    def organizations_in(self, tx: ReadTx, environment_id: str) -> list[OrganizationRow]:
        rows = (
            _c(tx)
            .execute(
                select(t.organizations).where(t.organizations.c.environment_id == environment_id)
            )
            .all()
        )
        return every(rows, OrganizationRow)

    def search_organizations(
        self,
        tx: ReadTx,
        environment_id: str,
        query: SearchQuery | None,
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> tuple[list[OrganizationRow], int | None, str | None]:
        """A page in creation order, and (unless `count` is false) how many match in all."""
        org = t.organizations
        where = and_(
            org.c.environment_id == environment_id,
            search.build_condition(query, search.ORGANIZATION_FILTERS),
        )
        total = (
            _c(tx).execute(select(func.count()).select_from(org).where(where)).scalar_one()
            if count
            else None
        )
        rows = (
            _c(tx)
            .execute(
                select(org)
                .where(where, search.after_cursor(org, cursor))
                .order_by(org.c.created_at, org.c.id)
                .limit(limit + 1)
            )
            .all()
        )
        return _page(rows, total, limit, OrganizationRow)

    # -- members ---------------------------------------------------------------------------

    @_atomic
    def insert_member(self, tx: WriteTx, row: MemberRow) -> None:
        self._insert(tx, t.members, row)
        self._claim_email(tx, row)

    @_atomic
    def update_member(self, tx: WriteTx, member_id: str, values: MemberValues) -> None:
        self._update(tx, t.members, member_id, values)
        if "email_lower" in values or "status" in values:
            found = one(
                _c(tx).execute(select(t.members).where(t.members.c.id == member_id)).first(),
                MemberRow,
            )
            if found is not None:
                self._claim_email(tx, found)
        if values:
            # Member and session changes only drop node caches, which key them by id alone.
            changes.record(_c(tx), Change("", "member", member_id))

    def _claim_email(self, tx: WriteTx, member: MemberRow) -> None:
        """Keep the member's current address in `member_emails` (none while deleted). Taking
        back an address it retired itself is allowed; one another member holds, current or
        retired, is refused (the member email Duplicate)."""
        e = t.member_emails
        connection = _c(tx)
        connection.execute(delete(e).where(e.c.member_id == member["id"], e.c.retired.is_(False)))
        if member["status"] == "deleted":
            return
        connection.execute(
            delete(e).where(
                e.c.member_id == member["id"],
                e.c.organization_id == member["organization_id"],
                e.c.email_lower == member["email_lower"],
            )
        )
        row: MemberEmailRow = {
            "organization_id": member["organization_id"],
            "email_lower": member["email_lower"],
            "member_id": member["id"],
            "email": member["email"],
            "email_id": None,
            "retired": False,
            "created_at": member["updated_at"],
        }
        self._insert(tx, e, row)

    def retire_member_email(
        self,
        tx: WriteTx,
        member: MemberRow,
        email_id: str,
        now: dt.datetime,
    ) -> None:
        """Record `member`'s address (as the row was before its email changed) as retired: no
        other member of the organization may take it."""
        row: MemberEmailRow = {
            "organization_id": member["organization_id"],
            "email_lower": member["email_lower"],
            "member_id": member["id"],
            "email": member["email"],
            "email_id": email_id,
            "retired": True,
            "created_at": now,
        }
        self._insert(tx, t.member_emails, row)

    def retired_emails(
        self, tx: ReadTx, member_ids: Iterable[str]
    ) -> dict[str, list[MemberEmailRow]]:
        ids = list(member_ids)
        out: dict[str, list[MemberEmailRow]] = {member_id: [] for member_id in ids}
        if not ids:
            return out
        e = t.member_emails
        rows = (
            _c(tx)
            .execute(
                select(e)
                .where(e.c.member_id.in_(ids), e.c.retired.is_(True))
                .order_by(e.c.created_at, e.c.email_lower)
            )
            .all()
        )
        for row in every(rows, MemberEmailRow):
            out[row["member_id"]].append(row)
        return out

    def find_member(self, tx: ReadTx, organization_id: str, ident: str) -> MemberRow | None:
        """By member id, else by external id (unique in the organization)."""
        return self.get_member(tx, organization_id, ident) or self.find_member_by_external_id(
            tx, organization_id, ident
        )

    def get_member(self, tx: ReadTx, organization_id: str, member_id: str) -> MemberRow | None:
        return one(
            _c(tx)
            .execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id, t.members.c.id == member_id
                )
            )
            .first(),
            MemberRow,
        )

    def get_member_by_id(self, tx: ReadTx, environment_id: str, member_id: str) -> MemberRow | None:
        return one(
            _c(tx)
            .execute(
                select(t.members).where(
                    t.members.c.environment_id == environment_id, t.members.c.id == member_id
                )
            )
            .first(),
            MemberRow,
        )

    def find_member_by_email(
        self, tx: ReadTx, organization_id: str, email: str, *, include_deleted: bool = False
    ) -> MemberRow | None:
        conditions = [
            t.members.c.organization_id == organization_id,
            t.members.c.email_lower == email.lower(),
        ]
        if not include_deleted:
            conditions.append(t.members.c.status != "deleted")
        return one(
            _c(tx)
            .execute(select(t.members).where(*conditions).order_by(t.members.c.created_at.desc()))
            .first(),
            MemberRow,
        )

    def find_member_by_external_id(
        self, tx: ReadTx, organization_id: str, external_id: str
    ) -> MemberRow | None:
        return one(
            _c(tx)
            .execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id,
                    t.members.c.external_id == external_id,
                )
            )
            .first(),
            MemberRow,
        )

    def find_member_by_password_id(
        self, tx: ReadTx, organization_id: str, password_id: str
    ) -> MemberRow | None:
        return one(
            _c(tx)
            .execute(
                select(t.members).where(
                    t.members.c.organization_id == organization_id,
                    t.members.c.password_id == password_id,
                    t.members.c.status != "deleted",
                )
            )
            .first(),
            MemberRow,
        )

    def search_members(
        self,
        tx: ReadTx,
        environment_id: str,
        organization_ids: list[str],
        query: SearchQuery | None,
        cursor: str | None,
        limit: int,
        include_deleted: bool,
        count: bool = True,
    ) -> tuple[list[MemberRow], int | None, str | None]:
        """A page in creation order, and (unless `count` is false) how many match in all."""
        m = t.members
        conditions = [
            m.c.environment_id == environment_id,
            m.c.organization_id.in_(organization_ids),
            search.build_condition(query, search.MEMBER_FILTERS),
        ]
        if not include_deleted:
            conditions.append(m.c.status != "deleted")
        where = and_(*conditions)
        total = (
            _c(tx).execute(select(func.count()).select_from(m).where(where)).scalar_one()
            if count
            else None
        )
        rows = (
            _c(tx)
            .execute(
                select(m)
                .where(where, search.after_cursor(m, cursor))
                .order_by(m.c.created_at, m.c.id)
                .limit(limit + 1)
            )
            .all()
        )
        return _page(rows, total, limit, MemberRow)

    def direct_roles(self, tx: ReadTx, member_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(member_ids)
        out: dict[str, list[str]] = {member_id: [] for member_id in ids}
        if not ids:
            return out
        rows = (
            _c(tx)
            .execute(
                select(t.member_roles.c.member_id, t.member_roles.c.role_id)
                .where(t.member_roles.c.member_id.in_(ids))
                .order_by(t.member_roles.c.role_id)
            )
            .all()
        )
        for member_id, role_id in rows:
            out[member_id].append(role_id)
        return out

    def set_direct_roles(
        self, tx: WriteTx, environment_id: str, member_id: str, role_ids: Iterable[str]
    ) -> None:
        _c(tx).execute(delete(t.member_roles).where(t.member_roles.c.member_id == member_id))
        rows = [
            {"member_id": member_id, "role_id": role_id, "environment_id": environment_id}
            for role_id in sorted(set(role_ids))
        ]
        if rows:
            _c(tx).execute(insert(t.member_roles), rows)
        changes.record(_c(tx), Change(environment_id, "member", member_id))

    def members_with_direct_role(self, tx: ReadTx, environment_id: str, role_id: str) -> list[str]:
        rows = (
            _c(tx)
            .execute(
                select(t.member_roles.c.member_id).where(
                    t.member_roles.c.environment_id == environment_id,
                    t.member_roles.c.role_id == role_id,
                )
            )
            .all()
        )
        return [r[0] for r in rows]

    def remove_direct_role(self, tx: WriteTx, environment_id: str, role_id: str) -> None:
        _c(tx).execute(
            delete(t.member_roles).where(
                t.member_roles.c.environment_id == environment_id,
                t.member_roles.c.role_id == role_id,
            )
        )
        # Many members at once: the environment's cached sessions all go.
        changes.record(_c(tx), Change(environment_id, "policy", environment_id))

    # -- sessions --------------------------------------------------------------------------

    def insert_session(self, tx: WriteTx, row: SessionRow) -> None:
        self._insert(tx, t.member_sessions, row)

    def get_session(self, tx: ReadTx, environment_id: str, session_id: str) -> SessionRow | None:
        s = t.member_sessions
        return one(
            _c(tx)
            .execute(select(s).where(s.c.environment_id == environment_id, s.c.id == session_id))
            .first(),
            SessionRow,
        )

    def find_session_by_token_hash(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> SessionRow | None:
        s = t.member_sessions
        return one(
            _c(tx)
            .execute(
                select(s).where(s.c.environment_id == environment_id, s.c.token_hash == token_hash)
            )
            .first(),
            SessionRow,
        )

    def update_session(self, tx: WriteTx, session_id: str, values: SessionValues) -> None:
        self._update(tx, t.member_sessions, session_id, values)
        if values:
            changes.record(_c(tx), Change("", "session", session_id))

    def active_sessions(self, tx: ReadTx, member_id: str, now: dt.datetime) -> list[SessionRow]:
        s = t.member_sessions
        rows = (
            _c(tx)
            .execute(
                select(s)
                .where(s.c.member_id == member_id, s.c.revoked_at.is_(None), s.c.expires_at > now)
                .order_by(s.c.started_at)
            )
            .all()
        )
        return every(rows, SessionRow)

    def revoke_member_sessions(self, tx: WriteTx, member_id: str, now: dt.datetime) -> int:
        s = t.member_sessions
        result = _c(tx).execute(
            update(s)
            .where(s.c.member_id == member_id, s.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        changes.record(_c(tx), Change("", "member", member_id))
        return result.rowcount

    # -- events ----------------------------------------------------------------------------

    def insert_event(self, tx: WriteTx, row: NewEvent) -> None:
        _c(tx).execute(insert(t.events).values(**row))

    def events(self, tx: ReadTx, environment_id: str, limit: int = 100) -> list[EventRow]:
        rows = (
            _c(tx)
            .execute(
                select(t.events)
                .where(t.events.c.environment_id == environment_id)
                .order_by(t.events.c.id.desc())
                .limit(limit)
            )
            .all()
        )
        return every(rows, EventRow)


def _page(
    rows: Sequence[Any], total: int | None, limit: int, shape: type[T]
) -> tuple[list[T], int | None, str | None]:
    """A page of `limit` rows (one more was read, to know whether there is a next page)."""
    items = every(rows[:limit], shape)
    next_cursor = None
    if len(rows) > limit and items:
        cursor_of: Mapping[str, Any] = dict(rows[limit - 1]._mapping)
        next_cursor = search.encode_cursor(cursor_of["created_at"], cursor_of["id"])
    return items, total, next_cursor
