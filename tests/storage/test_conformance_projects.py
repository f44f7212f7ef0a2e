"""The storage conformance suite, continued: a workspace's projects, their environments and
secrets as the Management API sees them (the ProjectStore methods test_conformance.py leaves
out), on whichever backend the environment selects (see test_conformance.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.storage import Conflict, DuplicateValue, Store
from tests.storage.rows import (
    Tenant,
    assert_same_row,
    at,
    environment_row,
    member_row,
    organization_row,
    project_row,
    secret_row,
    session_row,
    signing_key_row,
    workspace_row,
)


def stored_project(row: dict[str, Any]) -> dict[str, Any]:
    """A project as it reads back: `vertical` defaults to B2B."""
    return {"vertical": "B2B"} | row


def info(row: dict[str, Any]) -> dict[str, Any]:
    """An environment as `environments_of` and `get_environment_by_slug` return it."""
    return {k: v for k, v in row.items() if k != "policy"}


# -- projects --------------------------------------------------------------------------------


def test_projects_list_in_creation_order_and_stay_in_their_workspace(store: Store) -> None:
    workspace = workspace_row()
    other_workspace = workspace_row(created_at=at(1))
    # Two created at the same instant: ties are broken by id.
    bravo = project_row(workspace["id"], id="project-b", slug="bravo", created_at=at(5))
    alpha = project_row(workspace["id"], id="project-a", slug="alpha", created_at=at(5))
    first = project_row(workspace["id"], slug="first", name="First", created_at=at(1))
    same_slug_elsewhere = project_row(other_workspace["id"], slug="alpha")
    with store.transaction() as tx:
        store.insert_workspace(tx, workspace)
        store.insert_workspace(tx, other_workspace)
        assert store.list_projects(tx, workspace["id"]) == []
        for row in (bravo, alpha, first, same_slug_elsewhere):
            store.insert_project(tx, row)

    with store.read() as tx:
        listed = store.list_projects(tx, workspace["id"])
        elsewhere = store.list_projects(tx, other_workspace["id"])
        by_slug = store.get_project_by_slug(tx, workspace["id"], "alpha")
        by_slug_elsewhere = store.get_project_by_slug(tx, other_workspace["id"], "alpha")
        assert store.get_project_by_slug(tx, workspace["id"], "missing") is None
        assert store.get_project_by_slug(tx, "workspace-test-missing", "alpha") is None
        assert store.list_projects(tx, "workspace-test-missing") == []
    assert [p["id"] for p in listed] == [first["id"], "project-a", "project-b"]
    for got, written in zip(listed, (first, alpha, bravo), strict=True):
        assert_same_row(got, stored_project(written))
    assert [p["id"] for p in elsewhere] == [same_slug_elsewhere["id"]]
    assert_same_row(by_slug, stored_project(alpha))
    assert_same_row(by_slug_elsewhere, stored_project(same_slug_elsewhere))


def test_update_project(store: Store, tenant: Tenant) -> None:
    taken = project_row(tenant.workspace_id, slug="taken")
    other_workspace = workspace_row()
    elsewhere = project_row(other_workspace["id"], slug="free-here")
    with store.transaction() as tx:
        store.insert_project(tx, taken)
        store.insert_workspace(tx, other_workspace)
        store.insert_project(tx, elsewhere)
        before = store.get_project_by_slug(tx, tenant.workspace_id, tenant.project_id)
    assert before is not None

    changes = {"name": "Renamed", "slug": "free-here"}  # a slug used only in another workspace
    with store.transaction() as tx:
        store.update_project(tx, tenant.project_id, changes)
        store.update_project(tx, tenant.project_id, {})  # nothing to change is not an error
        with pytest.raises(DuplicateValue) as refused:
            store.update_project(tx, tenant.project_id, {"slug": "taken"})
        assert refused.value.constraint == "uq_projects_workspace_id_slug"
        assert isinstance(refused.value, Conflict)
        with pytest.raises(DuplicateValue):
            store.insert_project(tx, project_row(tenant.workspace_id, slug="free-here"))
    with store.read() as tx:
        assert_same_row(
            store.get_project_by_slug(tx, tenant.workspace_id, "free-here"), before | changes
        )
        assert store.get_project_by_slug(tx, tenant.workspace_id, tenant.project_id) is None
        assert_same_row(
            store.get_project_by_slug(tx, tenant.workspace_id, "taken"), stored_project(taken)
        )
        assert_same_row(
            store.get_project_by_slug(tx, other_workspace["id"], "free-here"),
            stored_project(elsewhere),
        )


# -- what an environment holds, and deleting it ----------------------------------------------


def fill(store: Store, environment_id: str) -> dict[str, Any]:
    """An organization, a member with a direct role and a session, a secret and a signing key."""
    org = organization_row(environment_id)
    member = member_row(environment_id, org["id"])
    session = session_row(member)
    secret = secret_row(environment_id)
    key = signing_key_row(environment_id)
    with store.transaction() as tx:
        store.insert_organization(tx, org)
        store.insert_member(tx, member)
        store.set_direct_roles(tx, environment_id, member["id"], ["admin"])
        store.insert_session(tx, session)
        store.insert_secret(tx, secret)
        store.insert_signing_key(tx, key)
    return {
        "organizations": [org],
        "member": member,
        "admins": [member["id"]],
        "session": session,
        "secrets": [secret],
        "signing_keys": [key],
    }


EMPTY = {
    "organizations": [],
    "member": None,
    "admins": [],
    "session": None,
    "secrets": [],
    "signing_keys": [],
}


def contents(store: Store, environment_id: str, filled: dict[str, Any]) -> dict[str, Any]:
    """What the store holds now of what `fill` wrote."""
    with store.read() as tx:
        return {
            "organizations": store.organizations_in(tx, environment_id),
            "member": store.get_member_by_id(tx, environment_id, filled["member"]["id"]),
            "admins": store.members_with_direct_role(tx, environment_id, "admin"),
            "session": store.get_session(tx, environment_id, filled["session"]["id"]),
            "secrets": store.secrets(tx, environment_id),
            "signing_keys": store.signing_keys(tx, environment_id),
        }


def test_delete_environment_removes_everything_in_it(store: Store, tenant: Tenant) -> None:
    doomed = fill(store, tenant.environment_id)
    kept = fill(store, tenant.other_environment_id)
    with store.transaction() as tx:
        store.delete_environment(tx, tenant.environment_id)
        store.delete_environment(tx, "project-test-missing")  # not an error
    with store.read() as tx:
        assert store.get_environment(tx, tenant.environment_id) is None
        assert store.environment_head(tx, tenant.environment_id) is None
        assert [e["id"] for e in store.list_environments(tx)] == [tenant.other_environment_id]
        assert [e["id"] for e in store.environments_of(tx, tenant.project_id)] == [
            tenant.other_environment_id
        ]
        assert [p["id"] for p in store.list_projects(tx, tenant.workspace_id)] == [
            tenant.project_id
        ]
    assert contents(store, tenant.environment_id, doomed) == EMPTY
    assert contents(store, tenant.other_environment_id, kept) == kept


def test_delete_project_removes_its_environments_and_everything_in_them(
    store: Store, tenant: Tenant
) -> None:
    kept_project = project_row(tenant.workspace_id, created_at=at(1))
    kept_environment = environment_row(kept_project["id"])
    with store.transaction() as tx:
        store.insert_project(tx, kept_project)
        store.insert_environment(tx, kept_environment)
    doomed = [fill(store, e) for e in (tenant.environment_id, tenant.other_environment_id)]
    kept = fill(store, kept_environment["id"])

    with store.transaction() as tx:
        store.delete_project(tx, tenant.project_id)
        store.delete_project(tx, "project-test-missing")  # not an error
    with store.read() as tx:
        assert_same_row(
            store.list_projects(tx, tenant.workspace_id)[0], stored_project(kept_project)
        )
        assert len(store.list_projects(tx, tenant.workspace_id)) == 1
        assert store.environments_of(tx, tenant.project_id) == []
        for environment_id in (tenant.environment_id, tenant.other_environment_id):
            assert store.get_environment(tx, environment_id) is None
        assert_same_row(store.list_environments(tx)[0], kept_environment)
        assert len(store.list_environments(tx)) == 1
    for environment_id, filled in zip(
        (tenant.environment_id, tenant.other_environment_id), doomed, strict=True
    ):
        assert contents(store, environment_id, filled) == EMPTY
    assert contents(store, kept_environment["id"], kept) == kept


# -- environments ----------------------------------------------------------------------------


def test_environments_of_a_project_in_creation_order_without_their_policy(
    store: Store, tenant: Tenant
) -> None:
    project = project_row(tenant.workspace_id)
    # Two created at the same instant: ties are broken by id.
    staging_b = environment_row(project["id"], id="env-b", slug="staging-b", created_at=at(5))
    staging_a = environment_row(
        project["id"],
        id="env-a",
        slug="staging-a",
        created_at=at(5),
        user_impersonation_enabled=True,
        settings={"cross_org_passwords_enabled": True, "nested": {"list": [1, 2.5, None]}},
    )
    live = environment_row(project["id"], kind="live", name="Live", slug="live", created_at=at(1))
    same_slug_elsewhere = environment_row(tenant.project_id, slug="live", created_at=at(2))
    with store.transaction() as tx:
        store.insert_project(tx, project)
        assert store.environments_of(tx, project["id"]) == []
        for row in (staging_b, staging_a, live, same_slug_elsewhere):
            store.insert_environment(tx, row)

    with store.read() as tx:
        listed = store.environments_of(tx, project["id"])
        live_by_slug = store.get_environment_by_slug(tx, project["id"], "live")
        elsewhere_by_slug = store.get_environment_by_slug(tx, tenant.project_id, "live")
        staging_by_slug = store.get_environment_by_slug(tx, project["id"], "staging-a")
        assert store.get_environment_by_slug(tx, project["id"], "missing") is None
        assert store.get_environment_by_slug(tx, "project-missing", "live") is None
        assert store.environments_of(tx, "project-missing") == []
        tenants = store.environments_of(tx, tenant.project_id)
    assert [e["id"] for e in listed] == [live["id"], "env-a", "env-b"]
    for got, written in zip(listed, (live, staging_a, staging_b), strict=True):
        assert "policy" not in got
        assert_same_row(got, info(written))
    assert_same_row(live_by_slug, info(live))
    assert_same_row(staging_by_slug, info(staging_a))
    assert_same_row(elsewhere_by_slug, info(same_slug_elsewhere))
    assert [e["id"] for e in tenants] == [
        tenant.environment_id,
        tenant.other_environment_id,
        same_slug_elsewhere["id"],
    ]


def test_update_environment(store: Store, tenant: Tenant) -> None:
    with store.read() as tx:
        before = store.get_environment(tx, tenant.environment_id)
        other_before = store.get_environment(tx, tenant.other_environment_id)
    assert before is not None and other_before is not None

    changes = {
        "name": "Staging",
        "slug": "staging",
        "user_impersonation_enabled": True,
        "settings": {"cross_org_passwords_enabled": True, "nested": {"list": [1, None, "x"]}},
    }
    with store.transaction() as tx:
        store.update_environment(tx, tenant.environment_id, changes)
        store.update_environment(tx, tenant.environment_id, {})  # nothing to change
        with pytest.raises(DuplicateValue) as refused:
            store.update_environment(
                tx, tenant.other_environment_id, {"slug": "staging", "name": "Clash"}
            )
        assert refused.value.constraint == "uq_environments_project_id_slug"
        assert isinstance(refused.value, Conflict)
        with pytest.raises(DuplicateValue):
            store.insert_environment(tx, environment_row(tenant.project_id, slug="staging"))
    with store.read() as tx:
        # The policy and its version are set_policy's alone: untouched here.
        assert_same_row(store.get_environment(tx, tenant.environment_id), before | changes)
        assert_same_row(
            store.get_environment_by_slug(tx, tenant.project_id, "staging"), info(before | changes)
        )
        assert store.get_environment_by_slug(tx, tenant.project_id, before["slug"]) is None
        assert_same_row(store.get_environment(tx, tenant.other_environment_id), other_before)


def test_a_project_has_at_most_one_live_environment(store: Store, tenant: Tenant) -> None:
    # tenant.project_id has a test environment and a live one already.
    another_test = environment_row(tenant.project_id, kind="test", created_at=at(2))
    other_project = project_row(tenant.workspace_id)
    live_elsewhere = environment_row(other_project["id"], kind="live")
    with store.transaction() as tx:
        with pytest.raises(Conflict) as refused:
            store.insert_environment(tx, environment_row(tenant.project_id, kind="live"))
        # No API rule translates this one (a plain Conflict); both backends name the index.
        assert not isinstance(refused.value, DuplicateValue)
        assert refused.value.constraint == "uq_environments_project_id_live"
        with pytest.raises(Conflict):
            store.update_environment(tx, tenant.environment_id, {"kind": "live"})
        # Still usable; any number of test environments, and one live one per project.
        store.insert_environment(tx, another_test)
        store.insert_project(tx, other_project)
        store.insert_environment(tx, live_elsewhere)

    def kinds(project_id: str) -> list[tuple[str, str]]:
        with store.read() as tx:
            return [(e["id"], e["kind"]) for e in store.environments_of(tx, project_id)]

    assert kinds(tenant.project_id) == [
        (tenant.environment_id, "test"),
        (tenant.other_environment_id, "live"),
        (another_test["id"], "test"),
    ]
    assert kinds(other_project["id"]) == [(live_elsewhere["id"], "live")]

    # Once the live environment is gone another may take its place.
    with store.transaction() as tx:
        store.delete_environment(tx, tenant.other_environment_id)
        store.update_environment(tx, tenant.environment_id, {"kind": "live"})
    assert kinds(tenant.project_id) == [
        (tenant.environment_id, "live"),
        (another_test["id"], "test"),
    ]


# -- secrets ---------------------------------------------------------------------------------


def test_get_and_delete_secret_stay_in_their_environment(store: Store, tenant: Tenant) -> None:
    mine = secret_row(tenant.environment_id)
    kept = secret_row(tenant.environment_id, last_four="9999", created_at=at(1))
    theirs = secret_row(tenant.other_environment_id)
    with store.transaction() as tx:
        for row in (mine, kept, theirs):
            store.insert_secret(tx, row)
    with store.read() as tx:
        assert_same_row(store.get_secret(tx, tenant.environment_id, mine["id"]), mine)
        assert store.get_secret(tx, tenant.other_environment_id, mine["id"]) is None
        assert store.get_secret(tx, tenant.environment_id, "secret-test-missing") is None

    with store.transaction() as tx:
        assert store.delete_secret(tx, tenant.other_environment_id, mine["id"]) is False
        assert store.delete_secret(tx, tenant.environment_id, "secret-test-missing") is False
    with store.read() as tx:
        assert_same_row(store.get_secret(tx, tenant.environment_id, mine["id"]), mine)

    with store.transaction() as tx:
        assert store.delete_secret(tx, tenant.environment_id, mine["id"]) is True
        assert store.delete_secret(tx, tenant.environment_id, mine["id"]) is False
    with store.read() as tx:
        assert store.get_secret(tx, tenant.environment_id, mine["id"]) is None
        assert [s["id"] for s in store.secrets(tx, tenant.environment_id)] == [kept["id"]]
        assert_same_row(store.get_secret(tx, tenant.other_environment_id, theirs["id"]), theirs)
