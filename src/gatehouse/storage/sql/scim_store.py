"""SCIM connections and what they provision (ScimStore). Mixed into SqlStore."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete, select

from gatehouse.storage.interface import Change, ReadTx, WriteTx
from gatehouse.storage.rows import (
    JsonObject,
    ScimConnectionRow,
    ScimConnectionValues,
    ScimGroupRow,
    ScimUserRow,
)
from gatehouse.storage.sql import changes
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.tx import every, one


class SqlScimStore:
    """Mixed into SqlStore; relies on its `_insert` and `_update`."""

    def _insert(
        self, tx: WriteTx, table: Table, row: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def _update(
        self, tx: WriteTx, table: Table, row_id: str, values: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def insert_scim_connection(self, tx: WriteTx, row: ScimConnectionRow) -> None:
        self._insert(tx, t.scim_connections, row)

    def find_scim_connection(self, tx: ReadTx, organization_id: str) -> ScimConnectionRow | None:
        c = t.scim_connections
        query = select(c).where(c.c.organization_id == organization_id)
        return one(_c(tx).execute(query).first(), ScimConnectionRow)

    def scim_connection_by_id(self, tx: ReadTx, connection_id: str) -> ScimConnectionRow | None:
        c = t.scim_connections
        return one(
            _c(tx).execute(select(c).where(c.c.id == connection_id)).first(), ScimConnectionRow
        )

    def update_scim_connection(
        self, tx: WriteTx, connection_id: str, values: ScimConnectionValues
    ) -> None:
        self._update(tx, t.scim_connections, connection_id, values)

    def delete_scim_connection(self, tx: WriteTx, connection_id: str) -> None:
        # The members' group rows go with the groups (cascade); their roles were recomputed by
        # the service, which also cleared `members.scim`.
        _c(tx).execute(delete(t.scim_connections).where(t.scim_connections.c.id == connection_id))

    def scim_users(self, tx: ReadTx, connection_id: str) -> list[ScimUserRow]:
        u = t.scim_users
        query = select(u).where(u.c.connection_id == connection_id).order_by(u.c.created_at, u.c.id)
        return every(_c(tx).execute(query), ScimUserRow)

    def insert_scim_user(self, tx: WriteTx, row: ScimUserRow) -> None:
        self._insert(tx, t.scim_users, row)

    def update_scim_user(
        self,
        tx: WriteTx,
        user_id: str,
        user_name_lower: str,
        resource: JsonObject,
        now: dt.datetime,
    ) -> None:
        values = {"user_name_lower": user_name_lower, "resource": resource, "updated_at": now}
        self._update(tx, t.scim_users, user_id, values)

    def delete_scim_user(self, tx: WriteTx, user_id: str) -> None:
        _c(tx).execute(delete(t.scim_users).where(t.scim_users.c.id == user_id))

    def scim_groups(self, tx: ReadTx, connection_id: str) -> list[ScimGroupRow]:
        g = t.scim_groups
        query = select(g).where(g.c.connection_id == connection_id).order_by(g.c.created_at, g.c.id)
        return every(_c(tx).execute(query), ScimGroupRow)

    def insert_scim_group(self, tx: WriteTx, row: ScimGroupRow) -> None:
        self._insert(tx, t.scim_groups, row)

    def update_scim_group(
        self, tx: WriteTx, group_id: str, display_name: str, resource: JsonObject, now: dt.datetime
    ) -> None:
        values = {"display_name": display_name, "resource": resource, "updated_at": now}
        self._update(tx, t.scim_groups, group_id, values)

    def delete_scim_group(self, tx: WriteTx, group_id: str) -> None:
        connection = _c(tx)
        m = t.scim_group_members
        for (member_id,) in connection.execute(
            select(m.c.member_id).where(m.c.group_id == group_id)
        ):
            changes.record(connection, Change("", "member", member_id))
        connection.execute(delete(m).where(m.c.group_id == group_id))
        connection.execute(delete(t.scim_groups).where(t.scim_groups.c.id == group_id))

    def scim_group_members(self, tx: ReadTx, connection_id: str) -> dict[str, list[str]]:
        g, m = t.scim_groups, t.scim_group_members
        found: dict[str, list[str]] = {
            group_id: []
            for (group_id,) in _c(tx).execute(
                select(g.c.id).where(g.c.connection_id == connection_id)
            )
        }
        query = (
            select(m.c.group_id, m.c.member_id)
            .join(g, g.c.id == m.c.group_id)
            .where(g.c.connection_id == connection_id)
            .order_by(m.c.member_id)
        )
        for group_id, member_id in _c(tx).execute(query):
            found.setdefault(group_id, []).append(member_id)
        return found

    def set_scim_group_members(self, tx: WriteTx, group_id: str, member_ids: list[str]) -> None:
        connection = _c(tx)
        m = t.scim_group_members
        connection.execute(delete(m).where(m.c.group_id == group_id))
        for member_id in dict.fromkeys(member_ids):
            connection.execute(m.insert().values(group_id=group_id, member_id=member_id))
