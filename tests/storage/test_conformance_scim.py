"""Conformance: SCIM storage (ScimStore): one connection per organization and unique token
digests (held by the database), users unique by `userName` (any case) per connection, groups and
their members, and a connection's delete taking its users and groups (not the members)."""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.errors import Code, Duplicate
from gatehouse.storage import Conflict, Store
from gatehouse.storage.rows import ScimConnectionRow, ScimGroupRow, ScimUserRow
from tests.storage.rows import (
    Tenant,
    at,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
)


def _connection(
    environment_id: str, organization_id: str, n: int, **fields: Any
) -> ScimConnectionRow:
    row: ScimConnectionRow = {
        "id": f"scim-connection-{n}",
        "environment_id": environment_id,
        "organization_id": organization_id,
        "display_name": "Okta",
        "identity_provider": "okta",
        "token_hash": f"token-{n}",
        "token_last_four": "abcd",
        "token_expires_at": None,
        "next_token_hash": None,
        "next_token_last_four": "",
        "next_token_expires_at": None,
        "group_roles": [],
        "created_at": at(n),
        "updated_at": at(n),
    }
    return {**row, **fields}  # type: ignore[typeddict-item]


def _user(connection_id: str, member_id: str, n: int, name: str) -> ScimUserRow:
    return {
        "id": f"scim-registration-{n}",
        "connection_id": connection_id,
        "member_id": member_id,
        "user_name_lower": name.lower(),
        "resource": {"userName": name},
        "created_at": at(n),
        "updated_at": at(n),
    }


def _group(connection_id: str, n: int) -> ScimGroupRow:
    return {
        "id": f"scim-group-{n}",
        "connection_id": connection_id,
        "display_name": f"Group {n}",
        "resource": {},
        "created_at": at(n),
        "updated_at": at(n),
    }


def test_connections_one_per_organization_found_updated_deleted(
    store: Store, tenant: Tenant
) -> None:
    org, other = organization_row(tenant.environment_id), organization_row(tenant.environment_id)
    insert_organizations(store, org, other)
    first = _connection(tenant.environment_id, org["id"], 1)
    with store.transaction() as tx:
        store.insert_scim_connection(tx, first)
    with pytest.raises(Duplicate) as taken, store.transaction() as tx:
        store.insert_scim_connection(tx, _connection(tenant.environment_id, org["id"], 2))
    assert taken.value.code is Code.DUPLICATE_SCIM_CONNECTION
    with pytest.raises(Conflict), store.transaction() as tx:  # the same token digest
        store.insert_scim_connection(
            tx, _connection(tenant.environment_id, other["id"], 3, token_hash="token-1")
        )
    with store.read() as tx:
        assert store.find_scim_connection(tx, org["id"]) == first
        assert store.find_scim_connection(tx, other["id"]) is None
        assert store.scim_connection_by_id(tx, first["id"]) == first
        assert store.scim_connection_by_id(tx, "nope") is None
    with store.transaction() as tx:
        store.update_scim_connection(
            tx,
            first["id"],
            {"display_name": "Entra", "group_roles": [{"group_id": "g", "role_id": "r"}]},
        )
    with store.read() as tx:
        found = store.scim_connection_by_id(tx, first["id"])
    assert found is not None and found["display_name"] == "Entra"
    assert found["group_roles"] == [{"group_id": "g", "role_id": "r"}]
    with store.transaction() as tx:
        store.delete_scim_connection(tx, first["id"])
    with store.read() as tx:
        assert store.find_scim_connection(tx, org["id"]) is None


def test_users_groups_and_members(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    ada = member_row(tenant.environment_id, org["id"], email="ada@example.com")
    bob = member_row(tenant.environment_id, org["id"], email="bob@example.com")
    insert_members(store, ada, bob)
    connection = _connection(tenant.environment_id, org["id"], 1)
    cid = connection["id"]
    with store.transaction() as tx:
        store.insert_scim_connection(tx, connection)
        store.insert_scim_user(tx, _user(cid, ada["id"], 1, "Ada"))
        store.insert_scim_user(tx, _user(cid, bob["id"], 2, "bob"))
    with pytest.raises(Duplicate) as taken, store.transaction() as tx:
        store.insert_scim_user(tx, _user(cid, ada["id"] + "x", 3, "ADA"))
    assert taken.value.code is Code.DUPLICATE_SCIM_USER_NAME
    with store.transaction() as tx:
        store.update_scim_user(tx, "scim-registration-2", "robert", {"userName": "Robert"}, at(9))
    with store.read() as tx:
        users = store.scim_users(tx, cid)
    assert [u["member_id"] for u in users] == [ada["id"], bob["id"]]
    assert (
        users[1]["resource"] == {"userName": "Robert"} and users[1]["user_name_lower"] == "robert"
    )

    with store.transaction() as tx:
        store.insert_scim_group(tx, _group(cid, 1))
        store.insert_scim_group(tx, _group(cid, 2))
        store.set_scim_group_members(tx, "scim-group-1", [ada["id"], bob["id"], ada["id"]])
        store.update_scim_group(tx, "scim-group-2", "Renamed", {"x": 1}, at(10))
    with store.read() as tx:
        groups = store.scim_groups(tx, cid)
        members = store.scim_group_members(tx, cid)
    assert [(g["id"], g["display_name"]) for g in groups] == [
        ("scim-group-1", "Group 1"),
        ("scim-group-2", "Renamed"),
    ]
    assert members == {"scim-group-1": sorted([ada["id"], bob["id"]]), "scim-group-2": []}
    with store.transaction() as tx:
        store.set_scim_group_members(tx, "scim-group-1", [bob["id"]])
        store.delete_scim_group(tx, "scim-group-2")
        store.delete_scim_user(tx, "scim-registration-1")
    with store.read() as tx:
        assert store.scim_group_members(tx, cid) == {"scim-group-1": [bob["id"]]}
        assert [u["member_id"] for u in store.scim_users(tx, cid)] == [bob["id"]]
    with store.transaction() as tx:
        store.delete_scim_connection(tx, cid)
    with store.read() as tx:
        assert store.scim_users(tx, cid) == [] and store.scim_groups(tx, cid) == []
        assert store.find_member(tx, org["id"], bob["id"]) is not None
