"""The storage conformance suite, against whichever backend the environment selects (SQLite by
default, PostgreSQL when GATEHOUSE_TEST_DATABASE_URL names a server). This file holds
transactions, tenancy, organizations, members, direct roles, sessions and events;
test_conformance_projects.py and test_conformance_workspace.py the rest of ProjectStore and
WorkspaceStore, and test_change_feed.py the ChangeFeed. Together they exercise every method of
every Protocol in `storage/interface.py`, which test_conformance_guard.py checks.

Nothing here may depend on the backend: a test that needs `if backend() == ...` is a bug in the
store, not a reason to branch. Rows and shared fixtures: tests/storage/rows.py, conftest.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from gatehouse.storage import Conflict, ReadTx, SqlStore, Store, WriteTx, open_store
from gatehouse.storage.rows import EventRow
from gatehouse.storage.sql.search import MEMBER_FILTERS, ORGANIZATION_FILTERS, UnknownFilter
from tests.storage.rows import (
    T0,
    Tenant,
    assert_same_row,
    at,
    environment_row,
    event_row,
    find_organization,
    ids,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
    project_row,
    secret_row,
    session_row,
    signing_key_row,
    workspace_member_row,
    workspace_row,
)

# -- search helpers --------------------------------------------------------------------------


def query(operator: str, **filters: Any) -> dict[str, Any]:
    return {
        "operator": operator,
        "operands": [{"filter_name": k, "filter_value": v} for k, v in filters.items()],
    }


def one_filter(name: str, value: Any) -> dict[str, Any]:
    return {"operator": "AND", "operands": [{"filter_name": name, "filter_value": value}]}


# -- transactions ----------------------------------------------------------------------------


def test_dialect_names_the_backend_of_the_database(store: Store, database_url: str) -> None:
    assert store.dialect in {"sqlite", "postgresql"}
    assert store.dialect == make_url(database_url).get_backend_name()


def test_read_sees_what_is_committed_beside_an_open_writer(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    org = organization_row(env)
    with store.transaction() as tx:
        assert isinstance(tx, WriteTx)
        store.insert_organization(tx, org)
        assert store.find_organization(tx, env, org["id"]) is not None  # a writer sees its writes
        # A read started while the writer is open neither waits for it nor sees its writes.
        with store.read() as read_tx:
            assert isinstance(read_tx, ReadTx) and not isinstance(read_tx, WriteTx)
            assert store.find_organization(read_tx, env, org["id"]) is None
            assert store.get_environment(read_tx, env) is not None
    with store.read() as tx:
        assert_same_row(store.find_organization(tx, env, org["id"]), org)


def test_close_releases_the_store_which_reconnects_on_use(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    before = organization_row(env)
    insert_organizations(store, before)
    store.close()
    store.close()  # closing a closed store is not an error
    with store.read() as tx:
        assert_same_row(store.find_organization(tx, env, before["id"]), before)
    after = organization_row(env)
    insert_organizations(store, after)
    store.close()
    with store.read() as tx:
        assert ids(store.organizations_in(tx, env)) == {before["id"], after["id"]}


# -- tenancy ---------------------------------------------------------------------------------


def test_workspace_project_and_environment_round_trip(store: Store) -> None:
    with store.transaction() as tx:
        assert store.workspace_exists(tx) is False
        assert store.list_environments(tx) == []

    workspace = workspace_row()
    project = project_row(workspace["id"])
    later = environment_row(project["id"], created_at=at(10))
    earlier = environment_row(project["id"], kind="live", created_at=at(5))
    with store.transaction() as tx:
        store.insert_workspace(tx, workspace)
        store.insert_workspace_member(tx, workspace_member_row(workspace["id"]))
        store.insert_project(tx, project)
        store.insert_environment(tx, later)
        store.insert_environment(tx, earlier)

    with store.transaction() as tx:
        assert store.workspace_exists(tx) is True
        assert_same_row(store.get_environment(tx, later["id"]), later)
        assert store.get_environment(tx, "project-test-missing") is None
        head = store.environment_head(tx, later["id"])
        assert head == {k: later[k] for k in ("id", "project_id", "kind", "name", "policy_version")}
        assert store.environment_head(tx, "project-test-missing") is None
        listed = store.list_environments(tx)
    assert [row["id"] for row in listed] == [earlier["id"], later["id"]]
    assert_same_row(listed[0], earlier)


def test_tenancy_uniqueness_and_references_conflict(store: Store, tenant: Tenant) -> None:
    member = workspace_member_row(tenant.workspace_id, email="owner@example.com")
    with store.transaction() as tx:
        store.insert_workspace_member(tx, member)
    with store.transaction() as tx:
        with pytest.raises(Conflict):
            store.insert_workspace_member(
                tx, workspace_member_row(tenant.workspace_id, email="owner@example.com")
            )
        with pytest.raises(Conflict):
            store.insert_workspace(tx, workspace_row(id=tenant.workspace_id))
        with pytest.raises(Conflict):
            store.insert_project(tx, project_row("workspace-test-missing"))
        with pytest.raises(Conflict):
            store.insert_environment(
                tx, environment_row(tenant.project_id, id=tenant.environment_id)
            )
        # The transaction is still usable after the refusals.
        store.insert_project(tx, project_row(tenant.workspace_id, name="Second"))
    with store.transaction() as tx:
        assert [e["id"] for e in store.list_environments(tx)] == [
            tenant.environment_id,
            tenant.other_environment_id,
        ]


def test_set_policy_is_compare_and_set(store: Store, tenant: Tenant) -> None:
    first_policy = {"roles": [{"role_id": "admin", "permissions": [{"resource_id": "doc"}]}]}
    second_policy = {"roles": [{"role_id": "viewer", "permissions": []}]}

    # Two writers both read version 1; the first to write wins.
    with store.transaction() as tx:
        seen_by_first = store.get_environment(tx, tenant.environment_id)
    with store.transaction() as tx:
        seen_by_second = store.get_environment(tx, tenant.environment_id)
    assert seen_by_first is not None and seen_by_second is not None
    assert seen_by_first["policy_version"] == seen_by_second["policy_version"] == 1

    with store.transaction() as tx:
        assert store.set_policy(tx, tenant.environment_id, 1, first_policy) is True
    with store.transaction() as tx:
        assert store.set_policy(tx, tenant.environment_id, 1, second_policy) is False

    with store.transaction() as tx:
        env = store.get_environment(tx, tenant.environment_id)
        other = store.get_environment(tx, tenant.other_environment_id)
    assert env is not None and other is not None
    assert (env["policy_version"], env["policy"]) == (2, first_policy)
    assert other["policy_version"] == 1  # the other environment is untouched

    with store.transaction() as tx:
        assert store.set_policy(tx, tenant.environment_id, 2, second_policy) is True
        assert store.set_policy(tx, "project-test-missing", 1, second_policy) is False
    with store.transaction() as tx:
        env = store.get_environment(tx, tenant.environment_id)
    assert env is not None
    assert (env["policy_version"], env["policy"]) == (3, second_policy)


def test_secrets_belong_to_their_environment(store: Store, tenant: Tenant) -> None:
    first = secret_row(tenant.environment_id, last_four="1111")
    second = secret_row(tenant.environment_id, last_four="2222", created_at=at(1))
    elsewhere = secret_row(tenant.other_environment_id)
    with store.transaction() as tx:
        assert store.secrets(tx, tenant.environment_id) == []
        for row in (first, second, elsewhere):
            store.insert_secret(tx, row)
    with store.transaction() as tx:
        got = {row["id"]: row for row in store.secrets(tx, tenant.environment_id)}
        with pytest.raises(Conflict):
            store.insert_secret(tx, secret_row(tenant.environment_id, id=first["id"]))
        with pytest.raises(Conflict):
            store.insert_secret(tx, secret_row("project-test-missing"))
    assert set(got) == {first["id"], second["id"]}
    assert_same_row(got[first["id"]], first)
    assert_same_row(got[second["id"]], second)


def test_signing_keys_newest_first(store: Store, tenant: Tenant) -> None:
    old = signing_key_row(tenant.environment_id, created_at=at(0))
    new = signing_key_row(tenant.environment_id, created_at=at(60))
    elsewhere = signing_key_row(tenant.other_environment_id)
    with store.transaction() as tx:
        for row in (old, new, elsewhere):
            store.insert_signing_key(tx, row)
    with store.transaction() as tx:
        keys = store.signing_keys(tx, tenant.environment_id)
        with pytest.raises(Conflict):
            store.insert_signing_key(tx, signing_key_row(tenant.environment_id, kid=old["kid"]))
    assert [k["kid"] for k in keys] == [new["kid"], old["kid"]]
    assert_same_row(keys[0], new)
    assert_same_row(keys[1], old)


def test_a_signing_keys_private_key_is_replaced_only_if_unchanged(
    store: Store, tenant: Tenant
) -> None:
    row = signing_key_row(tenant.environment_id)
    elsewhere = signing_key_row(tenant.other_environment_id)
    with store.transaction() as tx:
        store.insert_signing_key(tx, row)
        store.insert_signing_key(tx, elsewhere)
    with store.read() as rtx:
        assert {k["kid"] for k in store.all_signing_keys(rtx)} >= {row["kid"], elsewhere["kid"]}
    with store.transaction() as tx:
        assert store.replace_signing_key_pem(tx, row["kid"], row["private_key_pem"], "fernet:x")
        assert not store.replace_signing_key_pem(tx, row["kid"], row["private_key_pem"], "y")
    with store.read() as rtx:
        (stored,) = store.signing_keys(rtx, tenant.environment_id)
    assert stored["private_key_pem"] == "fernet:x"


# -- organizations ---------------------------------------------------------------------------


def test_organization_round_trip_and_update(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id, external_id="ext-1")
    insert_organizations(store, org)
    assert_same_row(find_organization(store, tenant.environment_id, org["id"]), org)

    changes = {
        "name": "Renamed",
        "slug": "renamed",
        "external_id": None,
        "trusted_metadata": {"nested": {"list": [1, 2.5, True, None]}},
        "settings": {},
        "custom_roles": [],
        "updated_at": at(30),
    }
    with store.transaction() as tx:
        store.update_organization(tx, org["id"], changes)
        store.update_organization(tx, org["id"], {})  # nothing to change is not an error
    assert_same_row(find_organization(store, tenant.environment_id, "renamed"), org | changes)
    assert find_organization(store, tenant.environment_id, org["slug"]) is None


def test_find_organization_by_id_slug_or_external_id_one_namespace(
    store: Store, tenant: Tenant
) -> None:
    a = organization_row(tenant.environment_id, slug="alpha", external_id="alpha-ext")
    # An organization may hold one value as both its slug and its external id.
    c = organization_row(tenant.environment_id, slug="gamma", external_id="gamma")
    elsewhere = organization_row(tenant.other_environment_id, slug="delta", external_id="delta-ext")
    insert_organizations(store, a, c, elsewhere)

    def found(ident: str, environment_id: str = tenant.environment_id) -> str | None:
        row = find_organization(store, environment_id, ident)
        return None if row is None else row["id"]

    assert found(a["id"]) == a["id"]
    assert found("alpha") == a["id"]
    assert found("alpha-ext") == a["id"]
    assert found("gamma") == c["id"]
    assert found("missing") is None
    # Lookups stay in their environment.
    assert found("delta") is None
    assert found(elsewhere["id"]) is None
    assert found("delta-ext", tenant.other_environment_id) == elsewhere["id"]
    # Ids, slugs and external ids share one namespace: no organization takes another's.
    for slug, external_id in ((a["id"], None), ("alpha-ext", None), ("x", "alpha"), ("y", a["id"])):
        b = organization_row(tenant.environment_id, slug=slug, external_id=external_id)
        with pytest.raises(Conflict), store.transaction() as tx:
            store.insert_organization(tx, b)
    b = organization_row(tenant.environment_id, slug="beta")
    insert_organizations(store, b)
    for values in ({"slug": "alpha-ext"}, {"external_id": "alpha"}, {"slug": a["id"]}):
        with pytest.raises(Conflict), store.transaction() as tx:
            store.update_organization(tx, b["id"], values)
    # Changing the slug frees the old one and keeps the external id claimed.
    with store.transaction() as tx:
        store.update_organization(tx, c["id"], {"slug": "gamma-2"})
    assert found("gamma") == c["id"]
    assert found("gamma-2") == c["id"]
    with store.transaction() as tx:
        store.update_organization(tx, a["id"], {"slug": "alpha-2"})
    assert found("alpha") is None
    with store.transaction() as tx:
        store.update_organization(tx, b["id"], {"slug": "alpha"})
    assert found("alpha") == b["id"]


def test_get_organizations_and_organizations_in(store: Store, tenant: Tenant) -> None:
    a = organization_row(tenant.environment_id)
    b = organization_row(tenant.environment_id)
    elsewhere = organization_row(tenant.other_environment_id)
    insert_organizations(store, a, b, elsewhere)
    with store.transaction() as tx:
        assert ids(store.get_organizations(tx, tenant.environment_id, [a["id"], "missing"])) == {
            a["id"]
        }
        assert ids(
            store.get_organizations(tx, tenant.environment_id, iter([a["id"], b["id"]]))
        ) == {
            a["id"],
            b["id"],
        }
        assert store.get_organizations(tx, tenant.environment_id, [elsewhere["id"]]) == []
        assert store.get_organizations(tx, tenant.environment_id, []) == []
        everything = store.organizations_in(tx, tenant.environment_id)
    assert ids(everything) == {a["id"], b["id"]}
    assert_same_row(next(r for r in everything if r["id"] == b["id"]), b)


def test_organization_conflicts_leave_transaction_usable_and_data_unchanged(
    store: Store, tenant: Tenant
) -> None:
    a = organization_row(tenant.environment_id, slug="taken", external_id="taken-ext")
    b = organization_row(tenant.environment_id, slug="bee", external_id=None)
    insert_organizations(store, a, b)
    survivor = organization_row(tenant.environment_id, slug="survivor")

    with store.transaction() as tx:
        for duplicate in (
            organization_row(tenant.environment_id, id=a["id"]),
            organization_row(tenant.environment_id, slug="taken"),
            organization_row(tenant.environment_id, external_id="taken-ext"),
            organization_row("project-test-missing"),
        ):
            with pytest.raises(Conflict):
                store.insert_organization(tx, duplicate)
        for clash in (
            {"slug": "taken"},
            {"external_id": "taken-ext"},
            {"slug": "new", "external_id": "taken-ext"},
        ):
            with pytest.raises(Conflict):
                store.update_organization(tx, b["id"], clash)
        # Still usable: more writes in the same transaction succeed and commit.
        store.insert_organization(tx, survivor)
        store.update_organization(tx, b["id"], {"name": "Bee"})

    # Uniqueness is per environment; missing external ids never clash.
    same_slug_elsewhere = organization_row(
        tenant.other_environment_id, slug="taken", external_id="taken-ext"
    )
    no_external_id = organization_row(tenant.environment_id, external_id=None)
    insert_organizations(store, same_slug_elsewhere, no_external_id)

    with store.transaction() as tx:
        by_id = {r["id"]: r for r in store.organizations_in(tx, tenant.environment_id)}
    assert set(by_id) == {a["id"], b["id"], survivor["id"], no_external_id["id"]}
    assert_same_row(by_id[a["id"]], a)
    assert_same_row(by_id[b["id"]], b | {"name": "Bee"})
    assert_same_row(by_id[survivor["id"]], survivor)


def test_a_transaction_that_raises_rolls_back(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    member = member_row(tenant.environment_id, org["id"])
    insert_members(store, member)

    with pytest.raises(RuntimeError), store.transaction() as tx:
        store.insert_organization(tx, organization_row(tenant.environment_id, slug="rolled-back"))
        store.update_organization(tx, org["id"], {"name": "Changed"})
        store.update_member(tx, member["id"], {"status": "deleted"})
        store.set_direct_roles(tx, tenant.environment_id, member["id"], ["admin"])
        store.set_policy(tx, tenant.environment_id, 1, {"roles": []})
        store.insert_event(tx, event_row(tenant.environment_id))
        raise RuntimeError("boom")

    # A Conflict nobody catches undoes the whole transaction too.
    with pytest.raises(Conflict), store.transaction() as tx:
        store.update_organization(tx, org["id"], {"name": "Changed again"})
        store.insert_organization(tx, organization_row(tenant.environment_id, slug=org["slug"]))

    with store.transaction() as tx:
        assert [r["id"] for r in store.organizations_in(tx, tenant.environment_id)] == [org["id"]]
        assert_same_row(store.find_organization(tx, tenant.environment_id, org["id"]), org)
        assert_same_row(store.get_member(tx, org["id"], member["id"]), member)
        assert store.direct_roles(tx, [member["id"]]) == {member["id"]: []}
        env = store.get_environment(tx, tenant.environment_id)
        assert env is not None and env["policy_version"] == 1
        assert store.events(tx, tenant.environment_id) == []


def test_delete_organization_removes_its_members_roles_and_sessions(
    store: Store, tenant: Tenant
) -> None:
    doomed = organization_row(tenant.environment_id)
    kept = organization_row(tenant.environment_id)
    insert_organizations(store, doomed, kept)
    doomed_members = [member_row(tenant.environment_id, doomed["id"]) for _ in range(2)]
    kept_member = member_row(tenant.environment_id, kept["id"])
    insert_members(store, *doomed_members, kept_member)
    doomed_sessions = [session_row(m) for m in doomed_members]
    kept_session = session_row(kept_member)
    with store.transaction() as tx:
        for member in [*doomed_members, kept_member]:
            store.set_direct_roles(tx, tenant.environment_id, member["id"], ["admin", "viewer"])
        for session in [*doomed_sessions, kept_session]:
            store.insert_session(tx, session)

    with store.transaction() as tx:
        store.delete_organization(tx, doomed["id"])
        store.delete_organization(tx, "organization-test-missing")  # not an error

    with store.transaction() as tx:
        assert store.find_organization(tx, tenant.environment_id, doomed["id"]) is None
        for member, session in zip(doomed_members, doomed_sessions, strict=True):
            assert store.get_member_by_id(tx, tenant.environment_id, member["id"]) is None
            assert store.get_session(tx, tenant.environment_id, session["id"]) is None
            assert store.active_sessions(tx, member["id"], T0) == []
        assert store.members_with_direct_role(tx, tenant.environment_id, "admin") == [
            kept_member["id"]
        ]
        assert_same_row(store.find_organization(tx, tenant.environment_id, kept["id"]), kept)
        assert_same_row(store.get_member(tx, kept["id"], kept_member["id"]), kept_member)
        assert_same_row(
            store.get_session(tx, tenant.environment_id, kept_session["id"]), kept_session
        )
        assert store.direct_roles(tx, [kept_member["id"]]) == {
            kept_member["id"]: ["admin", "viewer"]
        }


# -- organization search ---------------------------------------------------------------------


@dataclass
class OrgWorld:
    environment_id: str
    orgs: dict[str, dict[str, Any]]

    def ids(self, *names: str) -> set[str]:
        return {self.orgs[n]["id"] for n in names}


@pytest.fixture
def org_world(store: Store, tenant: Tenant) -> OrgWorld:
    env = tenant.environment_id
    orgs = {
        "acme": organization_row(
            env,
            id="org-acme",
            name="Acme Corp",
            slug="acme",
            external_id="ext-acme",
            created_at=at(1),
        ),
        "globex": organization_row(
            env,
            id="org-globex",
            name="Globex 50% Off",
            slug="globex_co",
            external_id="ext-globex",
            created_at=at(2),
        ),
        "initech": organization_row(
            env,
            id="org-initech",
            name="Initech",
            slug="initech",
            external_id=None,
            created_at=at(3),
        ),
    }
    # Same names, slugs and member emails in another environment: never found from this one.
    elsewhere = organization_row(
        tenant.other_environment_id, name="Acme Corp", slug="acme", external_id="ext-acme"
    )
    insert_organizations(store, *orgs.values(), elsewhere)
    insert_members(
        store,
        member_row(env, orgs["acme"]["id"], email="Alice@Acme.test"),
        member_row(env, orgs["acme"]["id"], email="gone@acme.test", status="deleted"),
        member_row(env, orgs["globex"]["id"], email="bob@globex.test"),
        member_row(tenant.other_environment_id, elsewhere["id"], email="bob@globex.test"),
    )
    return OrgWorld(env, orgs)


ORGANIZATION_CASES: list[tuple[str, Any, set[str]]] = [
    ("organization_ids", ["org-acme", "org-initech", "org-missing"], {"acme", "initech"}),
    ("organization_ids", [], set()),
    ("organization_slugs", ["acme", "globex_co", "nope"], {"acme", "globex"}),
    ("organization_slugs", ["ACME"], set()),  # exact match
    ("organization_external_ids", ["ext-globex"], {"globex"}),
    ("organization_external_ids", [], set()),
    ("organization_name_fuzzy", "corp", {"acme"}),
    ("organization_name_fuzzy", "%", {"globex"}),  # a literal %, not a wildcard
    ("organization_slug_fuzzy", "NITE", {"initech"}),
    ("organization_slug_fuzzy", "_", {"globex"}),  # a literal _, not a wildcard
    ("member_emails", ["ALICE@acme.test"], {"acme"}),
    ("member_emails", ["bob@globex.test", "alice@acme.test"], {"acme", "globex"}),
    ("member_emails", ["gone@acme.test"], set()),  # deleted members do not count
    ("member_email_fuzzy", "GLOBEX", {"globex"}),
    ("member_email_fuzzy", ".test", {"acme", "globex"}),
    ("member_email_fuzzy", "gone", set()),
]


def test_organization_cases_cover_every_filter() -> None:
    assert {name for name, _, _ in ORGANIZATION_CASES} == set(ORGANIZATION_FILTERS)


@pytest.mark.parametrize(("name", "value", "expected"), ORGANIZATION_CASES)
def test_search_organizations_by_filter(
    store: Store, org_world: OrgWorld, name: str, value: Any, expected: set[str]
) -> None:
    with store.transaction() as tx:
        rows, total, cursor = store.search_organizations(
            tx, org_world.environment_id, one_filter(name, value), None, 10
        )
    assert ids(rows) == org_world.ids(*expected)
    assert total == len(expected)
    assert cursor is None


def test_search_organizations_operators(store: Store, org_world: OrgWorld) -> None:
    def search(q: dict[str, Any] | None) -> set[str]:
        with store.transaction() as tx:
            rows, total, _ = store.search_organizations(tx, org_world.environment_id, q, None, 10)
        assert total == len(rows)
        return ids(rows)

    everything = org_world.ids("acme", "globex", "initech")
    assert search(None) == everything
    assert search({"operator": "AND", "operands": []}) == everything
    assert search(
        query("AND", organization_slug_fuzzy="c", member_email_fuzzy="globex")
    ) == org_world.ids("globex")
    assert (
        search(query("AND", organization_slugs=["acme"], organization_external_ids=["ext-globex"]))
        == set()
    )
    assert search(
        query("OR", organization_slugs=["acme"], organization_external_ids=["ext-globex"])
    ) == org_world.ids("acme", "globex")
    assert search(
        query("OR", organization_ids=[], organization_name_fuzzy="initech")
    ) == org_world.ids("initech")


def test_search_organizations_unknown_filter(store: Store, org_world: OrgWorld) -> None:
    with store.transaction() as tx, pytest.raises(UnknownFilter):
        store.search_organizations(
            tx, org_world.environment_id, one_filter("organization_color", ["red"]), None, 10
        )


def test_search_organizations_pages_visit_every_row_once(store: Store, tenant: Tenant) -> None:
    # Several organizations share a created_at, so the cursor must break ties by id.
    rows = [
        organization_row(tenant.environment_id, created_at=at(n // 3), name=f"Page {n}")
        for n in range(8)
    ]
    insert_organizations(store, *rows, organization_row(tenant.other_environment_id))
    expected_order = [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    for limit in (1, 3, 8, 20):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            with store.transaction() as tx:
                page, total, cursor = store.search_organizations(
                    tx, tenant.environment_id, None, cursor, limit
                )
            pages += 1
            assert total == 8
            assert len(page) <= limit
            seen += [r["id"] for r in page]
            if cursor is None:
                break
            assert pages <= 8, "pagination does not terminate"
        assert seen == expected_order, f"limit {limit}"
        assert pages == max(1, -(-8 // limit))

    # A filtered search pages through its own rows and counts only them.
    wanted = {r["id"] for r in rows[::2]}
    seen_filtered: list[str] = []
    cursor = None
    while True:
        with store.transaction() as tx:
            page, total, cursor = store.search_organizations(
                tx, tenant.environment_id, one_filter("organization_ids", sorted(wanted)), cursor, 3
            )
        assert total == len(wanted)
        seen_filtered += [r["id"] for r in page]
        if cursor is None:
            break
    assert sorted(seen_filtered) == sorted(wanted) and len(seen_filtered) == len(wanted)


def test_uncounted_searches_page_alike_and_count_nothing(store: Store, tenant: Tenant) -> None:
    rows = [
        organization_row(tenant.environment_id, created_at=at(n // 2), name=f"Uncounted {n}")
        for n in range(5)
    ]
    insert_organizations(store, *rows)
    members = [
        member_row(tenant.environment_id, rows[0]["id"], created_at=at(n // 2)) for n in range(5)
    ]
    with store.transaction() as tx:
        for member in members:
            store.insert_member(tx, member)
    for counted in (True, False):
        seen_orgs: list[str] = []
        seen_members: list[str] = []
        org_cursor: str | None = None
        member_cursor: str | None = None
        while True:
            with store.transaction() as tx:
                page, total, org_cursor = store.search_organizations(
                    tx, tenant.environment_id, None, org_cursor, 2, counted
                )
                assert total == (5 if counted else None)
                seen_orgs += [r["id"] for r in page]
            if org_cursor is None:
                break
        while True:
            with store.transaction() as tx:
                found, total, member_cursor = store.search_members(
                    tx,
                    tenant.environment_id,
                    [rows[0]["id"]],
                    None,
                    member_cursor,
                    2,
                    False,
                    counted,
                )
                assert total == (5 if counted else None)
                seen_members += [r["id"] for r in found]
            if member_cursor is None:
                break
        by_age = sorted(rows, key=lambda r: (r["created_at"], r["id"]))
        assert seen_orgs == [r["id"] for r in by_age]
        assert seen_members == [
            m["id"] for m in sorted(members, key=lambda m: (m["created_at"], m["id"]))
        ]


# -- members ---------------------------------------------------------------------------------


def test_member_round_trip_update_and_lookups(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    other_org = organization_row(tenant.environment_id)
    insert_organizations(store, org, other_org)
    member = member_row(
        tenant.environment_id,
        org["id"],
        email="Ada.Lovelace@Example.COM",
        external_id="ada-ext",
        is_breakglass=True,
        mfa_enrolled=True,
        mfa_phone_number="+15550001111",
        mfa_phone_verified=True,
        default_mfa_method="sms_otp",
        untrusted_metadata={"theme": "dark"},
        password_id="member-password-test-1",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=at(-5),
    )
    insert_members(store, member)

    with store.transaction() as tx:
        assert_same_row(store.get_member(tx, org["id"], member["id"]), member)
        assert_same_row(store.get_member_by_id(tx, tenant.environment_id, member["id"]), member)
        assert store.get_member(tx, other_org["id"], member["id"]) is None
        assert store.get_member_by_id(tx, tenant.other_environment_id, member["id"]) is None
        assert_same_row(store.find_member_by_external_id(tx, org["id"], "ada-ext"), member)
        assert store.find_member_by_external_id(tx, other_org["id"], "ada-ext") is None
        assert store.find_member_by_external_id(tx, org["id"], "missing") is None

    changes = {
        "email": "ada@example.org",
        "email_lower": "ada@example.org",
        "status": "invited",
        "name": "Ada",
        "external_id": None,
        "is_breakglass": False,
        "password_id": None,
        "password_hash": None,
        "trusted_metadata": {"x": [1, {"y": None}]},
        "updated_at": at(99),
    }
    with store.transaction() as tx:
        store.update_member(tx, member["id"], changes)
        store.update_member(tx, member["id"], {})
    with store.transaction() as tx:
        assert_same_row(store.get_member(tx, org["id"], member["id"]), member | changes)
        with pytest.raises(Conflict):
            store.insert_member(tx, member_row(tenant.environment_id, org["id"], id=member["id"]))
        with pytest.raises(Conflict):
            store.insert_member(tx, member_row(tenant.environment_id, "organization-test-missing"))
        with pytest.raises(Conflict):
            store.update_member(tx, member["id"], {"organization_id": "organization-test-missing"})
        assert_same_row(store.get_member(tx, org["id"], member["id"]), member | changes)


def test_find_member_by_email(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    other_org = organization_row(tenant.environment_id)
    insert_organizations(store, org, other_org)
    gone = member_row(
        tenant.environment_id,
        org["id"],
        email="Ada@Example.com",
        status="deleted",
        created_at=at(10),
    )
    alive = member_row(tenant.environment_id, org["id"], email="ada@example.com", created_at=at(5))
    only_deleted = member_row(
        tenant.environment_id, org["id"], email="Bob@example.com", status="deleted"
    )
    insert_members(store, gone, alive, only_deleted)

    def find(email: str, organization_id: str = org["id"], **kw: bool) -> str | None:
        with store.transaction() as tx:
            row = store.find_member_by_email(tx, organization_id, email, **kw)
        return None if row is None else row["id"]

    assert find("ADA@EXAMPLE.COM") == alive["id"]
    assert find("ada@example.com", include_deleted=True) == gone["id"]  # the newest
    assert find("bob@example.com") is None
    assert find("BOB@EXAMPLE.COM", include_deleted=True) == only_deleted["id"]
    assert find("ada@example.com", other_org["id"]) is None
    assert find("ada@example") is None


def test_find_member_by_password_id(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    org = organization_row(env)
    other_org = organization_row(env)
    insert_organizations(store, org, other_org)
    ada = member_row(env, org["id"], password_id="member-password-test-ada", password_hash="h1")
    gone = member_row(
        env,
        org["id"],
        status="deleted",
        password_id="member-password-test-gone",
        password_hash="h2",
    )
    no_password = member_row(env, org["id"])
    insert_members(store, ada, gone, no_password)
    with store.read() as tx:
        assert_same_row(
            store.find_member_by_password_id(tx, org["id"], "member-password-test-ada"), ada
        )
        # The lookup stays in its organization, and a deleted member's password is gone.
        assert store.find_member_by_password_id(tx, other_org["id"], ada["password_id"]) is None
        assert store.find_member_by_password_id(tx, org["id"], gone["password_id"]) is None
        assert store.find_member_by_password_id(tx, org["id"], "member-password-missing") is None


@dataclass
class MemberWorld:
    environment_id: str
    organization_ids: list[str]
    members: dict[str, dict[str, Any]]

    def ids(self, *names: str) -> set[str]:
        return {self.members[n]["id"] for n in names}


@pytest.fixture
def member_world(store: Store, tenant: Tenant) -> MemberWorld:
    env = tenant.environment_id
    acme = organization_row(env)
    globex = organization_row(env)
    outside = organization_row(env)  # not among the searched organizations
    elsewhere = organization_row(tenant.other_environment_id)
    insert_organizations(store, acme, globex, outside, elsewhere)
    members = {
        "ada": member_row(
            env,
            acme["id"],
            id="member-ada",
            email="Ada@Example.com",
            external_id="ext-ada",
            is_breakglass=True,
            password_id="pw-1",
            password_hash="hash",
            mfa_phone_number="+15550001111",
            created_at=at(1),
        ),
        "bob": member_row(
            env,
            acme["id"],
            id="member-bob",
            email="bob@example.com",
            status="invited",
            created_at=at(2),
        ),
        "cy": member_row(
            env,
            globex["id"],
            id="member-cy",
            email="cy_1@globex.test",
            external_id="ext-cy",
            mfa_phone_number="+447700900123",
            created_at=at(2),
        ),
        "gone": member_row(
            env,
            acme["id"],
            id="member-gone",
            email="gone@example.com",
            status="deleted",
            external_id="ext-gone",
            password_id="pw-2",
            password_hash="hash",
            is_breakglass=True,
            created_at=at(3),
        ),
    }
    decoys = [
        member_row(env, outside["id"], email="ada@example.com", external_id="ext-ada"),
        member_row(tenant.other_environment_id, elsewhere["id"], email="ada@example.com"),
    ]
    insert_members(store, *members.values(), *decoys)
    with store.transaction() as tx:
        store.set_direct_roles(tx, env, members["ada"]["id"], ["admin"])
        store.set_direct_roles(tx, env, members["bob"]["id"], ["viewer"])
        store.set_direct_roles(tx, env, members["cy"]["id"], ["admin", "viewer"])
        store.set_direct_roles(tx, env, members["gone"]["id"], ["admin"])
        for decoy in decoys:
            store.set_direct_roles(tx, decoy["environment_id"], decoy["id"], ["admin"])
    return MemberWorld(env, [acme["id"], globex["id"]], members)


MEMBER_CASES: list[tuple[str, Any, set[str]]] = [
    ("member_ids", ["member-ada", "member-gone", "member-missing"], {"ada"}),
    ("member_ids", [], set()),
    ("member_emails", ["ADA@example.COM", "cy_1@globex.test"], {"ada", "cy"}),
    ("member_emails", ["gone@example.com"], set()),
    ("member_email_fuzzy", "EXAMPLE", {"ada", "bob"}),
    ("member_email_fuzzy", "_", {"cy"}),  # a literal _, not a wildcard
    ("member_external_ids", ["ext-ada", "ext-cy", "ext-gone"], {"ada", "cy"}),
    ("member_is_breakglass", True, {"ada"}),
    ("member_is_breakglass", False, {"bob", "cy"}),
    ("statuses", ["invited"], {"bob"}),
    ("statuses", ["active", "invited"], {"ada", "bob", "cy"}),
    ("statuses", ["deleted"], set()),
    ("member_password_exists", True, {"ada"}),
    ("member_password_exists", False, {"bob", "cy"}),
    ("member_mfa_phone_numbers", ["+15550001111"], {"ada"}),
    ("member_mfa_phone_numbers", [""], {"bob"}),
    ("member_mfa_phone_number_fuzzy", "7700", {"cy"}),
    ("member_roles", ["admin"], {"ada", "cy"}),
    ("member_roles", ["viewer", "missing"], {"bob", "cy"}),
    ("member_roles", ["stytch_member"], {"ada", "bob", "cy"}),  # everyone holds the default role
]


def test_member_cases_cover_every_filter() -> None:
    assert {name for name, _, _ in MEMBER_CASES} == set(MEMBER_FILTERS)


def search_members(
    store: Store,
    world: MemberWorld,
    q: dict[str, Any] | None,
    *,
    include_deleted: bool = False,
    cursor: str | None = None,
    limit: int = 10,
) -> tuple[list[dict[str, Any]], int, str | None]:
    with store.transaction() as tx:
        return store.search_members(
            tx, world.environment_id, world.organization_ids, q, cursor, limit, include_deleted
        )


@pytest.mark.parametrize(("name", "value", "expected"), MEMBER_CASES)
def test_search_members_by_filter(
    store: Store, member_world: MemberWorld, name: str, value: Any, expected: set[str]
) -> None:
    rows, total, cursor = search_members(store, member_world, one_filter(name, value))
    assert ids(rows) == member_world.ids(*expected)
    assert total == len(expected)
    assert cursor is None


def test_search_members_operators_scope_and_deleted(
    store: Store, member_world: MemberWorld
) -> None:
    w = member_world

    def found(q: dict[str, Any] | None, **kw: Any) -> set[str]:
        rows, total, _ = search_members(store, w, q, **kw)
        assert total == len(rows)
        return ids(rows)

    assert found(None) == w.ids("ada", "bob", "cy")
    assert found(None, include_deleted=True) == w.ids("ada", "bob", "cy", "gone")
    assert found(one_filter("statuses", ["deleted"]), include_deleted=True) == w.ids("gone")
    assert found(one_filter("member_roles", ["admin"]), include_deleted=True) == w.ids(
        "ada", "cy", "gone"
    )
    assert found(query("AND", member_roles=["admin"], member_is_breakglass=False)) == w.ids("cy")
    assert found(query("OR", member_roles=["viewer"], member_is_breakglass=True)) == w.ids(
        "ada", "bob", "cy"
    )
    assert found(query("AND", member_emails=["bob@example.com"], statuses=["active"])) == set()
    assert found(query("OR", member_ids=[], member_email_fuzzy="globex")) == w.ids("cy")
    with store.transaction() as tx:
        rows, total, _ = store.search_members(tx, w.environment_id, [], None, None, 10, True)
        assert (rows, total) == ([], 0)
        rows, _, _ = store.search_members(
            tx, w.environment_id, w.organization_ids[1:], None, None, 10, False
        )
        assert ids(rows) == w.ids("cy")
        with pytest.raises(UnknownFilter):
            store.search_members(
                tx,
                w.environment_id,
                w.organization_ids,
                one_filter("member_shoe_size", [42]),
                None,
                10,
                False,
            )
    assert_same_row(
        next(r for r in search_members(store, w, None)[0] if r["id"] == w.members["ada"]["id"]),
        w.members["ada"],
    )


def test_search_members_pages_visit_every_row_once(store: Store, member_world: MemberWorld) -> None:
    w = member_world
    everyone = sorted(w.members.values(), key=lambda r: (r["created_at"], r["id"]))
    for include_deleted in (False, True):
        expected = [r["id"] for r in everyone if include_deleted or r["status"] != "deleted"]
        for limit in (1, 2, 10):
            seen: list[str] = []
            cursor: str | None = None
            while True:
                page, total, cursor = search_members(
                    store, w, None, include_deleted=include_deleted, cursor=cursor, limit=limit
                )
                assert total == len(expected)
                assert len(page) <= limit
                seen += [r["id"] for r in page]
                if cursor is None:
                    break
                assert len(seen) <= len(expected), "pagination does not terminate"
            assert seen == expected, (include_deleted, limit)


# -- direct roles ----------------------------------------------------------------------------


def test_direct_roles_set_replace_list_and_remove(store: Store, tenant: Tenant) -> None:
    org = organization_row(tenant.environment_id)
    elsewhere_org = organization_row(tenant.other_environment_id)
    insert_organizations(store, org, elsewhere_org)
    ada = member_row(tenant.environment_id, org["id"])
    bob = member_row(tenant.environment_id, org["id"])
    far = member_row(tenant.other_environment_id, elsewhere_org["id"])
    insert_members(store, ada, bob, far)
    env = tenant.environment_id

    with store.transaction() as tx:
        assert store.direct_roles(tx, []) == {}
        assert store.direct_roles(tx, [ada["id"]]) == {ada["id"]: []}
        store.set_direct_roles(tx, env, ada["id"], ["viewer", "admin", "admin"])
        store.set_direct_roles(tx, env, bob["id"], iter(["admin"]))
        store.set_direct_roles(tx, tenant.other_environment_id, far["id"], ["admin"])
    with store.transaction() as tx:
        assert store.direct_roles(tx, [ada["id"], bob["id"], "member-test-missing"]) == {
            ada["id"]: ["admin", "viewer"],
            bob["id"]: ["admin"],
            "member-test-missing": [],
        }
        assert sorted(store.members_with_direct_role(tx, env, "admin")) == sorted(
            [ada["id"], bob["id"]]
        )
        assert store.members_with_direct_role(tx, env, "viewer") == [ada["id"]]
        assert store.members_with_direct_role(tx, env, "missing") == []

        store.set_direct_roles(tx, env, ada["id"], ["editor"])  # replaces, not adds
        assert store.direct_roles(tx, [ada["id"]]) == {ada["id"]: ["editor"]}
        store.set_direct_roles(tx, env, bob["id"], [])
        assert store.direct_roles(tx, [bob["id"]]) == {bob["id"]: []}

        store.set_direct_roles(tx, env, bob["id"], ["editor", "viewer"])
        store.remove_direct_role(tx, env, "editor")
    with store.transaction() as tx:
        assert store.direct_roles(tx, [ada["id"], bob["id"]]) == {
            ada["id"]: [],
            bob["id"]: ["viewer"],
        }
        assert store.members_with_direct_role(tx, env, "editor") == []
        store.remove_direct_role(tx, env, "admin")  # only this environment's holders lose it
        assert store.members_with_direct_role(tx, tenant.other_environment_id, "admin") == [
            far["id"]
        ]


# -- sessions --------------------------------------------------------------------------------


@pytest.fixture
def member(store: Store, tenant: Tenant) -> dict[str, Any]:
    org = organization_row(tenant.environment_id)
    insert_organizations(store, org)
    row = member_row(tenant.environment_id, org["id"])
    insert_members(store, row)
    return row


def test_session_round_trip_lookup_and_update(
    store: Store, tenant: Tenant, member: dict[str, Any]
) -> None:
    session = session_row(member)
    with store.transaction() as tx:
        store.insert_session(tx, session)
    with store.transaction() as tx:
        assert_same_row(store.get_session(tx, tenant.environment_id, session["id"]), session)
        assert_same_row(
            store.find_session_by_token_hash(tx, tenant.environment_id, session["token_hash"]),
            session,
        )
        assert store.get_session(tx, tenant.other_environment_id, session["id"]) is None
        assert (
            store.find_session_by_token_hash(tx, tenant.other_environment_id, session["token_hash"])
            is None
        )
        assert store.find_session_by_token_hash(tx, tenant.environment_id, "missing") is None
        with pytest.raises(Conflict):
            store.insert_session(tx, session_row(member, token_hash=session["token_hash"]))
        with pytest.raises(Conflict):
            store.insert_session(tx, session_row(member, id=session["id"]))
        with pytest.raises(Conflict):
            store.insert_session(tx, session_row(member, member_id="member-test-missing"))

    other = session_row(member)
    changes = {
        "last_accessed_at": at(120),
        "expires_at": at(7200),
        "custom_claims": {"plan": "enterprise", "n": [1, 2]},
        "authentication_factors": [],
    }
    with store.transaction() as tx:
        store.insert_session(tx, other)
        store.update_session(tx, session["id"], changes)
        with pytest.raises(Conflict):
            store.update_session(tx, other["id"], {"token_hash": session["token_hash"]})
    with store.transaction() as tx:
        assert_same_row(
            store.get_session(tx, tenant.environment_id, session["id"]), session | changes
        )
        assert_same_row(store.get_session(tx, tenant.environment_id, other["id"]), other)


def test_active_sessions_and_revocation(
    store: Store, tenant: Tenant, member: dict[str, Any]
) -> None:
    now = at(1000)
    colleague = member_row(tenant.environment_id, member["organization_id"])
    insert_members(store, colleague)
    later = session_row(member, started_at=at(20), expires_at=now + dt.timedelta(hours=1))
    earlier = session_row(member, started_at=at(10), expires_at=now + dt.timedelta(microseconds=1))
    expired = session_row(member, expires_at=now - dt.timedelta(microseconds=1))
    expiring_now = session_row(member, expires_at=now)
    revoked = session_row(member, revoked_at=at(500), expires_at=now + dt.timedelta(hours=1))
    theirs = session_row(colleague, expires_at=now + dt.timedelta(hours=1))
    with store.transaction() as tx:
        for s in (later, earlier, expired, expiring_now, revoked, theirs):
            store.insert_session(tx, s)

    with store.transaction() as tx:
        active = store.active_sessions(tx, member["id"], now)
    assert [s["id"] for s in active] == [earlier["id"], later["id"]]  # oldest first
    assert_same_row(active[0], earlier)

    with store.transaction() as tx:
        # Every session not yet revoked (expired ones too) gets revoked_at = now.
        assert store.revoke_member_sessions(tx, member["id"], now) == 4
    with store.transaction() as tx:
        assert store.active_sessions(tx, member["id"], now) == []
        assert store.revoke_member_sessions(tx, member["id"], at(2000)) == 0
        for s in (later, earlier, expired, expiring_now):
            assert_same_row(
                store.get_session(tx, tenant.environment_id, s["id"]), s | {"revoked_at": now}
            )
        assert_same_row(store.get_session(tx, tenant.environment_id, revoked["id"]), revoked)
        assert [s["id"] for s in store.active_sessions(tx, colleague["id"], now)] == [theirs["id"]]


# -- events ----------------------------------------------------------------------------------


def test_events_newest_first(store: Store, tenant: Tenant) -> None:
    written = [
        event_row(tenant.environment_id, action=f"action.{n}", created_at=at(n), changes={"n": n})
        for n in range(5)
    ]
    with store.transaction() as tx:
        assert store.events(tx, tenant.environment_id) == []
        for row in written:
            store.insert_event(tx, row)
        store.insert_event(tx, event_row(tenant.other_environment_id))
    with store.transaction() as tx:
        got = store.events(tx, tenant.environment_id)
        assert [e["action"] for e in store.events(tx, tenant.environment_id, limit=2)] == [
            "action.4",
            "action.3",
        ]
    assert [e["action"] for e in got] == [f"action.{n}" for n in reversed(range(5))]
    assert len({e["id"] for e in got}) == 5
    for event, row in zip(got, reversed(written), strict=True):
        assert isinstance(event["id"], int)
        assert_same_row({k: v for k, v in event.items() if k != "id"}, row)


def test_query_events_filters_newest_first_since_inclusive_until_exclusive(
    store: Store, tenant: Tenant
) -> None:
    env = tenant.environment_id
    written = [
        event_row(
            env,
            actor="ada" if n % 2 == 0 else "bob",
            target=f"target-{n % 3}",
            action="member.create" if n < 3 else "member.update",
            actor_role="admin" if n % 2 == 0 else None,
            created_at=at(10 * n),
            changes={"n": n, "name": [None, f"Name {n}"], "nested": {"x": [1.5, True, None]}},
        )
        for n in range(6)
    ]
    elsewhere = event_row(
        tenant.other_environment_id,
        actor="ada",
        target="target-0",
        action="member.create",
        changes={"n": 99},
    )
    with store.transaction() as tx:
        assert store.query_events(tx, env) == []
        for row in [*written, elsewhere]:
            store.insert_event(tx, row)

    def found(scope_id: str = env, **filters: Any) -> list[int]:
        with store.read() as tx:
            rows = store.query_events(tx, scope_id, **filters)
        return [row["changes"]["n"] for row in rows]

    assert found() == [5, 4, 3, 2, 1, 0]
    assert found(actor="ada") == [4, 2, 0]
    assert found(target="target-1") == [4, 1]
    assert found(action="member.create") == [2, 1, 0]
    assert found(actor="ada", action="member.update") == [4]
    assert found(actor="nobody") == []
    assert found(since=at(20)) == [5, 4, 3, 2]  # since is inclusive
    assert found(since=at(20) + dt.timedelta(microseconds=1)) == [5, 4, 3]
    assert found(until=at(20)) == [1, 0]  # until is exclusive
    assert found(since=at(20), until=at(40)) == [3, 2]
    assert found(since=at(20), until=at(20)) == []
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert found(since=at(20).astimezone(india), until=at(40).astimezone(india)) == [3, 2]
    assert found(limit=2) == [5, 4]
    assert found(actor="ada", since=at(10), limit=1) == [4]
    assert found(tenant.other_environment_id) == [99]
    assert found("project-test-missing") == []

    with store.read() as tx:
        got = store.query_events(tx, env, target="target-2")
    assert [e["changes"]["n"] for e in got] == [5, 2]
    for event, row in zip(got, [written[5], written[2]], strict=True):
        assert isinstance(event["id"], int)
        assert_same_row({k: v for k, v in event.items() if k != "id"}, row)


def test_query_events_pages_by_id_with_the_before_cursor(store: Store, tenant: Tenant) -> None:
    """`before` (the last id of a page) gives the next page, older events only, with the filters
    still applied; walking page by page yields every event once, newest first."""
    env = tenant.environment_id
    with store.transaction() as tx:
        for n in range(7):
            store.insert_event(
                tx,
                event_row(
                    env,
                    actor="ada" if n % 2 == 0 else "bob",
                    created_at=at(n),
                    changes={"n": n},
                ),
            )
        store.insert_event(tx, event_row(tenant.other_environment_id, changes={"n": 99}))

    def page(**filters: Any) -> list[EventRow]:
        with store.read() as tx:
            return store.query_events(tx, env, limit=3, **filters)

    walked: list[int] = []
    before: int | None = None
    while True:
        rows = page(before=before)
        walked += [row["changes"]["n"] for row in rows]
        if len(rows) < 3:
            break
        before = rows[-1]["id"]
    assert walked == [6, 5, 4, 3, 2, 1, 0]
    first = page()
    assert [r["changes"]["n"] for r in page(before=first[0]["id"])] == [5, 4, 3]
    assert [r["changes"]["n"] for r in page(before=first[-1]["id"], actor="ada")] == [2, 0]
    assert [r["changes"]["n"] for r in page(before=first[-1]["id"], since=at(1))] == [3, 2, 1]
    with store.read() as tx:
        ids = {row["changes"]["n"]: row["id"] for row in store.query_events(tx, env)}
    assert [r["changes"]["n"] for r in page(before=ids[1])] == [0]
    assert page(before=ids[0]) == []
    assert page(before=0) == []
    assert [r["changes"]["n"] for r in page(before=10**12)] == [6, 5, 4]


# -- timestamps ------------------------------------------------------------------------------


def test_timestamps_come_back_as_the_same_instant_in_utc(store: Store, tenant: Tenant) -> None:
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    written = dt.datetime(2031, 12, 31, 23, 59, 59, 999999, tzinfo=india)
    org = organization_row(
        tenant.environment_id, created_at=written, updated_at=written.astimezone(dt.UTC)
    )
    insert_organizations(store, org)
    got = find_organization(store, tenant.environment_id, org["id"])
    assert got is not None
    for column in ("created_at", "updated_at"):
        assert got[column] == written
        assert got[column].utcoffset() == dt.timedelta(0)
        assert got[column].astimezone(dt.UTC).replace(tzinfo=None) == dt.datetime(
            2031, 12, 31, 18, 29, 59, 999999
        )


@pytest.fixture
def store_in_new_york(
    migrated_database_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SqlStore]:
    """A second store on the same database whose connections live in another time zone.

    PGTZ sets a PostgreSQL session's time zone; SQLite ignores it.
    """
    monkeypatch.setenv("PGTZ", "America/New_York")
    other = open_store(migrated_database_url, apply_migrations=False)
    yield other
    other.engine.dispose()


def test_timestamps_are_utc_whatever_the_session_time_zone(
    store_in_new_york: Store, tenant: Tenant
) -> None:
    store = store_in_new_york
    org = organization_row(tenant.environment_id, created_at=at(0), updated_at=at(1))
    insert_organizations(store, org, organization_row(tenant.environment_id, created_at=at(0)))
    assert_same_row(find_organization(store, tenant.environment_id, org["id"]), org)
    with store.transaction() as tx:
        page, _, cursor = store.search_organizations(tx, tenant.environment_id, None, None, 1)
        assert cursor is not None
        rest, _, _ = store.search_organizations(tx, tenant.environment_id, None, cursor, 1)
    assert len(page) == len(rest) == 1 and page[0]["id"] != rest[0]["id"]
    for row in page + rest:
        assert row["created_at"].utcoffset() == dt.timedelta(0)
