"""The storage conformance suite, continued: the WorkspaceStore (the workspace, its people,
email-domain rules, management keys, dashboard sessions and one-time email tokens), on whichever
backend the environment selects (see test_conformance.py).

The two races here start their transactions together (a barrier) on connections of their own:
on PostgreSQL they really overlap, on SQLite they queue on the write lock; the outcome must be
the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from gatehouse.storage import Conflict, DuplicateValue, Store
from tests.storage.rows import (
    Tenant,
    assert_same_row,
    at,
    dashboard_session_row,
    domain_row,
    email_token_row,
    workspace_key_row,
    workspace_member_row,
    workspace_row,
)

ROUNDS = 10


def together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable on its own thread, released at one moment; their results in order
    (a callable that raised fails the test with its exception)."""
    barrier = threading.Barrier(len(work), timeout=30)
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work[i]()
        except BaseException as error:  # re-raised below, on the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racer never finished"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def other_workspace(store: Store, tenant: Tenant) -> str:
    """A second workspace (Gatehouse runs one per database; the store is scoped all the same)."""
    row = workspace_row(created_at=at(1))
    with store.transaction() as tx:
        store.insert_workspace(tx, row)
    return str(row["id"])


# -- the workspace ---------------------------------------------------------------------------


def test_get_workspace_is_the_first_workspace(store: Store) -> None:
    with store.read() as tx:
        assert store.get_workspace(tx) is None
    later = workspace_row(name="Later", created_at=at(10))
    first = workspace_row(
        name="First",
        created_at=at(-10),
        settings={"billing": {"email": "ap@example.com", "seats": 3, "po": None}, "tags": ["a"]},
    )
    with store.transaction() as tx:
        store.insert_workspace(tx, later)
        store.insert_workspace(tx, first)
    with store.read() as tx:
        assert_same_row(store.get_workspace(tx), first)


def test_update_workspace(store: Store, tenant: Tenant, other_workspace: str) -> None:
    with store.read() as tx:
        before = store.get_workspace(tx)
    assert before is not None and before["id"] == tenant.workspace_id

    changes = {"name": "Renamed", "settings": {"billing": {"vat": "GB123", "lines": [1, 2.5]}}}
    with store.transaction() as tx:
        store.update_workspace(tx, tenant.workspace_id, changes)
        store.update_workspace(tx, tenant.workspace_id, {})  # nothing to change is not an error
        store.update_workspace(tx, "workspace-test-missing", {"name": "Nobody"})
    with store.read() as tx:
        assert_same_row(store.get_workspace(tx), before | changes)
    # Updating another workspace leaves this one (the first, which get_workspace reads) alone.
    with store.transaction() as tx:
        store.update_workspace(tx, other_workspace, {"name": "Other", "settings": {"x": 1}})
    with store.read() as tx:
        assert_same_row(store.get_workspace(tx), before | changes)
    with store.transaction() as tx:
        store.update_workspace(tx, tenant.workspace_id, {"settings": {}})
    with store.read() as tx:
        assert_same_row(store.get_workspace(tx), before | changes | {"settings": {}})


def test_lock_workspace_inside_a_write_transaction(store: Store, tenant: Tenant) -> None:
    member = workspace_member_row(tenant.workspace_id)
    with store.read() as tx:
        before = store.get_workspace(tx)
    assert before is not None
    with store.transaction() as tx:
        store.lock_workspace(tx, tenant.workspace_id)
        store.lock_workspace(tx, tenant.workspace_id)  # a transaction may take it again
        store.lock_workspace(tx, "workspace-test-missing")  # nothing to lock: not an error
        # The transaction goes on to read and write under the lock, and commits.
        assert store.list_workspace_members(tx, tenant.workspace_id) == []
        store.insert_workspace_member(tx, member)
        store.update_workspace(tx, tenant.workspace_id, {"name": "Under lock"})
    with store.read() as tx:
        assert_same_row(store.get_workspace_member(tx, member["id"]), member)
        assert_same_row(store.get_workspace(tx), before | {"name": "Under lock"})
    # The lock ends with its transaction: the next one takes it again.
    with store.transaction() as tx:
        store.lock_workspace(tx, tenant.workspace_id)


