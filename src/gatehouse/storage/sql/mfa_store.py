"""Members' second factors (MfaStore): TOTP registrations and recovery codes. Mixed into
SqlStore."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update

from gatehouse.storage.interface import ReadTx, WriteTx
from gatehouse.storage.rows import RecoveryCodeRow, TotpRow
from gatehouse.storage.sql import tables as t
from gatehouse.storage.sql.tx import conn as _c
from gatehouse.storage.sql.tx import one


class SqlMfaStore:
    """Mixed into SqlStore; relies on its `_insert`."""

    def _insert(
        self, tx: WriteTx, table: Table, row: Mapping[str, Any]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def insert_totp(self, tx: WriteTx, row: TotpRow) -> None:
        self._insert(tx, t.member_totps, row)

    def member_totp(self, tx: ReadTx, member_id: str) -> TotpRow | None:
        m = t.member_totps
        return one(_c(tx).execute(select(m).where(m.c.member_id == member_id)).first(), TotpRow)

    def delete_member_totp(self, tx: WriteTx, member_id: str) -> bool:
        m = t.member_totps
        return _c(tx).execute(delete(m).where(m.c.member_id == member_id)).rowcount > 0

    def verify_totp(self, tx: WriteTx, totp_id: str) -> None:
        m = t.member_totps
        _c(tx).execute(update(m).where(m.c.id == totp_id).values(verified=True))

    def use_totp_step(self, tx: WriteTx, totp_id: str, step: int) -> bool:
        m = t.member_totps
        result = _c(tx).execute(
            update(m)
            .where(
                m.c.id == totp_id,
                or_(m.c.last_used_step.is_(None), m.c.last_used_step < step),
            )
            .values(last_used_step=step)
        )
        return result.rowcount == 1

    def sealed_totp_secrets(self, tx: ReadTx) -> list[tuple[str, str]]:
        m = t.member_totps
        rows = _c(tx).execute(select(m.c.id, m.c.secret_sealed).order_by(m.c.id)).all()
        return [(str(r.id), str(r.secret_sealed)) for r in rows]

    def replace_totp_secret(self, tx: WriteTx, totp_id: str, old: str, new: str) -> int:
        m = t.member_totps
        result = _c(tx).execute(
            update(m).where(m.c.id == totp_id, m.c.secret_sealed == old).values(secret_sealed=new)
        )
        return int(result.rowcount)

    def replace_recovery_codes(
        self, tx: WriteTx, member_id: str, rows: list[RecoveryCodeRow]
    ) -> None:
        r = t.member_recovery_codes
        _c(tx).execute(delete(r).where(r.c.member_id == member_id))
        for row in rows:
            self._insert(tx, r, row)

    def recovery_codes_left(self, tx: ReadTx, member_id: str) -> int:
        r = t.member_recovery_codes
        query = select(func.count()).where(r.c.member_id == member_id, r.c.used_at.is_(None))
        return int(_c(tx).execute(query).scalar() or 0)

    def use_recovery_code(
        self, tx: WriteTx, member_id: str, code_hash: str, now: dt.datetime
    ) -> bool:
        r = t.member_recovery_codes
        result = _c(tx).execute(
            update(r)
            .where(r.c.member_id == member_id, r.c.code_hash == code_hash, r.c.used_at.is_(None))
            .values(used_at=now)
        )
        return result.rowcount == 1
