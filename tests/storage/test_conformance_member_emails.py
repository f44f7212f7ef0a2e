"""Conformance: a member found by id or external id, and retired email addresses (an address a
member changed away from stays theirs: no other member of the organization may take it)."""

from __future__ import annotations

import pytest

from gatehouse.storage import Conflict, Store
from tests.storage.rows import (
    Tenant,
    at,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
)


def test_find_member_takes_the_id_or_the_external_id_within_the_organization(
    store: Store, tenant: Tenant
) -> None:
    org, other = organization_row(tenant.environment_id), organization_row(tenant.environment_id)
    insert_organizations(store, org, other)
    member = member_row(tenant.environment_id, org["id"], external_id="ext-1")
    elsewhere = member_row(tenant.environment_id, other["id"], external_id="ext-2")
    insert_members(store, member, elsewhere)
    with store.read() as tx:
        by_id = store.find_member(tx, org["id"], member["id"])
        by_external_id = store.find_member(tx, org["id"], "ext-1")
        assert by_id is not None and by_external_id is not None
        assert by_id["id"] == by_external_id["id"] == member["id"]
        assert store.find_member(tx, org["id"], "ext-2") is None  # another organization's
        assert store.find_member(tx, org["id"], elsewhere["id"]) is None
        assert store.find_member(tx, org["id"], "nobody") is None


def test_a_retired_address_is_listed_in_order_and_no_other_member_may_take_it(
    store: Store, tenant: Tenant
) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    member = member_row(tenant.environment_id, org["id"], email="Old@Example.com")
    other = member_row(tenant.environment_id, org["id"], email="someone@example.com")
    insert_members(store, member, other)
    with store.transaction() as tx:
        # As the members service changes an email: the row moves, then the old one retires.
        store.update_member(
            tx, member["id"], {"email": "new@example.com", "email_lower": "new@example.com"}
        )
        store.retire_member_email(tx, member, "email-test-1", at(10))
        changed = store.get_member(tx, org["id"], member["id"])
        assert changed is not None
        store.update_member(
            tx, member["id"], {"email": "newer@example.com", "email_lower": "newer@example.com"}
        )
        store.retire_member_email(tx, changed, "email-test-2", at(20))
    with store.read() as tx:
        retired = store.retired_emails(tx, [member["id"], other["id"], "member-test-none"])
    assert [(e["email"], e["email_id"], e["retired"]) for e in retired[member["id"]]] == [
        ("Old@Example.com", "email-test-1", True),
        ("new@example.com", "email-test-2", True),
    ]
    assert retired[other["id"]] == [] and retired["member-test-none"] == []
    assert retired[member["id"]][0]["created_at"] == at(10)
    with store.read() as tx:
        assert store.retired_emails(tx, []) == {}
    with store.transaction() as tx, pytest.raises(Conflict):
        store.update_member(
            tx, other["id"], {"email": "OLD@example.com", "email_lower": "old@example.com"}
        )
    with store.read() as tx:
        unchanged = store.get_member(tx, org["id"], other["id"])
    assert unchanged is not None and unchanged["email"] == "someone@example.com"
