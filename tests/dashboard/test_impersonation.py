"""Impersonation: only roles holding `impersonation.use`, only where the environment's setting is
on (switched by `impersonation_config.manage`); the session names its impersonator in its factor
and its JWT, the official SDK accepts it, and the event log names the impersonator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from gatehouse.policy import dashboard
from gatehouse.services.b2b.sessions import SESSION_CLAIM
from tests.sdk.support import email as new_email
from tests.sdk.support import new_org, sign_in, stytch_error
from tests.server import RunningServer

ROLES = dashboard.ROLES


def env_path(server: RunningServer) -> str:
    return f"/pwa/v3/projects/{server.project_slug}/environments/test"


def http(server: RunningServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
        **kwargs,
    )


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> dict[str, tuple[str, str]]:
    keys = {}
    with server.store.transaction() as tx:
        workspace_id = server.store.get_workspace(tx)["id"]
        for role in ROLES:
            key = server.gatehouse.workspace.create_key(tx, workspace_id, role, role, "test")
            keys[role] = (key["key_id"], key["secret"])
    return keys


@pytest.fixture(scope="module")
def as_role(server: RunningServer, keys: dict[str, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    clients = {role: http(server, auth=keys[role]) for role in ROLES}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return server.b2b_client()


@pytest.fixture(scope="module")
def org(client: Any) -> Any:
    return new_org(client)


def set_impersonation(as_role: dict[str, Any], server: RunningServer, on: bool) -> None:
    response = as_role["admin"].patch(env_path(server), json={"user_impersonation_enabled": on})
    assert response.status_code == 200, response.text
    assert response.json()["environment"]["user_impersonation_enabled"] is on


def impersonate_url(server: RunningServer, org_id: str, member_id: str) -> str:
    return f"{env_path(server)}/organizations/{org_id}/members/{member_id}/impersonate"


def refused(server: RunningServer, call: Any, status: int, error_type: str) -> dict[str, Any]:
    before = server.snapshot()
    response = call()
    assert (response.status_code, response.json()["error_type"]) == (status, error_type), (
        response.text
    )
    assert server.snapshot() == before
    return response.json()  # type: ignore[no-any-return]


def impersonation_events(server: RunningServer, member_id: str) -> list[dict[str, Any]]:
    with server.store.read() as tx:
        return server.store.query_events(
            tx, server.project_id, action="member.impersonate", target=member_id
        )


@pytest.mark.parametrize("role", ROLES)
def test_nobody_impersonates_while_the_setting_is_off(server, as_role, client, org, role):
    set_impersonation(as_role, server, False)
    member = sign_in(client, org.organization_id, new_email()).member
    url = impersonate_url(server, org.organization_id, member.member_id)
    if dashboard.allows(role, "impersonation.use"):
        body = refused(server, lambda: as_role[role].post(url), 403, "impersonation_disabled")
        assert "user_impersonation_enabled" in body["error_message"]
    else:
        refused(server, lambda: as_role[role].post(url), 403, "forbidden")


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_switch_the_setting(server, as_role, role):
    url = env_path(server)
    if dashboard.allows(role, "impersonation_config.manage"):
        set_impersonation(as_role, server, True)
        set_impersonation(as_role, server, False)
    else:
        refused(
            server,
            lambda: as_role[role].patch(url, json={"user_impersonation_enabled": True}),
            403,
            "forbidden",
        )


@pytest.mark.parametrize("role", ROLES)
def test_impersonation_follows_the_matrix_when_on(server, as_role, keys, client, org, role):
    set_impersonation(as_role, server, True)
    member = sign_in(client, org.organization_id, new_email(), ["stytch_admin"]).member
    url = impersonate_url(server, org.organization_id, member.member_id)
    if not dashboard.allows(role, "impersonation.use"):
        body = refused(server, lambda: as_role[role].post(url), 403, "forbidden")
        assert "impersonation.use" in body["error_message"]
        return
    started = dt.datetime.now(dt.UTC)
    response = as_role[role].post(url)
    finished = dt.datetime.now(dt.UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    key_id = keys[role][0]
    expected_factor = {"impersonator_id": key_id, "impersonator_email_address": ""}

    session = body["member_session"]
    assert session["member_id"] == member.member_id
    (factor,) = session["authentication_factors"]
    assert (factor["type"], factor["delivery_method"]) == ("impersonated", "impersonation")
    assert factor["impersonated_factor"] == expected_factor
    expires = dt.datetime.fromisoformat(session["expires_at"])
    lifetime = dt.timedelta(minutes=server.gatehouse.settings.impersonation_minutes)
    # expires_at is sent with whole seconds, so it may round to the second after `finished`.
    second = dt.timedelta(seconds=1)
    assert started + lifetime - second <= expires <= finished + lifetime + second
    assert set(session["roles"]) == {"stytch_member", "stytch_admin"}

    # The official SDK accepts the session and parses the factor, by token and by JWT.
    answer = client.sessions.authenticate(session_token=body["session_token"])
    assert answer.member.member_id == member.member_id
    (sdk_factor,) = answer.member_session.authentication_factors
    assert sdk_factor.type.value == "impersonated"
    assert sdk_factor.delivery_method.value == "impersonation"
    assert sdk_factor.impersonated_factor.impersonator_id == key_id
    local = client.sessions.authenticate_jwt_local(body["session_jwt"])
    assert local is not None and local.member_id == member.member_id
    assert local.authentication_factors[0].impersonated_factor.impersonator_id == key_id
    claims = jwt.decode(body["session_jwt"], options={"verify_signature": False})
    assert claims["sub"] == member.member_id
    assert claims[SESSION_CLAIM]["authentication_factors"][0]["impersonated_factor"] == (
        expected_factor
    )

    # The event log names the impersonator, with the role they acted with.
    (event,) = impersonation_events(server, member.member_id)
    assert event["actor"] == f"workspace_key:{key_id}"
    assert event["actor_role"] == role
    assert event["changes"]["impersonator_id"] == key_id
    assert event["changes"]["member_session_id"] == session["member_session_id"]


def test_a_person_impersonating_is_named_by_id_and_email(server, as_role, client, org):
    set_impersonation(as_role, server, True)
    with server.store.transaction() as tx:
        workspace_id = server.store.get_workspace(tx)["id"]
        person = server.gatehouse.workspace.add_member(
            tx,
            workspace_id,
            "agent.smith@support.example",
            "support_manager",
            status="active",
            verified=True,
        )
        dashboard_session = server.gatehouse.workspace.start_session(tx, person)
    member = sign_in(client, org.organization_id, new_email()).member
    headers = {"Authorization": f"Bearer {dashboard_session['session_token']}"}
    with http(server, headers=headers) as signed_in:
        response = signed_in.post(impersonate_url(server, org.organization_id, member.member_id))
    assert response.status_code == 200, response.text
    factor = response.json()["member_session"]["authentication_factors"][0]
    assert factor["impersonated_factor"] == {
        "impersonator_id": person["id"],
        "impersonator_email_address": "agent.smith@support.example",
    }
    (event,) = impersonation_events(server, member.member_id)
    assert event["actor"] == f"workspace_member:{person['id']}"
    assert event["actor_role"] == "support_manager"
    assert event["changes"]["impersonator_email_address"] == "agent.smith@support.example"


def test_an_impersonated_session_ends_like_any_other(server, as_role, client, org):
    set_impersonation(as_role, server, True)
    member = sign_in(client, org.organization_id, new_email()).member
    url = impersonate_url(server, org.organization_id, member.member_id)
    body = as_role["admin"].post(url).json()
    revoke = f"{env_path(server)}/organizations/{org.organization_id}/members/{member.member_id}"
    assert as_role["support_agent"].post(revoke + "/sessions/revoke").status_code == 200
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=body["session_token"])


def test_impersonation_needs_a_live_member_of_that_organization(server, as_role, client, org):
    set_impersonation(as_role, server, True)
    admin = as_role["admin"]
    member = sign_in(client, org.organization_id, new_email()).member
    other = new_org(client)
    refused(
        server,
        lambda: admin.post(impersonate_url(server, other.organization_id, member.member_id)),
        404,
        "member_not_found",
    )
    refused(
        server,
        lambda: admin.post(impersonate_url(server, "organization-test-nope", member.member_id)),
        404,
        "organization_not_found",
    )
    refused(
        server,
        lambda: admin.post(
            impersonate_url(server, org.organization_id, member.member_id), json={"x": 1}
        ),
        400,
        "invalid_request",
    )
    client.organizations.members.delete(org.organization_id, member.member_id)
    refused(
        server,
        lambda: admin.post(impersonate_url(server, org.organization_id, member.member_id)),
        404,
        "member_not_found",
    )
    set_impersonation(as_role, server, False)


def test_an_impersonated_session_cannot_be_extended(server, as_role, client, org):
    set_impersonation(as_role, server, True)
    member = sign_in(client, org.organization_id, new_email()).member
    body = (
        as_role["admin"].post(impersonate_url(server, org.organization_id, member.member_id)).json()
    )
    granted = dt.datetime.fromisoformat(body["member_session"]["expires_at"])
    extended = client.sessions.authenticate(
        session_token=body["session_token"], session_duration_minutes=24 * 60
    )
    assert extended.member_session.expires_at <= granted
