"""The change feed, held to one contract on SQLite and PostgreSQL: a committed write that can make
a cached answer stale is delivered to every listener, and to the writing node at commit; a rolled
back one never is."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gatehouse.storage import Change, SqlStore

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Listener:
    def __init__(self, store: SqlStore) -> None:
        self.changes: list[Change] = []
        self.resets = 0
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=store.listen_changes,
            args=(self._on_change, self._on_reset, self.ready.set, self._stop),
            daemon=True,
        )

    def _on_change(self, change: Change) -> None:
        with self._lock:
            self.changes.append(change)

    def _on_reset(self) -> None:
        self.resets += 1

    def wait_for(self, change: Change, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if change in self.changes:
                    return True
            time.sleep(0.01)
        return False

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(5), "the change feed did not become ready"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


@contextmanager
def listening(store: SqlStore) -> Iterator[Listener]:
    listener = Listener(store)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def env(store: SqlStore) -> str:
    with store.transaction() as tx:
        store.insert_workspace(tx, {"id": "ws", "name": "W", "created_at": NOW})
        store.insert_project(
            tx, {"id": "p", "workspace_id": "ws", "name": "P", "slug": "p", "created_at": NOW}
        )
        store.insert_environment(
            tx,
            {
                "id": "env",
                "project_id": "p",
                "kind": "test",
                "name": "Test",
                "slug": "test",
                "policy": {},
                "policy_version": 1,
                "created_at": NOW,
            },
        )
    return "env"


def test_a_committed_change_reaches_listeners_and_the_writing_node(store, env):
    at_commit: list[list[Change]] = []
    store.on_commit(at_commit.append)
    change = Change(env, "policy", env)
    with listening(store) as listener:
        with store.transaction() as tx:
            store.record_change(tx, change)
            assert at_commit == []  # not before the commit
        assert at_commit == [[change]]
        assert listener.wait_for(change)
    assert listener.resets == 0


def test_a_rolled_back_change_reaches_nobody(store, env):
    at_commit: list[list[Change]] = []
    store.on_commit(at_commit.append)
    lost, kept = Change(env, "member", "lost"), Change(env, "member", "kept")
    with listening(store) as listener:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            store.record_change(tx, lost)
            raise RuntimeError("abandon the transaction")
        with store.transaction() as tx:  # the same pooled connection must not carry it over
            store.record_change(tx, kept)
        assert listener.wait_for(kept)
        assert lost not in listener.changes
    assert at_commit == [[kept]]


def test_changes_arrive_in_commit_order(store, env):
    sent = [Change(env, "session", f"s{i}") for i in range(20)]
    with listening(store) as listener:
        for change in sent:
            with store.transaction() as tx:
                store.record_change(tx, change)
        assert listener.wait_for(sent[-1])
        assert [c for c in listener.changes if c in sent] == sent


def _write(store: SqlStore, method: str, *args: object) -> list[Change]:
    recorded: list[list[Change]] = []
    store.on_commit(recorded.append)
    with store.transaction() as tx:
        getattr(store, method)(tx, *args)
    return [c for batch in recorded for c in batch]


def test_each_write_that_can_stale_a_check_records_its_change(store, env):
    org = {
        "id": "org",
        "environment_id": env,
        "name": "O",
        "slug": "o",
        "trusted_metadata": {},
        "settings": {},
        "custom_roles": [],
        "created_at": NOW,
        "updated_at": NOW,
    }
    member = {
        "id": "m",
        "environment_id": env,
        "organization_id": "org",
        "email": "a@example.com",
        "email_lower": "a@example.com",
        "status": "active",
        "name": "",
        "is_breakglass": False,
        "email_verified": False,
        "mfa_enrolled": False,
        "mfa_phone_number": "",
        "mfa_phone_verified": False,
        "default_mfa_method": "",
        "totp_registration_id": "",
        "trusted_metadata": {},
        "untrusted_metadata": {},
        "created_at": NOW,
        "updated_at": NOW,
    }
    with store.transaction() as tx:
        store.insert_organization(tx, org)
        store.insert_member(tx, member)
    assert _write(store, "set_policy", env, 1, {"resources": []}) == [Change(env, "policy", env)]
    assert _write(store, "update_organization", "org", {"name": "O2"}) == [
        Change(env, "organization", "org")
    ]
    assert _write(store, "update_member", "m", {"name": "x"}) == [Change("", "member", "m")]
    assert _write(store, "set_direct_roles", env, "m", ["admin"]) == [Change(env, "member", "m")]
    assert _write(store, "revoke_member_sessions", "m", NOW) == [Change("", "member", "m")]
    assert _write(store, "update_session", "s", {"revoked_at": NOW}) == [Change("", "session", "s")]
    assert _write(store, "remove_direct_role", env, "admin") == [Change(env, "policy", env)]
    assert _write(store, "delete_secret", env, "nope") == [Change(env, "environment", env)]
    assert _write(store, "delete_organization", "org") == [Change(env, "organization", "org")]
    # A compare-and-set that lost records nothing.
    assert _write(store, "set_policy", env, 1, {"resources": []}) == []