def test_lock_workspace_serialises_checks_that_read_every_member(
    store: Store, tenant: Tenant
) -> None:
    """Each of two Admins is demoted by its own transaction, which checks under the lock that
    another Admin remains: exactly one wins (without the lock, on PostgreSQL, both checks can
    pass before either write commits, and the workspace is left without an Admin)."""
    admins = [workspace_member_row(tenant.workspace_id, role="admin") for _ in range(2)]
    with store.transaction() as tx:
        for row in admins:
            store.insert_workspace_member(tx, row)

    def demote(member_id: str) -> Callable[[], bool]:
        def run() -> bool:
            with store.transaction() as tx:
                store.lock_workspace(tx, tenant.workspace_id)
                others = [
                    m
                    for m in store.list_workspace_members(tx, tenant.workspace_id)
                    if m["role"] == "admin" and m["id"] != member_id
                ]
                if others:
                    store.update_workspace_member(tx, member_id, {"role": "developer"})
                return bool(others)

        return run

    for _ in range(ROUNDS):
        outcomes = together(*(demote(row["id"]) for row in admins))
        with store.read() as tx:
            roles = [m["role"] for m in store.list_workspace_members(tx, tenant.workspace_id)]
        assert sorted(outcomes) == [False, True], outcomes
        assert sorted(r or "" for r in roles) == ["admin", "developer"], roles
        with store.transaction() as tx:
            for row in admins:
                store.update_workspace_member(tx, row["id"], {"role": "admin"})


# -- people ----------------------------------------------------------------------------------


def test_workspace_members_round_trip_lookups_and_order(
    store: Store, tenant: Tenant, other_workspace: str
) -> None:
    ws = tenant.workspace_id
    # Two joined at the same instant: ties are broken by id.
    bob = workspace_member_row(
        ws, id="workspace-member-b", email="bob@example.com", created_at=at(5)
    )
    ada = workspace_member_row(
        ws,
        id="workspace-member-a",
        email="ada@example.com",
        role=None,  # joined through a domain rule, never given a role
        name="Ada Lovelace",
        status="invited",
        email_verified=True,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=at(5),
    )
    first = workspace_member_row(ws, email="first@example.com", created_at=at(1))
    namesake = workspace_member_row(other_workspace, email="ada@example.com")
    with store.transaction() as tx:
        assert store.list_workspace_members(tx, ws) == []
        for row in (bob, ada, first, namesake):
            store.insert_workspace_member(tx, row)

    with store.read() as tx:
        listed = store.list_workspace_members(tx, ws)
        assert_same_row(store.get_workspace_member(tx, ada["id"]), ada)
        assert store.get_workspace_member(tx, "workspace-member-missing") is None
        # Addresses are stored lowercased; the lookup is case-insensitive and stays in its
        # workspace.
        assert_same_row(store.find_workspace_member_by_email(tx, ws, "Ada@Example.COM"), ada)
        assert_same_row(
            store.find_workspace_member_by_email(tx, other_workspace, "ada@example.com"), namesake
        )
        assert store.find_workspace_member_by_email(tx, ws, "nobody@example.com") is None
        assert store.find_workspace_member_by_email(tx, ws, "ada@example") is None
        assert [m["id"] for m in store.list_workspace_members(tx, other_workspace)] == [
            namesake["id"]
        ]
    assert [m["id"] for m in listed] == [first["id"], "workspace-member-a", "workspace-member-b"]
    for got, written in zip(listed, (first, ada, bob), strict=True):
        assert_same_row(got, written)


def test_update_workspace_member(store: Store, tenant: Tenant) -> None:
    member = workspace_member_row(tenant.workspace_id, email="ada@example.com")
    colleague = workspace_member_row(tenant.workspace_id, email="bob@example.com")
    with store.transaction() as tx:
        store.insert_workspace_member(tx, member)
        store.insert_workspace_member(tx, colleague)

    changes = {
        "email": "ada@example.org",
        "role": None,
        "name": "Ada",
        "status": "active",
        "email_verified": True,
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    }
    with store.transaction() as tx:
        store.update_workspace_member(tx, member["id"], changes)
        store.update_workspace_member(tx, member["id"], {})  # nothing to change is not an error
        with pytest.raises(DuplicateValue) as refused:
            store.update_workspace_member(tx, colleague["id"], {"email": "ada@example.org"})
        assert refused.value.constraint == "uq_workspace_members_workspace_id_email"
        # Still usable after the refusal.
        store.update_workspace_member(tx, colleague["id"], {"name": "Bob"})
    with store.read() as tx:
        assert_same_row(store.get_workspace_member(tx, member["id"]), member | changes)
        assert_same_row(
            store.get_workspace_member(tx, colleague["id"]), colleague | {"name": "Bob"}
        )
        assert (
            store.find_workspace_member_by_email(tx, tenant.workspace_id, "ada@example.com") is None
        )


