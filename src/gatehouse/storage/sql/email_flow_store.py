"""The member email flows' storage (EmailFlowStore): email tokens and codes, intermediate
sessions, redirect URLs. Mixed into SqlStore."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete, select, update

from gatehouse.storage.interface import ReadTx, WriteTx
from gatehouse.storage.rows import (
    IntermediateSessionRow,
    MemberEmailTokenRow,
    MemberRow,
    RedirectUrlRow,
)
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.tx import every, one


class SqlEmailFlowStore:
    """Mixed into SqlStore; relies on its `_insert`."""

    def _insert(
        self, tx: WriteTx, table: Table, row: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- email tokens and codes ------------------------------------------------------------

    def insert_member_email_token(self, tx: WriteTx, row: MemberEmailTokenRow) -> None:
        self._insert(tx, t.member_email_tokens, row)

    def find_member_email_token(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> MemberEmailTokenRow | None:
        e = t.member_email_tokens
        query = select(e).where(e.c.environment_id == environment_id, e.c.token_hash == token_hash)
        return one(_c(tx).execute(query).first(), MemberEmailTokenRow)

    def latest_member_email_token(
        self,
        tx: ReadTx,
        environment_id: str,
        organization_id: str | None,
        email: str,
        purpose: str,
    ) -> MemberEmailTokenRow | None:
        e = t.member_email_tokens
        org = (
            e.c.organization_id.is_(None)
            if organization_id is None
            else e.c.organization_id == organization_id
        )
        query = (
            select(e)
            .where(
                e.c.environment_id == environment_id,
                e.c.email_lower == email.lower(),
                e.c.purpose == purpose,
                org,
            )
            .order_by(e.c.created_at.desc(), e.c.id.desc())
            .limit(1)
        )
        return one(_c(tx).execute(query).first(), MemberEmailTokenRow)

    def use_member_email_token(self, tx: WriteTx, token_id: str, now: dt.datetime) -> bool:
        e = t.member_email_tokens
        result = _c(tx).execute(
            update(e).where(e.c.id == token_id, e.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1

    def count_member_email_token_attempt(self, tx: WriteTx, token_id: str) -> int:
        e = t.member_email_tokens
        connection = _c(tx)
        connection.execute(update(e).where(e.c.id == token_id).values(attempts=e.c.attempts + 1))
        count = connection.execute(select(e.c.attempts).where(e.c.id == token_id)).scalar()
        return int(count or 0)

    # -- intermediate sessions -------------------------------------------------------------

    def insert_intermediate_session(self, tx: WriteTx, row: IntermediateSessionRow) -> None:
        self._insert(tx, t.intermediate_sessions, row)

    def find_intermediate_session(
        self, tx: ReadTx, environment_id: str, token_hash: str
    ) -> IntermediateSessionRow | None:
        i = t.intermediate_sessions
        query = select(i).where(i.c.environment_id == environment_id, i.c.token_hash == token_hash)
        return one(_c(tx).execute(query).first(), IntermediateSessionRow)

    def use_intermediate_session(self, tx: WriteTx, session_id: str, now: dt.datetime) -> bool:
        i = t.intermediate_sessions
        result = _c(tx).execute(
            update(i).where(i.c.id == session_id, i.c.used_at.is_(None)).values(used_at=now)
        )
        return result.rowcount == 1

    def members_by_email(self, tx: ReadTx, environment_id: str, email: str) -> list[MemberRow]:
        m = t.members
        query = (
            select(m)
            .where(
                m.c.environment_id == environment_id,
                m.c.email_lower == email.lower(),
                m.c.status != "deleted",
            )
            .order_by(m.c.created_at, m.c.id)
        )
        return every(_c(tx).execute(query).all(), MemberRow)

    # -- redirect URLs ---------------------------------------------------------------------

    def redirect_urls(self, tx: ReadTx, environment_id: str) -> list[RedirectUrlRow]:
        r = t.redirect_urls
        query = (
            select(r)
            .where(r.c.environment_id == environment_id)
            .order_by(r.c.created_at, r.c.url, r.c.type)
        )
        return every(_c(tx).execute(query).all(), RedirectUrlRow)

    def put_redirect_url(
        self, tx: WriteTx, environment_id: str, url: str, types: dict[str, bool], now: dt.datetime
    ) -> None:
        r = t.redirect_urls
        connection = _c(tx)
        existing = {
            row.type: row.created_at
            for row in connection.execute(
                select(r.c.type, r.c.created_at).where(
                    r.c.environment_id == environment_id, r.c.url == url
                )
            )
        }
        created = min(existing.values(), default=now)
        connection.execute(delete(r).where(r.c.environment_id == environment_id, r.c.url == url))
        for url_type, is_default in sorted(types.items()):
            row: RedirectUrlRow = {
                "environment_id": environment_id,
                "url": url,
                "type": url_type,
                "is_default": is_default,
                "created_at": created,
            }
            self._insert(tx, r, row)

    def clear_redirect_default(self, tx: WriteTx, environment_id: str, url_type: str) -> None:
        r = t.redirect_urls
        _c(tx).execute(
            update(r)
            .where(r.c.environment_id == environment_id, r.c.type == url_type)
            .values(is_default=False)
        )

    def delete_redirect_url(self, tx: WriteTx, environment_id: str, url: str) -> bool:
        r = t.redirect_urls
        result = _c(tx).execute(
            delete(r).where(r.c.environment_id == environment_id, r.c.url == url)
        )
        return result.rowcount > 0
