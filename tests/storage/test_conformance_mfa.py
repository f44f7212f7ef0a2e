"""Conformance: members' second factors (MfaStore): one TOTP registration per member (held by
the database), each time step used once and never an earlier one, and recovery codes replaced
together and used once each."""

from __future__ import annotations

import pytest

from gatehouse.storage import Conflict, Store
from gatehouse.storage.rows import RecoveryCodeRow, TotpRow
from tests.storage.rows import (
    Tenant,
    at,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
)


def _totp(environment_id: str, member_id: str, n: int) -> TotpRow:
    return {
        "id": f"member-totp-{n}",
        "environment_id": environment_id,
        "member_id": member_id,
        "secret_sealed": "fernet:sealed",
        "verified": False,
        "last_used_step": None,
        "created_at": at(n),
        "expires_at": at(n + 3600),
    }


def _code(member_id: str, n: int) -> RecoveryCodeRow:
    return {
        "id": f"recovery-code-{member_id}-{n}",
        "member_id": member_id,
        "code_hash": f"digest-{member_id}-{n}",
        "created_at": at(0),
        "used_at": None,
    }


def test_a_member_has_one_totp_and_each_step_is_used_once(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    member = member_row(tenant.environment_id, org["id"])
    insert_members(store, member)
    row = _totp(tenant.environment_id, member["id"], 1)
    with store.transaction() as tx:
        store.insert_totp(tx, row)
    with pytest.raises(Conflict), store.transaction() as tx:
        store.insert_totp(tx, _totp(tenant.environment_id, member["id"], 2))
    with store.transaction() as tx:
        store.verify_totp(tx, row["id"])
        assert store.use_totp_step(tx, row["id"], 100)
        assert not store.use_totp_step(tx, row["id"], 100)
        assert not store.use_totp_step(tx, row["id"], 99)
        assert store.use_totp_step(tx, row["id"], 101)
    with store.read() as tx:
        found = store.member_totp(tx, member["id"])
    assert found == {**row, "verified": True, "last_used_step": 101}
    with store.transaction() as tx:
        assert store.replace_totp_secret(tx, row["id"], "fernet:other", "fernet:new") == 0
        assert store.replace_totp_secret(tx, row["id"], "fernet:sealed", "fernet:new") == 1
    with store.read() as tx:
        assert (row["id"], "fernet:new") in store.sealed_totp_secrets(tx)
    with store.transaction() as tx:
        assert store.delete_member_totp(tx, member["id"])
        assert not store.delete_member_totp(tx, member["id"])
    with store.read() as tx:
        assert store.member_totp(tx, member["id"]) is None


def test_recovery_codes_are_replaced_together_and_used_once(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    member = member_row(tenant.environment_id, org["id"])
    other = member_row(tenant.environment_id, org["id"])
    insert_members(store, member, other)
    with store.transaction() as tx:
        store.replace_recovery_codes(tx, member["id"], [_code(member["id"], n) for n in range(3)])
        store.replace_recovery_codes(tx, other["id"], [_code(other["id"], 0)])
    digest = f"digest-{member['id']}-1"
    with store.transaction() as tx:
        assert not store.use_recovery_code(tx, other["id"], digest, at(1))
        assert store.use_recovery_code(tx, member["id"], digest, at(1))
        assert not store.use_recovery_code(tx, member["id"], digest, at(2))
    with store.read() as tx:
        assert store.recovery_codes_left(tx, member["id"]) == 2
        assert store.recovery_codes_left(tx, other["id"]) == 1
    with store.transaction() as tx:
        store.replace_recovery_codes(tx, member["id"], [_code(member["id"], 7)])
    with store.read() as tx:
        assert store.recovery_codes_left(tx, member["id"]) == 1
    with store.transaction() as tx:
        assert not store.use_recovery_code(tx, member["id"], f"digest-{member['id']}-0", at(3))