def test_workspace_member_integrity(store: Store, tenant: Tenant, other_workspace: str) -> None:
    member = workspace_member_row(tenant.workspace_id, email="owner@example.com")
    with store.transaction() as tx:
        store.insert_workspace_member(tx, member)
    with store.transaction() as tx:
        with pytest.raises(DuplicateValue) as refused:
            store.insert_workspace_member(
                tx, workspace_member_row(tenant.workspace_id, email="owner@example.com")
            )
        error = refused.value
        assert isinstance(error, Conflict)
        assert error.constraint == "uq_workspace_members_workspace_id_email"
        assert (error.field, error.value) == ("email_address", "owner@example.com")
        with pytest.raises(Conflict):  # the same id
            store.insert_workspace_member(
                tx, workspace_member_row(tenant.workspace_id, id=member["id"])
            )
        with pytest.raises(Conflict):  # no such workspace
            store.insert_workspace_member(tx, workspace_member_row("workspace-test-missing"))
        # The same address in another workspace is another person.
        store.insert_workspace_member(
            tx, workspace_member_row(other_workspace, email="owner@example.com")
        )
    with store.read() as tx:
        assert [m["id"] for m in store.list_workspace_members(tx, tenant.workspace_id)] == [
            member["id"]
        ]
        assert len(store.list_workspace_members(tx, other_workspace)) == 1


def test_delete_workspace_member_takes_their_dashboard_sessions(
    store: Store, tenant: Tenant
) -> None:
    leaving = workspace_member_row(tenant.workspace_id)
    staying = workspace_member_row(tenant.workspace_id)
    leaving_sessions = [dashboard_session_row(leaving["id"]) for _ in range(2)]
    staying_session = dashboard_session_row(staying["id"])
    with store.transaction() as tx:
        store.insert_workspace_member(tx, leaving)
        store.insert_workspace_member(tx, staying)
        for row in [*leaving_sessions, staying_session]:
            store.insert_dashboard_session(tx, row)

    with store.transaction() as tx:
        store.delete_workspace_member(tx, leaving["id"])
        store.delete_workspace_member(tx, "workspace-member-missing")  # not an error
    with store.read() as tx:
        assert store.get_workspace_member(tx, leaving["id"]) is None
        assert (
            store.find_workspace_member_by_email(tx, tenant.workspace_id, leaving["email"]) is None
        )
        for row in leaving_sessions:
            assert store.find_dashboard_session(tx, row["token_hash"]) is None
        assert [m["id"] for m in store.list_workspace_members(tx, tenant.workspace_id)] == [
            staying["id"]
        ]
        assert_same_row(store.get_workspace_member(tx, staying["id"]), staying)
        assert_same_row(
            store.find_dashboard_session(tx, staying_session["token_hash"]), staying_session
        )


# -- email domain rules ----------------------------------------------------------------------


