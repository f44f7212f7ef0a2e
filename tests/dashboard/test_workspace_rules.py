"""The workspace's own rules, through the real HTTPS Management API (docs/spec/dashboard-permissions.md):

- the last Admin can be neither demoted nor removed, not even by a domain rule change;
- nobody changes their own dashboard role;
- a domain's automatic role lifts the effective role of members with a verified email there (the
  more privileged of explicit and automatic role wins), and a rule change applies at once;
- a management key's role is fixed; a revoked key is refused; only Admins create keys;
- every action by a person or a key is in the event log with the actor and the role they used.
"""

from __future__ import annotations

import gc
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import throwaway_database
from tests.server import FAST_ARGON2, RunningServer, running_server

W = "/pwa/v3/workspace"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_domain() -> str:
    return f"{uuid.uuid4().hex[:10]}.rules.test"


@dataclass
class Actor:
    """A person or a key, with an HTTPS client that authenticates as them."""

    client: httpx.Client
    actor: str  # as the event log names it
    member_id: str | None = None
    key_id: str | None = None
    secret: str | None = None


class Harness:
    """People and keys of one server's workspace, made in-process; requests go over HTTPS."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.clients: list[httpx.Client] = []
        with server.store.read() as tx:
            workspace = server.store.get_workspace(tx)
        assert workspace is not None
        self.workspace_id: str = workspace["id"]
        key = server.management_key
        self.admin = Actor(
            self.client(auth=(key["key_id"], key["secret"])),
            f"workspace_key:{key['key_id']}",
            key_id=key["key_id"],
        )
        self.b2b = self.client(auth=(server.project_id, server.secret))

    def client(self, **auth: Any) -> httpx.Client:
        assert self.server.tls_cert is not None
        client = httpx.Client(
            base_url=self.server.url,
            verify=ssl.create_default_context(cafile=str(self.server.tls_cert)),
            trust_env=False,
            **auth,
        )
        self.clients.append(client)
        return client

    def key_client(self, key_id: str, secret: str) -> Actor:
        return Actor(
            self.client(auth=(key_id, secret)),
            f"workspace_key:{key_id}",
            key_id=key_id,
            secret=secret,
        )

    def key(self, role: str) -> Actor:
        with self.server.store.transaction() as tx:
            key = self.server.gatehouse.workspace.create_key(
                tx, self.workspace_id, role, "rules", "test"
            )
        return self.key_client(key["key_id"], key["secret"])

    def person(
        self, role: str, *, domain: str = "people.rules.test", verified: bool = True
    ) -> Actor:
        """A signed-in, active workspace member with explicit role `role`."""
        workspace = self.server.gatehouse.workspace
        with self.server.store.transaction() as tx:
            member = workspace.add_member(
                tx,
                self.workspace_id,
                f"{unique('p')}@{domain}",
                role,
                status="active",
                verified=verified,
            )
            token = workspace.start_session(tx, member)["session_token"]
        return Actor(
            self.client(headers={"Authorization": f"Bearer {token}"}),
            f"workspace_member:{member['id']}",
            member_id=member["id"],
        )

    def members(self) -> dict[str, dict[str, Any]]:
        response = self.admin.client.get(f"{W}/members")
        assert response.status_code == 200, response.text
        return {m["member_id"]: m for m in response.json()["members"]}

    def admins(self) -> set[str]:
        return {i for i, m in self.members().items() if m["role"] == "admin"}

    def events(self, scope: str, **filters: Any) -> list[dict[str, Any]]:
        with self.server.store.read() as tx:
            return self.server.store.query_events(tx, scope, **filters)

    def close(self) -> None:
        gc.collect()  # responses caught in exception cycles hold connections
        for client in self.clients:
            client.close()


def refused(response: httpx.Response, status: int, error_type: str) -> None:
    assert (response.status_code, response.json().get("error_type")) == (status, error_type), (
        response.text
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def ws(tls_server: RunningServer) -> Iterator[Harness]:
    harness = Harness(tls_server)
    yield harness
    harness.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Harness]:
    """A server of its own, whose only Admin is the one `gatehouse init` made."""
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, tls_dir=tmp_path, **FAST_ARGON2) as server,
    ):
        harness = Harness(server)
        yield harness
        harness.close()


def _initial_admin(harness: Harness) -> str:
    (admin,) = harness.admins()
    return admin


def _initial_admin_other(harness: Harness, keep: Actor) -> str:
    (other,) = harness.admins() - {keep.member_id}
    return other


# -- the last Admin --------------------------------------------------------------------------


def test_the_last_admin_can_be_neither_demoted_nor_removed(fresh):
    only = _initial_admin(fresh)
    before = fresh.server.snapshot()
    for role in ("developer", "support_manager", "support_agent", "no_access"):
        refused(
            fresh.admin.client.patch(f"{W}/members/{only}", json={"role": role}), 409, "last_admin"
        )
    refused(fresh.admin.client.delete(f"{W}/members/{only}"), 409, "last_admin")
    assert fresh.server.snapshot() == before
    assert fresh.members()[only]["role"] == "admin"

    # With a second Admin, the first may go; then the second is the last one.
    second = fresh.person("admin")
    assert fresh.admin.client.patch(f"{W}/members/{only}", json={"role": "developer"}).is_success
    assert fresh.admins() == {second.member_id}
    before = fresh.server.snapshot()
    refused(
        fresh.admin.client.patch(f"{W}/members/{second.member_id}", json={"role": "no_access"}),
        409,
        "last_admin",
    )
    refused(fresh.admin.client.delete(f"{W}/members/{second.member_id}"), 409, "last_admin")
    refused(second.client.delete(f"{W}/members/{second.member_id}"), 409, "last_admin")
    assert fresh.server.snapshot() == before
    # The last Admin can still act as one.
    assert second.client.get(f"{W}/billing").status_code == 200


def test_invited_or_key_admins_do_not_count_as_the_last_admin(fresh):
    only = _initial_admin(fresh)
    invited = fresh.admin.client.post(
        f"{W}/invitations", json={"email_address": f"{unique('i')}@rules.test", "role": "admin"}
    )
    assert invited.status_code == 200, invited.text
    assert invited.json()["member"]["status"] == "invited"
    fresh.key("admin")
    refused(fresh.admin.client.delete(f"{W}/members/{only}"), 409, "last_admin")


def test_no_domain_rule_change_may_leave_the_workspace_without_an_admin(fresh):
    domain = new_domain()
    lifted = fresh.person("developer", domain=domain)
    put = fresh.admin.client.put(
        f"{W}/domains/{domain}", json={"jit_enabled": False, "auto_role": "admin"}
    )
    assert put.status_code == 200, put.text
    assert fresh.members()[lifted.member_id]["role_source"] == "domain"
    # The initial Admin may go: the domain keeps an Admin.
    assert fresh.admin.client.delete(
        f"{W}/members/{_initial_admin_other(fresh, lifted)}"
    ).is_success
    assert fresh.admins() == {lifted.member_id}

    before = fresh.server.snapshot()
    for rule in ({"jit_enabled": False, "auto_role": "developer"}, {"jit_enabled": True}):
        refused(fresh.admin.client.put(f"{W}/domains/{domain}", json=rule), 409, "last_admin")
    refused(
        fresh.admin.client.put(
            f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": None}
        ),
        409,
        "last_admin",
    )
    refused(fresh.admin.client.delete(f"{W}/domains/{domain}"), 409, "last_admin")
    refused(fresh.admin.client.delete(f"{W}/members/{lifted.member_id}"), 409, "last_admin")
    assert fresh.server.snapshot() == before
    assert fresh.members()[lifted.member_id]["role"] == "admin"

    # Lowering the explicit role of someone the domain makes Admin leaves an Admin: allowed.
    lowered = fresh.admin.client.patch(
        f"{W}/members/{lifted.member_id}", json={"role": "no_access"}
    )
    assert lowered.status_code == 200, lowered.text
    assert (lowered.json()["member"]["role"], lowered.json()["member"]["explicit_role"]) == (
        "admin",
        "no_access",
    )

    # Once there is another Admin, the rule may change.
    fresh.person("admin")
    assert fresh.admin.client.delete(f"{W}/domains/{domain}").is_success
    assert fresh.members()[lifted.member_id]["role"] == "no_access"


def test_concurrent_demotions_never_leave_the_workspace_without_an_admin(fresh):
    """Two Admins, each demoted by a separate request at the same moment: one may win, the
    other must get 409 `last_admin`. Checking "is someone else still Admin?" and then writing,
    without serialising the two, lets both pass (write skew)."""
    first = _initial_admin(fresh)
    second = fresh.person("admin").member_id
    clients = [fresh.admin.client, fresh.client(auth=fresh.admin.client.auth)]

    def demote_both_at_once() -> dict[str, int]:
        barrier = threading.Barrier(2)
        statuses: dict[str, int] = {}

        def demote(client: httpx.Client, member_id: str) -> None:
            barrier.wait()
            response = client.patch(f"{W}/members/{member_id}", json={"role": "developer"})
            statuses[member_id] = response.status_code

        threads = [
            threading.Thread(target=demote, args=(client, member_id))
            for client, member_id in zip(clients, (first, second), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return statuses

    for _ in range(20):
        statuses = demote_both_at_once()
        admins = fresh.admins()
        assert admins, f"both demotions went through ({statuses}): the workspace has no Admin"
        assert sorted(statuses.values()) == [200, 409], statuses
        (demoted,) = {first, second} - admins
        _ok(fresh.admin.client.patch(f"{W}/members/{demoted}", json={"role": "admin"}))


# -- nobody changes their own role -----------------------------------------------------------


@pytest.mark.parametrize("new_role", ["admin", "developer", "no_access"])
def test_an_admin_cannot_change_their_own_role(ws, new_role):
    me = ws.person("admin")
    before = ws.server.snapshot()
    refused(
        me.client.patch(f"{W}/members/{me.member_id}", json={"role": new_role}), 403, "forbidden"
    )
    assert ws.server.snapshot() == before
    # They do change other people's roles.
    other = ws.person("no_access")
    changed = me.client.patch(f"{W}/members/{other.member_id}", json={"role": "developer"})
    assert changed.status_code == 200, changed.text


@pytest.mark.parametrize("role", ["developer", "support_manager", "support_agent", "no_access"])
def test_nobody_else_changes_their_own_role_either(ws, role):
    me = ws.person(role)
    before = ws.server.snapshot()
    refused(
        me.client.patch(f"{W}/members/{me.member_id}", json={"role": "admin"}), 403, "forbidden"
    )
    assert ws.server.snapshot() == before


# -- a domain's automatic role ---------------------------------------------------------------


def _can(actor: Actor, method: str, path: str, **kwargs: Any) -> bool:
    response = actor.client.request(method, path, **kwargs)
    assert response.status_code in (200, 403), response.text
    return response.status_code == 200


def test_a_domain_rule_lifts_verified_members_to_the_more_privileged_role_at_once(ws):
    domain = new_domain()
    verified = ws.person("no_access", domain=domain)
    unverified = ws.person("no_access", domain=domain, verified=False)
    higher = ws.person("admin", domain=domain)
    equal = ws.person("developer", domain=domain)
    elsewhere = ws.person("no_access", domain=new_domain())
    environment = f"/pwa/v3/projects/{ws.server.project_slug}/environments/test"

    def view(actor: Actor) -> tuple[str, str, str | None, str]:
        m = ws.members()[actor.member_id]
        return m["role"], m["explicit_role"], m["domain_role"], m["role_source"]

    assert view(verified) == ("no_access", "no_access", None, "explicit")
    assert not _can(verified, "GET", environment)

    # The domain's rule names developer (uppercase in the path: domains are case-insensitive).
    put = ws.admin.client.put(
        f"{W}/domains/{domain.upper()}", json={"jit_enabled": False, "auto_role": "developer"}
    )
    assert put.json()["domain"] == {
        "domain": domain,
        "jit_enabled": False,
        "auto_role": "developer",
    }
    assert view(verified) == ("developer", "no_access", "developer", "domain")
    assert view(unverified) == ("no_access", "no_access", None, "explicit")
    assert view(higher) == ("admin", "admin", "developer", "explicit")
    assert view(equal) == ("developer", "developer", "developer", "explicit")
    assert view(elsewhere) == ("no_access", "no_access", None, "explicit")
    # In force for their requests at once, on the sessions they already hold.
    assert _can(verified, "GET", environment)
    assert _can(verified, "POST", "/pwa/v3/projects", json={"name": unique("lifted")})
    assert not _can(unverified, "GET", environment)

    # Changed: support_manager views configuration but creates no project.
    _ok(
        ws.admin.client.put(
            f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": "support_manager"}
        )
    )
    assert view(verified) == ("support_manager", "no_access", "support_manager", "domain")
    assert view(equal) == ("developer", "developer", "support_manager", "explicit")
    assert _can(verified, "GET", environment)
    assert not _can(verified, "POST", "/pwa/v3/projects", json={"name": unique("no")})

    # A rule without an automatic role lifts nobody.
    _ok(ws.admin.client.put(f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": None}))
    assert view(verified) == ("no_access", "no_access", None, "explicit")
    assert not _can(verified, "GET", environment)

    # Removed: back to the explicit role.
    _ok(
        ws.admin.client.put(
            f"{W}/domains/{domain}", json={"jit_enabled": False, "auto_role": "admin"}
        )
    )
    assert view(verified) == ("admin", "no_access", "admin", "domain")
    assert _can(verified, "GET", f"{W}/billing")
    assert ws.admin.client.delete(f"{W}/domains/{domain}").status_code == 200
    assert view(verified) == ("no_access", "no_access", None, "explicit")
    assert not _can(verified, "GET", f"{W}/billing")
    assert domain not in {
        d["domain"] for d in ws.admin.client.get(f"{W}/domains").json()["domains"]
    }


def test_a_member_lifted_by_the_domain_may_not_touch_their_own_role(ws):
    domain = new_domain()
    me = ws.person("developer", domain=domain)
    ws.admin.client.put(f"{W}/domains/{domain}", json={"jit_enabled": False, "auto_role": "admin"})
    try:
        refused(
            me.client.patch(f"{W}/members/{me.member_id}", json={"role": "admin"}), 403, "forbidden"
        )
    finally:
        ws.admin.client.delete(f"{W}/domains/{domain}")


def _join_by_email_link(ws: Harness, monkeypatch: pytest.MonkeyPatch, email: str) -> dict:
    """Ask for a sign-in link (mailed after the response) and redeem it."""
    sent: list[str] = []
    monkeypatch.setattr(
        ws.server.gatehouse.dashboard_auth.mailer, "send", lambda *a: sent.append(a[2])
    )
    _ok(ws.client().post("/pwa/v3/auth/magic_links/send", json={"email_address": email}))
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.02)
    (body,) = sent
    token = re.search(r"sign-in token is: (\S+)", body)
    assert token is not None, body
    return _ok(ws.client().post("/pwa/v3/auth/magic_links/authenticate", json={"token": token[1]}))


def test_a_person_who_joins_through_a_domain_gets_support_agent_by_default(ws, monkeypatch):
    domain = new_domain()
    _ok(ws.admin.client.put(f"{W}/domains/{domain}", json={"jit_enabled": True}))
    joined = _join_by_email_link(ws, monkeypatch, f"{unique('jit')}@{domain}")
    member = ws.members()[joined["member"]["member_id"]]
    assert (member["role"], member["email_verified"], member["status"]) == (
        "support_agent",
        True,
        "active",
    )


def test_a_person_who_joined_through_a_domain_rule_follows_that_rule(ws, monkeypatch):
    """They joined because of the rule, with its automatic role; nobody set a role for them.
    When the rule's automatic role changes, theirs changes at once, like everyone's at that
    domain (spec: "Changing or removing the domain rule changes effective roles at once")."""
    domain = new_domain()
    _ok(
        ws.admin.client.put(
            f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": "developer"}
        )
    )
    earlier = ws.person("no_access", domain=domain)
    joined = _join_by_email_link(ws, monkeypatch, f"{unique('jit')}@{domain}")
    member_id = joined["member"]["member_id"]
    assert ws.members()[member_id]["role"] == "developer"

    _ok(
        ws.admin.client.put(
            f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": "support_manager"}
        )
    )
    members = ws.members()
    assert members[earlier.member_id]["role"] == "support_manager"
    assert (members[member_id]["role"], members[member_id]["role_source"]) == (
        "support_manager",
        "domain",
    ), members[member_id]
    _ok(ws.admin.client.delete(f"{W}/domains/{domain}"))


# -- management keys -------------------------------------------------------------------------


def test_a_keys_role_is_fixed(ws):
    key = ws.key("developer")
    domain = new_domain()
    ws.admin.client.put(f"{W}/domains/{domain}", json={"jit_enabled": True, "auto_role": "admin"})
    try:
        listed = {k["key_id"]: k for k in ws.admin.client.get(f"{W}/keys").json()["keys"]}
        assert listed[key.key_id]["role"] == "developer"
        # A key is no member: no role change reaches it, and keys have no update endpoint.
        refused(
            ws.admin.client.patch(f"{W}/members/{key.key_id}", json={"role": "admin"}),
            404,
            "workspace_member_not_found",
        )
        refused(
            ws.admin.client.patch(f"{W}/keys/{key.key_id}", json={"role": "admin"}),
            405,
            "method_not_allowed",
        )
        # It acts as a Developer, whatever the domain rules say.
        assert _can(key, "POST", "/pwa/v3/projects", json={"name": unique("by key")})
        assert not _can(key, "GET", f"{W}/billing")
        assert not _can(key, "GET", f"{W}/keys")
    finally:
        ws.admin.client.delete(f"{W}/domains/{domain}")


@pytest.mark.parametrize("by", ["key", "person"])
def test_keys_created_by_an_admin_work_with_their_role_until_revoked(ws, by):
    creator = ws.admin if by == "key" else ws.person("admin")
    made = creator.client.post(f"{W}/keys", json={"role": "support_manager", "name": "ci"})
    assert made.status_code == 200, made.text
    created = made.json()["key"]
    assert (created["role"], created["name"]) == ("support_manager", "ci")
    assert created["secret"].startswith("workspace-secret-")
    listed = {k["key_id"]: k for k in ws.admin.client.get(f"{W}/keys").json()["keys"]}
    assert listed[created["key_id"]]["revoked_at"] is None
    assert created["secret"] not in str(listed)  # shown once, at creation

    key = ws.key_client(created["key_id"], created["secret"])
    environment = f"/pwa/v3/projects/{ws.server.project_slug}/environments/test"
    assert _can(key, "GET", environment)  # project_config.view
    assert not _can(key, "PATCH", environment, json={"name": "nope"})  # project_config.manage

    assert creator.client.delete(f"{W}/keys/{created['key_id']}").status_code == 200
    refused(key.client.get("/pwa/v3/projects"), 401, "unauthorized_credentials")
    refused(key.client.get(environment), 401, "unauthorized_credentials")
    listed = {k["key_id"]: k for k in ws.admin.client.get(f"{W}/keys").json()["keys"]}
    assert listed[created["key_id"]]["revoked_at"] is not None


@pytest.mark.parametrize("by", ["key", "person"])
@pytest.mark.parametrize("role", ["developer", "support_manager", "support_agent", "no_access"])
def test_only_admins_create_or_revoke_keys(ws, role, by):
    actor = ws.key(role) if by == "key" else ws.person(role)
    victim = ws.key("no_access")
    before = ws.server.snapshot()
    for wanted in ("no_access", role, "admin"):
        refused(actor.client.post(f"{W}/keys", json={"role": wanted}), 403, "forbidden")
    refused(actor.client.get(f"{W}/keys"), 403, "forbidden")
    refused(actor.client.delete(f"{W}/keys/{victim.key_id}"), 403, "forbidden")
    assert ws.server.snapshot() == before
    assert _can(victim, "GET", "/pwa/v3/projects")


def test_wrong_or_unknown_key_credentials_get_401(ws):
    key = ws.key("admin")
    for key_id, secret in (
        (key.key_id, "workspace-secret-wrong"),
        (f"workspace-key-{uuid.uuid4()}", key.secret),
        ("no-such-key", key.secret),
    ):
        client = ws.client(auth=(key_id, secret))
        refused(client.get("/pwa/v3/projects"), 401, "unauthorized_credentials")
    refused(ws.client().get("/pwa/v3/projects"), 401, "unauthorized_credentials")
    refused(
        ws.client(headers={"Authorization": "Bearer not-a-session"}).get("/pwa/v3/projects"),
        401,
        "unauthorized_credentials",
    )


def test_a_removed_person_is_signed_out(ws):
    person = ws.person("developer")
    assert _can(person, "GET", "/pwa/v3/projects")
    assert ws.admin.client.delete(f"{W}/members/{person.member_id}").status_code == 200
    refused(person.client.get("/pwa/v3/projects"), 401, "unauthorized_credentials")


# -- the event log ---------------------------------------------------------------------------


def _logged(
    harness: Harness, scope: str, actor: Actor, action: str, role: str, target: str | None = None
) -> dict[str, Any]:
    found = harness.events(scope, actor=actor.actor, action=action)
    assert found, f"no `{action}` by {actor.actor} in the log of {scope}"
    event = found[0]
    assert event["actor_role"] == role, event
    if target is not None:
        assert event["target"] == target, event
    return event


@pytest.mark.parametrize("by", ["key", "person lifted by their domain"])
def test_every_workspace_and_project_action_is_logged_with_actor_and_role(ws, by):
    if by == "key":
        actor = ws.key("admin")
    else:
        # Explicitly No Access, Admin through the domain: the log names the role in force.
        domain = new_domain()
        actor = ws.person("no_access", domain=domain)
        _ok(
            ws.admin.client.put(
                f"{W}/domains/{domain}", json={"jit_enabled": False, "auto_role": "admin"}
            )
        )
    c = actor.client
    wid = ws.workspace_id

    def logged(scope: str, action: str, target: str | None = None) -> dict[str, Any]:
        return _logged(ws, scope, actor, action, "admin", target)

    # Workspace.
    _ok(c.patch(W, json={"name": unique("Workspace")}))
    logged(wid, "workspace.update", wid)
    _ok(c.patch(f"{W}/billing", json={"plan": "enterprise"}))
    logged(wid, "workspace.billing_update", wid)
    other = ws.person("support_agent")
    _ok(c.patch(f"{W}/members/{other.member_id}", json={"role": "support_manager"}))
    assert logged(wid, "workspace_member.role_change", other.member_id)["changes"] == {
        "role": ["support_agent", "support_manager"]
    }
    _ok(c.delete(f"{W}/members/{other.member_id}"))
    logged(wid, "workspace_member.remove", other.member_id)
    invited = _ok(
        c.post(
            f"{W}/invitations",
            json={"email_address": f"{unique('i')}@rules.test", "role": "no_access"},
        )
    )["member"]
    logged(wid, "workspace_member.invite", invited["member_id"])
    rule = new_domain()
    _ok(c.put(f"{W}/domains/{rule}", json={"jit_enabled": True}))
    logged(wid, "workspace_domain.put", rule)
    _ok(c.delete(f"{W}/domains/{rule}"))
    logged(wid, "workspace_domain.delete", rule)
    key = _ok(c.post(f"{W}/keys", json={"role": "no_access", "name": "logged"}))["key"]
    event = logged(wid, "workspace_key.create", key["key_id"])
    assert key["secret"] not in str(event)
    _ok(c.delete(f"{W}/keys/{key['key_id']}"))
    logged(wid, "workspace_key.revoke", key["key_id"])

    # Projects and environments.
    slug = _ok(c.post("/pwa/v3/projects", json={"name": unique("Logged")}))["project"][
        "project_slug"
    ]
    project_id = logged(wid, "project.create")["target"]
    _ok(c.patch(f"/pwa/v3/projects/{slug}", json={"name": "renamed"}))
    logged(wid, "project.update", project_id)
    made = _ok(c.post(f"/pwa/v3/projects/{slug}/environments", json={"name": "qa"}))["environment"]
    logged(wid, "environment.create", made["project_id"])
    env = f"/pwa/v3/projects/{slug}/environments/{made['environment_slug']}"
    _ok(c.patch(env, json={"name": "qa 2", "user_impersonation_enabled": True}))
    logged(made["project_id"], "environment.update", made["project_id"])
    secret = _ok(c.post(f"{env}/secrets"))["secret"]
    logged(made["project_id"], "secret.create", secret["secret_id"])
    _ok(c.delete(f"{env}/secrets/{secret['secret_id']}"))
    logged(made["project_id"], "secret.delete", secret["secret_id"])
    policy = {
        "custom_resources": [
            {"resource_id": "logs", "description": "", "available_actions": ["read"]}
        ]
    }
    _ok(c.put(f"{env}/rbac_policy", json=policy))
    logged(made["project_id"], "rbac_policy.update", made["project_id"])
    _ok(c.delete(env))
    logged(wid, "environment.delete", made["project_id"])
    _ok(c.delete(f"/pwa/v3/projects/{slug}"))
    logged(wid, "project.delete", project_id)


@pytest.mark.parametrize("by", ["key", "person"])
def test_every_support_action_is_logged_with_actor_and_role(ws, by):
    actor = ws.key("support_manager") if by == "key" else ws.person("support_manager")
    role = "support_manager"
    environment_id = ws.server.project_id  # the project's test environment
    base = f"/pwa/v3/projects/{ws.server.project_slug}/environments/test"
    _ok(ws.admin.client.patch(base, json={"user_impersonation_enabled": True}))
    slug = unique("org")
    org = _ok(
        ws.b2b.post(
            "/v1/b2b/organizations", json={"organization_name": slug, "organization_slug": slug}
        )
    )["organization"]["organization_id"]
    member = _ok(
        ws.b2b.post(
            f"/v1/b2b/organizations/{org}/members",
            json={"email_address": f"{unique('b2b')}@customer.rules.test"},
        )
    )["member"]["member_id"]
    path = f"{base}/organizations/{org}/members/{member}"
    c = actor.client

    def logged(action: str, target: str) -> dict[str, Any]:
        return _logged(ws, environment_id, actor, action, role, target)

    _ok(c.patch(f"{base}/organizations/{org}", json={"organization_name": unique("Renamed")}))
    logged("organization.update", org)
    _ok(c.patch(path, json={"name": "Renamed Member"}))
    logged("member.update", member)
    _ok(c.post(f"{path}/password_reset", json={"reset_password_redirect_url": "https://a.test/r"}))
    logged("member.password_reset_start", member)
    impersonation = _ok(c.post(f"{path}/impersonate"))
    event = logged("member.impersonate", member)
    assert event["changes"]["impersonator_id"] in {actor.member_id, actor.key_id}
    assert (
        event["changes"]["member_session_id"]
        == impersonation["member_session"]["member_session_id"]
    )
    _ok(c.post(f"{path}/sessions/revoke"))
    logged("session.revoke", member)
    _ok(ws.b2b.delete(f"/v1/b2b/organizations/{org}/members/{member}"))
    _ok(c.post(f"{path}/reactivate"))
    logged("member.reactivate", member)

    # Every entry this actor wrote names the role they acted with.
    mine = ws.events(environment_id, actor=actor.actor)
    assert mine and {e["actor_role"] for e in mine} == {role}


def test_impersonation_is_off_until_an_admin_switches_it_on(ws):
    manager = ws.person("support_manager")
    slug = _ok(ws.admin.client.post("/pwa/v3/projects", json={"name": unique("Imp")}))["project"][
        "project_slug"
    ]
    env = f"/pwa/v3/projects/{slug}/environments/test"
    environment_id = _ok(ws.admin.client.get(env))["environment"]["project_id"]
    secret = _ok(ws.admin.client.post(f"{env}/secrets"))["secret"]["secret"]
    b2b = ws.client(auth=(environment_id, secret))
    org_slug = unique("org")
    org = _ok(
        b2b.post(
            "/v1/b2b/organizations",
            json={"organization_name": org_slug, "organization_slug": org_slug},
        )
    )["organization"]["organization_id"]
    member = _ok(
        b2b.post(
            f"/v1/b2b/organizations/{org}/members",
            json={"email_address": f"{unique('b2b')}@customer.rules.test"},
        )
    )["member"]["member_id"]
    path = f"{env}/organizations/{org}/members/{member}/impersonate"

    before = ws.server.snapshot()
    refused(manager.client.post(path), 403, "impersonation_disabled")
    refused(ws.admin.client.post(path), 403, "impersonation_disabled")  # whatever the role
    assert ws.server.snapshot() == before

    _ok(ws.admin.client.patch(env, json={"user_impersonation_enabled": True}))
    session = _ok(manager.client.post(path))
    assert session["member_id"] == member
    factors = session["member_session"]["authentication_factors"]
    assert factors[0]["type"] == "impersonated"
    assert factors[0]["impersonated_factor"]["impersonator_id"] == manager.member_id


def test_support_actions_stay_inside_the_environment_in_the_path(ws):
    """An organization of the test environment is not found through the live environment."""
    manager = ws.person("support_manager")
    slug = unique("org")
    org = _ok(
        ws.b2b.post(
            "/v1/b2b/organizations", json={"organization_name": slug, "organization_slug": slug}
        )
    )["organization"]["organization_id"]
    member = _ok(
        ws.b2b.post(
            f"/v1/b2b/organizations/{org}/members",
            json={"email_address": f"{unique('b2b')}@customer.rules.test"},
        )
    )["member"]["member_id"]
    project = ws.server.project_slug
    test = f"/pwa/v3/projects/{project}/environments/test/organizations/{org}"
    live = f"/pwa/v3/projects/{project}/environments/live/organizations/{org}"
    assert manager.client.get(test).status_code == 200
    before = ws.server.snapshot()
    refused(manager.client.get(live), 404, "organization_not_found")
    refused(
        manager.client.patch(live, json={"organization_name": "moved"}),
        404,
        "organization_not_found",
    )
    refused(
        manager.client.post(f"{live}/members/{member}/sessions/revoke"),
        404,
        "organization_not_found",
    )
    assert ws.server.snapshot() == before
