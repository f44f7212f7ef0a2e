"""Conformance: the member email flows' storage (EmailFlowStore): email tokens and codes (single
use, newest first, attempts counted), intermediate sessions (single use), members found by
address across an environment, and redirect URLs (one default per type, held by the database)."""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.storage import Conflict, Store
from gatehouse.storage.rows import IntermediateSessionRow, MemberEmailTokenRow
from tests.storage.rows import (
    Tenant,
    at,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
)


def _token(environment_id: str, n: int, **fields: Any) -> MemberEmailTokenRow:
    row: MemberEmailTokenRow = {
        "id": f"member-email-token-{n}",
        "environment_id": environment_id,
        "organization_id": None,
        "member_id": None,
        "purpose": "login",
        "token_hash": f"hash-{n}",
        "email": "Ada@Example.com",
        "email_lower": "ada@example.com",
        "pkce_challenge": None,
        "attempts": 0,
        "created_at": at(n),
        "expires_at": at(n + 600),
        "used_at": None,
    }
    return {**row, **fields}  # type: ignore[typeddict-item]


def test_email_tokens_are_found_by_digest_newest_by_address_and_used_once(
    store: Store, tenant: Tenant
) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    member = member_row(tenant.environment_id, org["id"], email="ada@example.com")
    insert_members(store, member)
    older = _token(tenant.environment_id, 1, organization_id=org["id"], member_id=member["id"])
    newer = _token(tenant.environment_id, 2, organization_id=org["id"], pkce_challenge="challenge")
    discovery = _token(tenant.environment_id, 3, purpose="discovery")
    with store.transaction() as tx:
        for row in (older, newer, discovery):
            store.insert_member_email_token(tx, row)
    with store.read() as tx:
        assert store.find_member_email_token(tx, tenant.environment_id, "hash-1") == older
        assert store.find_member_email_token(tx, tenant.other_environment_id, "hash-1") is None
        assert store.find_member_email_token(tx, tenant.environment_id, "nope") is None
        latest = store.latest_member_email_token(
            tx, tenant.environment_id, org["id"], "ADA@example.com", "login"
        )
        assert latest == newer
        assert (
            store.latest_member_email_token(
                tx, tenant.environment_id, None, "ada@example.com", "discovery"
            )
            == discovery
        )
        assert (
            store.latest_member_email_token(
                tx, tenant.environment_id, None, "ada@example.com", "login"
            )
            is None
        )
    with store.transaction() as tx:
        assert store.use_member_email_token(tx, older["id"], at(5))
        assert not store.use_member_email_token(tx, older["id"], at(6))
        assert store.count_member_email_token_attempt(tx, newer["id"]) == 1
        assert store.count_member_email_token_attempt(tx, newer["id"]) == 2
    with store.read() as tx:
        used = store.find_member_email_token(tx, tenant.environment_id, "hash-1")
        tried = store.find_member_email_token(tx, tenant.environment_id, "hash-2")
    assert used is not None and used["used_at"] == at(5)
    assert tried is not None and tried["attempts"] == 2
    with pytest.raises(Conflict), store.transaction() as tx:
        store.insert_member_email_token(tx, _token(tenant.environment_id, 9, token_hash="hash-1"))


def test_intermediate_sessions_are_found_by_digest_and_used_once(
    store: Store, tenant: Tenant
) -> None:
    row: IntermediateSessionRow = {
        "id": "intermediate-session-1",
        "environment_id": tenant.environment_id,
        "token_hash": "ist-hash",
        "email": "ada@example.com",
        "authentication_factors": [{"type": "magic_link"}],
        "created_at": at(0),
        "expires_at": at(600),
        "used_at": None,
        "organization_id": None,
        "member_id": None,
    }
    with store.transaction() as tx:
        store.insert_intermediate_session(tx, row)
    with store.read() as tx:
        assert store.find_intermediate_session(tx, tenant.environment_id, "ist-hash") == row
        assert store.find_intermediate_session(tx, tenant.other_environment_id, "ist-hash") is None
    with store.transaction() as tx:
        assert store.use_intermediate_session(tx, row["id"], at(1))
        assert not store.use_intermediate_session(tx, row["id"], at(2))


def test_members_by_email_spans_organizations_and_skips_the_deleted(
    store: Store, tenant: Tenant
) -> None:
    first, second = organization_row(tenant.environment_id), organization_row(tenant.environment_id)
    insert_organizations(store, first, second)
    a = member_row(tenant.environment_id, first["id"], email="Ada@example.com", created_at=at(1))
    b = member_row(tenant.environment_id, second["id"], email="ada@EXAMPLE.com", created_at=at(2))
    gone = member_row(
        tenant.environment_id, second["id"], email="ada@example.com", status="deleted"
    )
    insert_members(store, a, b, gone)
    with store.read() as tx:
        found = store.members_by_email(tx, tenant.environment_id, "ADA@example.com")
        assert [m["id"] for m in found] == [a["id"], b["id"]]
        assert store.members_by_email(tx, tenant.other_environment_id, "ada@example.com") == []


def test_redirect_urls_hold_one_default_per_type(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    with store.transaction() as tx:
        store.put_redirect_url(tx, env, "https://a.test/cb", {"LOGIN": True, "SIGNUP": True}, at(1))
        store.put_redirect_url(tx, env, "https://b.test/cb", {"LOGIN": False}, at(2))
    with pytest.raises(Conflict), store.transaction() as tx:
        store.put_redirect_url(tx, env, "https://b.test/cb", {"LOGIN": True}, at(3))
    with store.read() as tx:
        rows = store.redirect_urls(tx, env)
        assert store.redirect_urls(tx, tenant.other_environment_id) == []
    assert [(r["url"], r["type"], r["is_default"]) for r in rows] == [
        ("https://a.test/cb", "LOGIN", True),
        ("https://a.test/cb", "SIGNUP", True),
        ("https://b.test/cb", "LOGIN", False),
    ]
    with store.transaction() as tx:
        store.clear_redirect_default(tx, env, "LOGIN")
        store.put_redirect_url(tx, env, "https://b.test/cb", {"LOGIN": True, "INVITE": True}, at(4))
    with store.read() as tx:
        rows = store.redirect_urls(tx, env)
    assert {(r["url"], r["type"], r["is_default"]) for r in rows} == {
        ("https://a.test/cb", "LOGIN", False),
        ("https://a.test/cb", "SIGNUP", True),
        ("https://b.test/cb", "LOGIN", True),
        ("https://b.test/cb", "INVITE", True),
    }
    # Rewriting a URL keeps when it was first registered.
    assert {r["created_at"] for r in rows if r["url"] == "https://b.test/cb"} == {at(2)}
    with store.transaction() as tx:
        assert store.delete_redirect_url(tx, env, "https://a.test/cb")
        assert not store.delete_redirect_url(tx, env, "https://a.test/cb")
    with store.read() as tx:
        assert {r["url"] for r in store.redirect_urls(tx, env)} == {"https://b.test/cb"}