def test_domains_put_replace_list_and_delete(
    store: Store, tenant: Tenant, other_workspace: str
) -> None:
    ws = tenant.workspace_id
    zeta = domain_row(ws, domain="zeta.example.com", created_at=at(1))
    alpha = domain_row(ws, domain="alpha.example.com", auto_role=None, created_at=at(2))
    alpha_elsewhere = domain_row(other_workspace, domain="alpha.example.com", jit_enabled=False)
    with store.transaction() as tx:
        assert store.list_domains(tx, ws) == []
        for row in (zeta, alpha, alpha_elsewhere):
            store.put_domain(tx, row)
    with store.read() as tx:
        listed = store.list_domains(tx, ws)
    assert [d["domain"] for d in listed] == ["alpha.example.com", "zeta.example.com"]
    assert_same_row(listed[0], alpha)
    assert_same_row(listed[1], zeta)

    # Putting a domain again replaces its rule.
    alpha_again = alpha | {"jit_enabled": False, "auto_role": "admin", "created_at": at(9)}
    with store.transaction() as tx:
        store.put_domain(tx, alpha_again)
        with pytest.raises(Conflict):
            store.put_domain(tx, domain_row("workspace-test-missing"))
    with store.read() as tx:
        listed = store.list_domains(tx, ws)
        elsewhere = store.list_domains(tx, other_workspace)
    assert [d["domain"] for d in listed] == ["alpha.example.com", "zeta.example.com"]
    assert_same_row(listed[0], alpha_again)
    assert_same_row(elsewhere[0], alpha_elsewhere)

    with store.transaction() as tx:
        assert store.delete_domain(tx, ws, "alpha.example.com") is True
        assert store.delete_domain(tx, ws, "alpha.example.com") is False
        assert store.delete_domain(tx, ws, "missing.example.com") is False
        assert store.delete_domain(tx, "workspace-test-missing", "zeta.example.com") is False
    with store.read() as tx:
        assert [d["domain"] for d in store.list_domains(tx, ws)] == ["zeta.example.com"]
        assert [d["domain"] for d in store.list_domains(tx, other_workspace)] == [
            "alpha.example.com"
        ]


# -- management keys -------------------------------------------------------------------------


def test_workspace_keys_round_trip_order_and_revocation(
    store: Store, tenant: Tenant, other_workspace: str
) -> None:
    ws = tenant.workspace_id
    # Two created at the same instant: ties are broken by id.
    key_b = workspace_key_row(ws, id="workspace-key-b", created_at=at(5))
    key_a = workspace_key_row(
        ws, id="workspace-key-a", role="admin", name="Deploys", created_at=at(5)
    )
    first = workspace_key_row(ws, created_at=at(1))
    elsewhere = workspace_key_row(other_workspace)
    with store.transaction() as tx:
        assert store.list_workspace_keys(tx, ws) == []
        for row in (key_b, key_a, first, elsewhere):
            store.insert_workspace_key(tx, row)
        with pytest.raises(Conflict):
            store.insert_workspace_key(tx, workspace_key_row(ws, id=first["id"]))
        with pytest.raises(Conflict):
            store.insert_workspace_key(tx, workspace_key_row("workspace-test-missing"))
    with store.read() as tx:
        listed = store.list_workspace_keys(tx, ws)
        assert_same_row(store.get_workspace_key(tx, key_a["id"]), key_a)
        assert store.get_workspace_key(tx, "workspace-key-missing") is None
        assert [k["id"] for k in store.list_workspace_keys(tx, other_workspace)] == [
            elsewhere["id"]
        ]
    assert [k["id"] for k in listed] == [first["id"], "workspace-key-a", "workspace-key-b"]
    for got, written in zip(listed, (first, key_a, key_b), strict=True):
        assert_same_row(got, written)

    revoked = {"revoked_at": at(60), "name": "Deploys (old)"}
    with store.transaction() as tx:
        store.update_workspace_key(tx, key_a["id"], revoked)
        store.update_workspace_key(tx, key_a["id"], {})  # nothing to change is not an error
    with store.read() as tx:
        assert_same_row(store.get_workspace_key(tx, key_a["id"]), key_a | revoked)
        assert_same_row(store.get_workspace_key(tx, key_b["id"]), key_b)
        assert [k["id"] for k in store.list_workspace_keys(tx, ws)] == [
            first["id"],
            key_a["id"],
            key_b["id"],
        ]


# -- dashboard sessions ----------------------------------------------------------------------


