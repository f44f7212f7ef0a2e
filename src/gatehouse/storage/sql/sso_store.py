"""SSO storage (SsoStore): SAML and OIDC connections, member SSO registrations, issued
AuthnRequests and OIDC authorization requests, seen assertion ids and SSO tokens. Mixed into
SqlStore."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gatehouse.storage.interface import ReadTx, WriteTx
from gatehouse.storage.rows import (
    OidcConnectionRow,
    OidcRequestRow,
    SamlConnectionRow,
    SamlRequestRow,
    SsoRegistrationRow,
    SsoTokenRow,
)
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.tx import every, one


class SqlSsoStore:
    """Mixed into SqlStore; relies on its `_insert` and `_update`."""

    def _insert(
        self, tx: WriteTx, table: Table, row: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _update(
        self, tx: WriteTx, table: Table, row_id: str, values: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _org_changed(self, tx: WriteTx, organization_id: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _connection_changed(self, tx: WriteTx, connection_id: str) -> None:
        """A connection's implicit roles (or a registration's groups) feed the roles of the
        organization's sessions: cached sessions of the organization are stale."""
        s = t.saml_connections
        org_id = _c(tx).execute(select(s.c.organization_id).where(s.c.id == connection_id)).scalar()
        if org_id is not None:
            self._org_changed(tx, str(org_id))

    # -- connections -----------------------------------------------------------------------

    def insert_saml_connection(self, tx: WriteTx, row: SamlConnectionRow) -> None:
        self._insert(tx, t.saml_connections, row)

    def get_saml_connection(
        self, tx: ReadTx, environment_id: str | None, connection_id: str
    ) -> SamlConnectionRow | None:
        s = t.saml_connections
        query = select(s).where(s.c.id == connection_id)
        if environment_id is not None:
            query = query.where(s.c.environment_id == environment_id)
        return one(_c(tx).execute(query).first(), SamlConnectionRow)

    def saml_connections(self, tx: ReadTx, organization_id: str) -> list[SamlConnectionRow]:
        s = t.saml_connections
        query = (
            select(s).where(s.c.organization_id == organization_id).order_by(s.c.created_at, s.c.id)
        )
        return every(_c(tx).execute(query).all(), SamlConnectionRow)

    def update_saml_connection(
        self, tx: WriteTx, connection_id: str, values: Mapping[str, Any]
    ) -> None:
        self._update(tx, t.saml_connections, connection_id, values)
        self._connection_changed(tx, connection_id)

    def delete_saml_connection(self, tx: WriteTx, connection_id: str) -> None:
        self._connection_changed(tx, connection_id)
        self._delete_registrations(tx, connection_id)
        s = t.saml_connections
        _c(tx).execute(delete(s).where(s.c.id == connection_id))

    def _delete_registrations(self, tx: WriteTx, connection_id: str) -> None:
        """A connection's registrations go with it (and their SSO tokens, by cascade): no
        foreign key does it since a registration may name either kind of connection."""
        r = t.sso_registrations
        _c(tx).execute(delete(r).where(r.c.connection_id == connection_id))

    # -- OIDC connections ------------------------------------------------------------------

    def insert_oidc_connection(self, tx: WriteTx, row: OidcConnectionRow) -> None:
        self._insert(tx, t.oidc_connections, row)

    def get_oidc_connection(
        self, tx: ReadTx, environment_id: str | None, connection_id: str
    ) -> OidcConnectionRow | None:
        o = t.oidc_connections
        query = select(o).where(o.c.id == connection_id)
        if environment_id is not None:
            query = query.where(o.c.environment_id == environment_id)
        return one(_c(tx).execute(query).first(), OidcConnectionRow)

    def oidc_connections(self, tx: ReadTx, organization_id: str) -> list[OidcConnectionRow]:
        o = t.oidc_connections
        query = (
            select(o).where(o.c.organization_id == organization_id).order_by(o.c.created_at, o.c.id)
        )
        return every(_c(tx).execute(query).all(), OidcConnectionRow)

    def update_oidc_connection(
        self, tx: WriteTx, connection_id: str, values: Mapping[str, Any]
    ) -> None:
        self._update(tx, t.oidc_connections, connection_id, values)

    def delete_oidc_connection(self, tx: WriteTx, connection_id: str) -> None:
        o = t.oidc_connections
        org_id = _c(tx).execute(select(o.c.organization_id).where(o.c.id == connection_id)).scalar()
        self._delete_registrations(tx, connection_id)
        _c(tx).execute(delete(o).where(o.c.id == connection_id))
        if org_id is not None:
            self._org_changed(tx, str(org_id))

    def insert_oidc_request(self, tx: WriteTx, row: OidcRequestRow) -> None:
        self._insert(tx, t.oidc_requests, row)

    def find_oidc_request(self, tx: ReadTx, request_id: str) -> OidcRequestRow | None:
        q = t.oidc_requests
        return one(_c(tx).execute(select(q).where(q.c.id == request_id)).first(), OidcRequestRow)

    def use_oidc_request(self, tx: WriteTx, request_id: str, now: dt.datetime) -> bool:
        q = t.oidc_requests
        result = _c(tx).execute(
            update(q).where(q.c.id == request_id, q.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1

    # -- registrations ---------------------------------------------------------------------

    def insert_sso_registration(self, tx: WriteTx, row: SsoRegistrationRow) -> None:
        self._insert(tx, t.sso_registrations, row)
        self._connection_changed(tx, row["connection_id"])

    def update_sso_registration(
        self, tx: WriteTx, registration_id: str, values: Mapping[str, Any]
    ) -> None:
        self._update(tx, t.sso_registrations, registration_id, values)
        r = t.sso_registrations
        connection_id = (
            _c(tx).execute(select(r.c.connection_id).where(r.c.id == registration_id)).scalar()
        )
        if connection_id is not None:
            self._connection_changed(tx, str(connection_id))

    def find_sso_registration(
        self, tx: ReadTx, connection_id: str, external_id: str
    ) -> SsoRegistrationRow | None:
        r = t.sso_registrations
        query = select(r).where(r.c.connection_id == connection_id, r.c.external_id == external_id)
        return one(_c(tx).execute(query).first(), SsoRegistrationRow)

    def get_sso_registration(self, tx: ReadTx, registration_id: str) -> SsoRegistrationRow | None:
        r = t.sso_registrations
        return one(
            _c(tx).execute(select(r).where(r.c.id == registration_id)).first(), SsoRegistrationRow
        )

    def sso_registrations(
        self, tx: ReadTx, member_ids: Sequence[str]
    ) -> dict[str, list[SsoRegistrationRow]]:
        found: dict[str, list[SsoRegistrationRow]] = {m: [] for m in member_ids}
        if not member_ids:
            return found
        r = t.sso_registrations
        query = (
            select(r).where(r.c.member_id.in_(list(member_ids))).order_by(r.c.created_at, r.c.id)
        )
        for row in every(_c(tx).execute(query).all(), SsoRegistrationRow):
            found[row["member_id"]].append(row)
        return found

    # -- AuthnRequests, seen assertions ----------------------------------------------------

    def insert_saml_request(self, tx: WriteTx, row: SamlRequestRow) -> None:
        self._insert(tx, t.saml_requests, row)

    def find_saml_request(self, tx: ReadTx, request_id: str) -> SamlRequestRow | None:
        q = t.saml_requests
        return one(_c(tx).execute(select(q).where(q.c.id == request_id)).first(), SamlRequestRow)

    def use_saml_request(self, tx: WriteTx, request_id: str, now: dt.datetime) -> bool:
        q = t.saml_requests
        result = _c(tx).execute(
            update(q).where(q.c.id == request_id, q.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1

    def remember_assertion(
        self,
        tx: WriteTx,
        connection_id: str,
        assertion_id: str,
        expires_at: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        """Record an accepted assertion id; False when it was already seen (a replay). Ids
        whose assertions have expired are forgotten."""
        a = t.saml_seen_assertions
        connection = _c(tx)
        connection.execute(delete(a).where(a.c.expires_at < now))
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(a).values(
                        connection_id=connection_id,
                        assertion_id=assertion_id,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- SSO tokens ------------------------------------------------------------------------

    def insert_sso_token(self, tx: WriteTx, row: SsoTokenRow) -> None:
        self._insert(tx, t.sso_tokens, row)

    def find_sso_token(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> SsoTokenRow | None:
        s = t.sso_tokens
        query = select(s).where(s.c.environment_id == environment_id, s.c.token_hash == token_hash)
        return one(_c(tx).execute(query).first(), SsoTokenRow)

    def use_sso_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool:
        s = t.sso_tokens
        result = _c(tx).execute(
            update(s).where(s.c.id == token_id, s.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1
