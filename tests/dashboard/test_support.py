"""Directory and support actions of the Management API, over real HTTP with management keys of
every dashboard role: each call is allowed exactly where its matrix row says, and a refused call
changes nothing. The password reset goes through a real SMTP server and the official SDK."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from gatehouse.policy import dashboard
from gatehouse.services.security import credentials
from gatehouse.storage.sql import tables
from tests.databases import throwaway_database
from tests.sdk.support import PASSWORD, new_org, sign_in, stytch_error
from tests.sdk.support import email as new_email
from tests.server import FAST_ARGON2, RunningServer, running_server

ROLES = dashboard.ROLES
NEW_PASSWORD = "quartz-Meadow-91-lantern-owl"
REDIRECT = "https://app.example.test/reset?from=support"


# -- helpers (each dashboard test module keeps its own server) ---------------------------------


def env_path(server: RunningServer, environment: str = "test") -> str:
    return f"/pwa/v3/projects/{server.project_slug}/environments/{environment}"


def make_keys(server: RunningServer) -> dict[str, tuple[str, str]]:
    """One management key per dashboard role, made in-process."""
    keys = {}
    with server.store.transaction() as tx:
        workspace_id = server.store.get_workspace(tx)["id"]
        for role in ROLES:
            key = server.gatehouse.workspace.create_key(tx, workspace_id, role, role, "test")
            keys[role] = (key["key_id"], key["secret"])
    return keys


def http(server: RunningServer, auth: tuple[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, auth=auth, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    )


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> dict[str, tuple[str, str]]:
    return make_keys(server)


@pytest.fixture(scope="module")
def as_role(server: RunningServer, keys: dict[str, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    clients = {role: http(server, keys[role]) for role in ROLES}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return server.b2b_client()


@pytest.fixture(scope="module")
def org(client: Any) -> Any:
    return new_org(client)


def refused(server: RunningServer, call: Any, status: int, error_type: str) -> dict[str, Any]:
    """Run `call`; it must fail with `error_type` and leave every table as it was."""
    before = server.snapshot()
    response = call()
    assert (response.status_code, response.json()["error_type"]) == (status, error_type), (
        response.text
    )
    assert server.snapshot() == before
    return response.json()  # type: ignore[no-any-return]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def events_of(server: RunningServer, action: str, target: str) -> list[dict[str, Any]]:
    with server.store.read() as tx:
        rows = server.store.query_events(tx, server.project_id, action=action, target=target)
    return rows


# -- directory.view ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_directory_view_follows_the_matrix(server, as_role, client, org, role):
    member = sign_in(client, org.organization_id, new_email()).member
    base = env_path(server) + "/organizations"
    calls = [
        lambda: as_role[role].get(base),
        lambda: as_role[role].get(f"{base}/{org.organization_id}"),
        lambda: as_role[role].get(f"{base}/{org.organization_id}/members"),
        lambda: as_role[role].get(f"{base}/{org.organization_id}/members/{member.member_id}"),
    ]
    if not dashboard.allows(role, "directory.view"):
        for call in calls:
            assert "directory.view" in refused(server, call, 403, "forbidden")["error_message"]
        return
    listed, one, members, single = (ok(call()) for call in calls)
    assert org.organization_id in {o["organization_id"] for o in listed["organizations"]}
    assert one["organization"]["organization_id"] == org.organization_id
    assert one["organization"]["organization_slug"] == org.organization_slug
    assert member.member_id in {m["member_id"] for m in members["members"]}
    assert members["organization"]["organization_id"] == org.organization_id
    assert single["member"]["email_address"] == member.email_address
    assert single["member"]["roles"][0]["role_id"] == "stytch_member"


def test_organizations_are_searched_by_name_and_slug_and_paged(server, as_role, client):
    made = [
        client.organizations.create(
            organization_name=f"Paging Co {i}", organization_slug=f"paging-co-{i}"
        ).organization
        for i in range(3)
    ]
    base = env_path(server) + "/organizations"
    agent = as_role["support_agent"]
    by_name = ok(agent.get(base, params={"name": "paging co"}))
    assert {o["organization_id"] for o in by_name["organizations"]} == {
        o.organization_id for o in made
    }
    by_slug = ok(agent.get(base, params={"slug": "paging-co-1"}))
    assert [o["organization_id"] for o in by_slug["organizations"]] == [made[1].organization_id]
    both = ok(agent.get(base, params={"name": "Paging", "slug": "co-2"}))
    assert [o["organization_id"] for o in both["organizations"]] == [made[2].organization_id]

    seen, cursor = [], None
    while True:
        params = {"name": "paging", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = ok(agent.get(base, params=params))
        assert page["results_metadata"]["total"] == 3
        seen += [o["organization_id"] for o in page["organizations"]]
        cursor = page["results_metadata"]["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(o.organization_id for o in made)


def test_members_are_listed_by_email_and_status_and_paged(server, as_role, client):
    org = new_org(client)
    emails = sorted(new_email("listing.test") for _ in range(3))
    ids = [sign_in(client, org.organization_id, e).member_id for e in emails]
    client.organizations.members.delete(org.organization_id, ids[2])
    base = f"{env_path(server)}/organizations/{org.organization_id}/members"
    agent = as_role["support_agent"]
    active = ok(agent.get(base))
    assert {m["member_id"] for m in active["members"]} == set(ids[:2])
    assert ok(agent.get(base, params={"status": "deleted"}))["members"][0]["member_id"] == ids[2]
    found = ok(agent.get(base, params={"email": emails[0].split("@")[0]}))
    assert [m["member_id"] for m in found["members"]] == [ids[0]]
    first = ok(agent.get(base, params={"limit": "1"}))
    second = ok(
        agent.get(base, params={"limit": "1", "cursor": first["results_metadata"]["next_cursor"]})
    )
    assert {first["members"][0]["member_id"], second["members"][0]["member_id"]} == set(ids[:2])
    # The organization may be named by its slug, as on the B2B API.
    by_slug = ok(agent.get(f"{env_path(server)}/organizations/{org.organization_slug}/members"))
    assert len(by_slug["members"]) == 2


# -- directory.manage --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_directory_manage_follows_the_matrix(server, as_role, keys, client, org, role):
    member = sign_in(client, org.organization_id, new_email()).member
    org_url = f"{env_path(server)}/organizations/{org.organization_id}"
    member_url = f"{org_url}/members/{member.member_id}"
    org_change = {"untrusted_metadata": {"edited_by": role}, "trusted_metadata": {"tier": role}}
    member_change = {"name": f"Edited by {role}", "roles": ["stytch_admin"]}
    if not dashboard.allows(role, "directory.manage"):
        for url, body in ((org_url, org_change), (member_url, member_change)):
            response = refused(
                server, lambda u=url, b=body: as_role[role].patch(u, json=b), 403, "forbidden"
            )
            assert "directory.manage" in response["error_message"]
        return
    updated = ok(as_role[role].patch(org_url, json=org_change))["organization"]
    assert updated["untrusted_metadata"] == {"edited_by": role}
    assert updated["trusted_metadata"] == {"tier": role}
    changed = ok(as_role[role].patch(member_url, json=member_change))["member"]
    assert changed["name"] == f"Edited by {role}" and changed["is_admin"] is True
    # The B2B API sees the changes, and its event log names the key as the actor.
    fetched = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    ).member
    assert fetched.name == f"Edited by {role}"
    assert "stytch_admin" in {r.role_id for r in fetched.roles}
    (event,) = events_of(server, "member.update", member.member_id)
    assert event["actor"] == f"workspace_key:{keys[role][0]}"
    assert event["changes"] == member_change


def test_updates_use_the_b2b_validation_and_change_nothing_when_refused(
    server, as_role, client, org
):
    member = sign_in(client, org.organization_id, new_email()).member
    other = new_org(client)
    admin = as_role["admin"]
    org_url = f"{env_path(server)}/organizations/{org.organization_id}"
    member_url = f"{org_url}/members/{member.member_id}"
    cases = [
        (org_url, {"organization_slug": "x"}, 400, "invalid_request"),
        (
            org_url,
            {"organization_slug": other.organization_slug},
            409,
            "duplicate_organization_slug",
        ),
        (org_url, {"organization_name": None}, 400, "invalid_request"),
        (org_url, {"no_such_field": 1}, 400, "invalid_request"),
        (
            org_url,
            {"rbac_email_implicit_role_assignments": [{"domain": "a.test", "role_id": "nope"}]},
            400,
            "role_not_found",
        ),
        (member_url, {"roles": ["no_such_role"]}, 400, "role_not_found"),
        (member_url, {"mfa_phone_number": "12"}, 400, "invalid_request"),
        (member_url, {"unlink_email": True}, 400, "unsupported_feature"),
        (member_url, {"name": 7}, 400, "invalid_request"),
        (
            f"{env_path(server)}/organizations/organization-test-nope",
            {"organization_name": "N"},
            404,
            "organization_not_found",
        ),
        (f"{org_url}/members/member-test-nope", {"name": "N"}, 404, "member_not_found"),
        (
            f"/pwa/v3/projects/nope/environments/test/organizations/{org.organization_id}",
            {"organization_name": "N"},
            404,
            "project_not_found",
        ),
        (
            f"/pwa/v3/projects/{server.project_slug}/environments/nope/organizations/"
            f"{org.organization_id}",
            {"organization_name": "N"},
            404,
            "environment_not_found",
        ),
    ]
    for url, body, status, error_type in cases:
        refused(server, lambda u=url, b=body: admin.patch(u, json=b), status, error_type)
    refused(server, lambda: admin.patch(org_url, content=b"{not json"), 400, "invalid_json")


def test_listing_input_is_checked(server, as_role, org):
    agent = as_role["support_agent"]
    base = env_path(server) + "/organizations"
    for params in (
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"colour": "red"},
        {"name": ""},
    ):
        refused(server, lambda p=params: agent.get(base, params=p), 400, "invalid_request")
    refused(server, lambda: agent.get(base, params={"cursor": "garbage"}), 400, "invalid_cursor")
    members = f"{base}/{org.organization_id}/members"
    refused(server, lambda: agent.get(members, params={"status": "gone"}), 400, "invalid_request")
    refused(
        server,
        lambda: agent.get(f"{base}/organization-test-nope/members"),
        404,
        "organization_not_found",
    )
    refused(server, lambda: httpx.get(server.url + base), 401, "unauthorized_credentials")
    refused(
        server,
        lambda: httpx.get(server.url + base, auth=("workspace-key-x", "nope")),
        401,
        "unauthorized_credentials",
    )


def test_the_live_environment_is_reached_by_its_own_slug(server, as_role):
    live = server.b2b_client(server.live_project_id, server.live_secret)
    org = new_org(live)
    listed = ok(as_role["admin"].get(env_path(server, "live") + "/organizations"))
    assert [o["organization_id"] for o in listed["organizations"]] == [org.organization_id]
    test_url = f"{env_path(server)}/organizations/{org.organization_id}"
    refused(server, lambda: as_role["admin"].get(test_url), 404, "organization_not_found")


# -- support.sessions_revoke -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_revoking_sessions_follows_the_matrix(server, as_role, keys, client, org, role):
    address = new_email()
    first = sign_in(client, org.organization_id, address)
    second = client.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )
    url = (
        f"{env_path(server)}/organizations/{org.organization_id}/members/"
        f"{first.member_id}/sessions/revoke"
    )
    if not dashboard.allows(role, "support.sessions_revoke"):
        refused(server, lambda: as_role[role].post(url), 403, "forbidden")
        assert client.sessions.authenticate(session_token=first.session_token).member_session
        return
    body = ok(as_role[role].post(url))
    assert body["member_id"] == first.member_id
    for signed_in in (first, second):
        with stytch_error(404, "session_not_found"):
            client.sessions.authenticate(session_token=signed_in.session_token)
        with stytch_error(404, "session_not_found"):
            client.sessions.authenticate(session_jwt=signed_in.session_jwt)
    (event,) = events_of(server, "session.revoke", first.member_id)
    assert event["actor"] == f"workspace_key:{keys[role][0]}"


def test_revoking_needs_the_member_in_that_organization(server, as_role, client, org):
    member = sign_in(client, new_org(client).organization_id, new_email())
    url = (
        f"{env_path(server)}/organizations/{org.organization_id}/members/"
        f"{member.member_id}/sessions/revoke"
    )
    refused(server, lambda: as_role["admin"].post(url), 404, "member_not_found")
    refused(server, lambda: as_role["admin"].post(url, json={"x": 1}), 400, "invalid_request")
    assert client.sessions.authenticate(session_token=member.session_token).member_session


# -- support.emails_reactivate -----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_reactivating_follows_the_matrix(server, as_role, client, org, role):
    member = sign_in(client, org.organization_id, new_email()).member
    client.organizations.members.delete(org.organization_id, member.member_id)
    url = (
        f"{env_path(server)}/organizations/{org.organization_id}/members/"
        f"{member.member_id}/reactivate"
    )
    if not dashboard.allows(role, "support.emails_reactivate"):
        refused(server, lambda: as_role[role].post(url), 403, "forbidden")
        return
    body = ok(as_role[role].post(url))
    assert body["member"]["status"] == "active"
    fetched = client.organizations.members.get(
        organization_id=org.organization_id, member_id=member.member_id
    )
    assert fetched.member.status == "active"
    (event,) = events_of(server, "member.reactivate", member.member_id)
    assert event["changes"] == {"status": ["deleted", "active"]}


def test_reactivating_keeps_the_b2b_rules(server, as_role, client, org):
    address = new_email()
    member = sign_in(client, org.organization_id, address).member
    client.organizations.members.delete(org.organization_id, member.member_id)
    client.organizations.members.create(organization_id=org.organization_id, email_address=address)
    url = (
        f"{env_path(server)}/organizations/{org.organization_id}/members/"
        f"{member.member_id}/reactivate"
    )
    refused(server, lambda: as_role["admin"].post(url), 409, "duplicate_member_email")


# -- support.password_reset --------------------------------------------------------------------


def _reset_url(server: RunningServer, org_id: str, member_id: str) -> str:
    return f"{env_path(server)}/organizations/{org_id}/members/{member_id}/password_reset"


def _tokens(server: RunningServer, member_id: str) -> list[dict[str, Any]]:
    with server.store.engine.connect() as conn:
        t = tables.email_tokens
        rows = conn.execute(t.select().where(t.c.subject_id == member_id)).all()
    return [dict(r._mapping) for r in rows]


@pytest.mark.parametrize("role", ROLES)
def test_sending_a_password_reset_follows_the_matrix(server, as_role, client, org, role):
    member = sign_in(client, org.organization_id, new_email()).member
    url = _reset_url(server, org.organization_id, member.member_id)
    body = {"reset_password_redirect_url": REDIRECT}
    if not dashboard.allows(role, "support.password_reset"):
        refused(server, lambda: as_role[role].post(url, json=body), 403, "forbidden")
        return
    sent = ok(as_role[role].post(url, json=body))
    assert sent["email_address"] == member.email_address
    (token,) = _tokens(server, member.member_id)
    assert token["purpose"] == "member_password_reset"
    assert token["environment_id"] == server.project_id
    assert token["email"] == member.email_address
    assert len(token["token_hash"]) == 64 and token["used_at"] is None
    lifetime = token["expires_at"] - token["created_at"]
    assert lifetime == dt.timedelta(minutes=server.gatehouse.settings.email_link_minutes)
    (event,) = events_of(server, "member.password_reset_start", member.member_id)
    assert event["actor_role"] == role


def test_a_password_reset_needs_a_redirect_url_and_good_input(server, as_role, client, org):
    member = sign_in(client, org.organization_id, new_email()).member
    admin = as_role["admin"]
    url = _reset_url(server, org.organization_id, member.member_id)
    for body in (
        {},
        {"reset_password_redirect_url": "javascript:alert(1)"},
        {"reset_password_redirect_url": "/relative"},
        {"reset_password_redirect_url": REDIRECT, "reset_password_expiration_minutes": 1},
        {"reset_password_redirect_url": REDIRECT, "extra": True},
    ):
        refused(server, lambda b=body: admin.post(url, json=b), 400, "invalid_request")
    client.organizations.members.delete(org.organization_id, member.member_id)
    refused(
        server,
        lambda: admin.post(url, json={"reset_password_redirect_url": REDIRECT}),
        404,
        "member_not_found",
    )


class _Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.arrived:
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int) -> email.message.Message:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=10)
            return self.messages[count - 1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        with (
            throwaway_database(tmp_path_factory.mktemp("db")) as url,
            running_server(
                url, smtp_host="127.0.0.1", smtp_port=controller.port, **FAST_ARGON2
            ) as running,
        ):
            yield running, inbox
    finally:
        controller.stop()


def _token_from(message: email.message.Message) -> tuple[str, dict[str, list[str]]]:
    assert isinstance(message, email.message.EmailMessage)
    (link,) = re.findall(r"https://app\.example\.test/\S+", message.get_content())
    query = parse_qs(urlsplit(link).query)
    return query["token"][0], query


def test_a_password_reset_by_email_end_to_end(mail_server):
    server, inbox = mail_server
    client = server.b2b_client()
    org = new_org(client)
    signed_in = sign_in(client, org.organization_id, new_email())
    member = signed_in.member
    with http(server, server_key(server)) as admin:
        sent = ok(
            admin.post(
                _reset_url(server, org.organization_id, member.member_id),
                json={"reset_password_redirect_url": REDIRECT},
            )
        )
    message = inbox.wait(1)
    assert message["To"] == member.email_address == sent["email_address"]
    assert org.organization_name in message["Subject"]
    token, query = _token_from(message)
    assert query["from"] == ["support"]  # the redirect url's own query is kept
    assert query["stytch_token_type"] == ["multi_tenant_passwords"]
    assert query["slug"] == [org.organization_slug]

    # A weak password is refused and the token stays usable.
    before = server.snapshot()
    with stytch_error(400, "weak_password"):
        client.passwords.email.reset(password_reset_token=token, password="password1")
    assert server.snapshot() == before

    reset = client.passwords.email.reset(
        password_reset_token=token, password=NEW_PASSWORD, session_duration_minutes=90
    )
    assert reset.member_id == member.member_id and reset.member_authenticated
    assert reset.organization.organization_id == org.organization_id
    assert reset.member.member_password_id and reset.member.email_address_verified
    assert reset.member_session.authentication_factors[0].type.value == "password"
    assert client.sessions.authenticate(session_token=reset.session_token).member.member_id == (
        member.member_id
    )
    # Every earlier session ended; the token works once.
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    with stytch_error(401, "invalid_password_reset_token"):
        client.passwords.email.reset(password_reset_token=token, password=NEW_PASSWORD + "!")
    # The new password signs in; the old one does not.
    again = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address=member.email_address,
        password=NEW_PASSWORD,
    )
    assert again.member_id == member.member_id
    with stytch_error(401, "unauthorized_credentials"):
        client.passwords.authenticate(
            organization_id=org.organization_id,
            email_address=member.email_address,
            password=PASSWORD,
        )
    with server.store.read() as tx:
        row = server.store.get_member_by_id(tx, server.project_id, member.member_id)
    assert row["password_hash"].startswith("$argon2id$")
    actions = [e["action"] for e in events_of(server, "member.password_reset", member.member_id)]
    assert actions == ["member.password_reset"]


def test_a_support_reset_of_a_member_who_owes_mfa_needs_the_second_factor(mail_server):
    server, inbox = mail_server
    client = server.b2b_client()
    org = new_org(client)
    signed_in = sign_in(client, org.organization_id, new_email())
    member = signed_in.member
    client.organizations.update(org.organization_id, mfa_policy="REQUIRED_FOR_ALL")
    count = len(inbox.messages) + 1
    with http(server, server_key(server)) as admin:
        ok(
            admin.post(
                _reset_url(server, org.organization_id, member.member_id),
                json={"reset_password_redirect_url": REDIRECT},
            )
        )
    token, _ = _token_from(inbox.wait(count))
    reset = client.passwords.email.reset(password_reset_token=token, password=NEW_PASSWORD)
    # The password is set and the old session ended, but no session until the second factor.
    assert reset.member_authenticated is False and reset.intermediate_session_token
    assert reset.session_token == "" and reset.member_session is None
    assert reset.mfa_required is not None
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    created = client.totps.create(
        organization_id=org.organization_id,
        member_id=member.member_id,
        intermediate_session_token=reset.intermediate_session_token,
    )
    done = client.totps.authenticate(
        organization_id=org.organization_id,
        member_id=member.member_id,
        code=pyotp.TOTP(created.secret).now(),
        intermediate_session_token=reset.intermediate_session_token,
    )
    assert [f.type for f in done.member_session.authentication_factors] == ["password", "totp"]
    again = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address=member.email_address,
        password=NEW_PASSWORD,
    )
    assert again.member_authenticated is False  # the new password works; MFA is still owed


def server_key(server: RunningServer) -> tuple[str, str]:
    return server.management_key["key_id"], server.management_key["secret"]


def test_a_reset_token_expires_and_belongs_to_its_environment(mail_server):
    server, inbox = mail_server
    client = server.b2b_client()
    org = new_org(client)
    member = sign_in(client, org.organization_id, new_email()).member
    count = len(inbox.messages)
    with http(server, server_key(server)) as admin:
        for _ in range(2):
            ok(
                admin.post(
                    _reset_url(server, org.organization_id, member.member_id),
                    json={"reset_password_redirect_url": REDIRECT},
                )
            )
    expired, _ = _token_from(inbox.wait(count + 1))
    other, _ = _token_from(inbox.wait(count + 2))
    with server.store.engine.begin() as tx:
        t = tables.email_tokens
        tx.execute(
            update(t)
            .where(t.c.token_hash == credentials.token_digest(expired))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    before = server.snapshot()
    with stytch_error(401, "invalid_password_reset_token"):
        client.passwords.email.reset(password_reset_token=expired, password=NEW_PASSWORD)
    # The live environment's secret does not redeem a test environment's token.
    live = server.b2b_client(server.live_project_id, server.live_secret)
    with stytch_error(401, "invalid_password_reset_token"):
        live.passwords.email.reset(password_reset_token=other, password=NEW_PASSWORD)
    with stytch_error(401, "invalid_password_reset_token"):
        client.passwords.email.reset(password_reset_token="made-up", password=NEW_PASSWORD)
    with stytch_error(400, "unsupported_feature"):
        client.passwords.email.reset(
            password_reset_token=other, password=NEW_PASSWORD, session_token="x"
        )
    assert server.snapshot() == before
    # A token sent to an address the member no longer has is void.
    client.organizations.members.update(
        org.organization_id, member.member_id, email_address=new_email()
    )
    with stytch_error(401, "invalid_password_reset_token"):
        client.passwords.email.reset(password_reset_token=other, password=NEW_PASSWORD)


def test_an_undeliverable_reset_email_is_an_error_that_changes_nothing(tmp_path):
    with (
        throwaway_database(tmp_path) as url,
        running_server(url, smtp_host="127.0.0.1", smtp_port=_free_port(), **FAST_ARGON2) as server,
    ):
        client = server.b2b_client()
        org = new_org(client)
        member = sign_in(client, org.organization_id, new_email()).member
        with http(server, server_key(server)) as admin:
            refused(
                server,
                lambda: admin.post(
                    _reset_url(server, org.organization_id, member.member_id),
                    json={"reset_password_redirect_url": REDIRECT},
                ),
                502,
                "email_delivery_failed",
            )


def test_a_reset_voids_every_older_reset_email(mail_server):
    server, inbox = mail_server
    client = server.b2b_client()
    org = new_org(client)
    member = sign_in(client, org.organization_id, new_email()).member
    count = len(inbox.messages)
    with http(server, server_key(server)) as admin:
        for _ in range(2):
            ok(
                admin.post(
                    _reset_url(server, org.organization_id, member.member_id),
                    json={"reset_password_redirect_url": REDIRECT},
                )
            )
    older, _ = _token_from(inbox.wait(count + 1))
    newer, _ = _token_from(inbox.wait(count + 2))
    client.passwords.email.reset(password_reset_token=newer, password=NEW_PASSWORD)
    with stytch_error(401, "invalid_password_reset_token"):
        client.passwords.email.reset(password_reset_token=older, password=NEW_PASSWORD + "?")