def test_dashboard_sessions_find_update_and_revoke(store: Store, tenant: Tenant) -> None:
    member = workspace_member_row(tenant.workspace_id)
    colleague = workspace_member_row(tenant.workspace_id)
    live = [dashboard_session_row(member["id"], expires_at=at(3600 + n)) for n in range(2)]
    already_revoked = dashboard_session_row(member["id"], revoked_at=at(10))
    theirs = dashboard_session_row(colleague["id"])
    with store.transaction() as tx:
        store.insert_workspace_member(tx, member)
        store.insert_workspace_member(tx, colleague)
        for row in [*live, already_revoked, theirs]:
            store.insert_dashboard_session(tx, row)
        with pytest.raises(Conflict):  # token hashes are unique
            store.insert_dashboard_session(
                tx, dashboard_session_row(colleague["id"], token_hash=theirs["token_hash"])
            )
        with pytest.raises(Conflict):  # no such member
            store.insert_dashboard_session(tx, dashboard_session_row("workspace-member-missing"))
    with store.read() as tx:
        assert_same_row(store.find_dashboard_session(tx, live[0]["token_hash"]), live[0])
        assert_same_row(
            store.find_dashboard_session(tx, already_revoked["token_hash"]), already_revoked
        )
        assert store.find_dashboard_session(tx, "missing") is None

    extended = {"expires_at": at(7200)}
    now = at(100)
    with store.transaction() as tx:
        store.update_dashboard_session(tx, theirs["id"], extended)
        store.update_dashboard_session(tx, theirs["id"], {})  # nothing to change is not an error
        store.revoke_dashboard_sessions(tx, member["id"], now)
        store.revoke_dashboard_sessions(tx, "workspace-member-missing", now)
    with store.read() as tx:
        for row in live:
            assert_same_row(
                store.find_dashboard_session(tx, row["token_hash"]), row | {"revoked_at": now}
            )
        # An already revoked session keeps the time it was revoked; a colleague's is untouched.
        assert_same_row(
            store.find_dashboard_session(tx, already_revoked["token_hash"]), already_revoked
        )
        assert_same_row(store.find_dashboard_session(tx, theirs["token_hash"]), theirs | extended)

    with store.transaction() as tx:
        store.update_dashboard_session(tx, theirs["id"], {"revoked_at": now})
    with store.read() as tx:
        assert_same_row(
            store.find_dashboard_session(tx, theirs["token_hash"]),
            theirs | extended | {"revoked_at": now},
        )


# -- one-time email tokens -------------------------------------------------------------------


def test_email_tokens_find_and_use_once(store: Store, tenant: Tenant) -> None:
    reset = email_token_row(
        purpose="member_password_reset",
        email="Ada@Example.com",
        environment_id=tenant.environment_id,
        subject_id="member-test-ada",
        expires_at=at(1800),
    )
    invite = email_token_row(purpose="invite", workspace_id=tenant.workspace_id)
    with store.transaction() as tx:
        store.insert_email_token(tx, reset)
        store.insert_email_token(tx, invite)
        with pytest.raises(Conflict):  # token hashes are unique
            store.insert_email_token(tx, email_token_row(token_hash=reset["token_hash"]))
        with pytest.raises(Conflict):  # so are ids
            store.insert_email_token(tx, email_token_row(id=reset["id"]))
    with store.read() as tx:
        assert_same_row(store.find_email_token(tx, reset["token_hash"]), reset)
        assert_same_row(store.find_email_token(tx, invite["token_hash"]), invite)
        assert store.find_email_token(tx, "missing") is None

    used_at = at(60)
    with store.transaction() as tx:
        assert store.use_email_token(tx, reset["id"], used_at) is True
        assert store.use_email_token(tx, reset["id"], at(61)) is False  # once only
        assert store.use_email_token(tx, "email-token-missing", used_at) is False
    with store.transaction() as tx:
        assert store.use_email_token(tx, reset["id"], at(62)) is False
    with store.read() as tx:
        assert_same_row(
            store.find_email_token(tx, reset["token_hash"]), reset | {"used_at": used_at}
        )
        assert_same_row(store.find_email_token(tx, invite["token_hash"]), invite)


def test_two_racing_redemptions_of_one_email_token_one_wins(store: Store) -> None:
    tokens = [email_token_row() for _ in range(ROUNDS)]
    with store.transaction() as tx:
        for row in tokens:
            store.insert_email_token(tx, row)

    def redeem(token_id: str, now_seconds: int) -> Callable[[], bool]:
        def run() -> bool:
            with store.transaction() as tx:
                return store.use_email_token(tx, token_id, at(now_seconds))

        return run

    for token in tokens:
        first, second = together(redeem(token["id"], 100), redeem(token["id"], 200))
        assert sorted([first, second]) == [False, True], (first, second)
        with store.read() as tx:
            got = store.find_email_token(tx, token["token_hash"])
        winner_at = at(100) if first else at(200)
        assert_same_row(got, token | {"used_at": winner_at})
