"""`scim.connection.*` through the official SDK: create (token shown once), get, update, delete,
get_groups, token rotation; enforcement with a member session header (the `stytch.sso`
actions); bad input changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from stytch.b2b.models.scim import SCIMGroupImplicitRoleAssignments
from stytch.b2b.models.scim_connection import CreateRequestOptions, UpdateRequestOptions
from stytch.shared.method_options import Authorization

from tests.sdk.support import Tenant, email, new_org, sign_in, stytch_error
from tests.server import RunningServer


def _users(base_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{base_url}/Users", headers={"Authorization": f"Bearer {token}"})


def test_create_get_update_delete(server: RunningServer, client: Any) -> None:
    org_id = new_org(client).organization_id
    created = client.scim.connection.create(
        organization_id=org_id, display_name="Okta", identity_provider="okta"
    ).connection
    assert created.bearer_token and created.status == "active"
    assert created.base_url == f"{server.url}/v1/b2b/scim/{created.connection_id}"
    assert created.identity_provider == "okta" and created.display_name == "Okta"
    assert _users(created.base_url, created.bearer_token).status_code == 200

    got = client.scim.connection.get(organization_id=org_id).connection
    assert got.connection_id == created.connection_id
    assert got.bearer_token_last_four == created.bearer_token[-4:]
    assert got.next_bearer_token_last_four == ""
    # The token is stored hashed: no table holds it.
    snapshot = server.snapshot(rows_of=("scim_connections",))
    assert created.bearer_token not in str(snapshot.rows)

    org = client.organizations.get(organization_id=org_id).organization
    assert org.scim_active_connection is not None
    assert org.scim_active_connection.connection_id == created.connection_id
    assert org.scim_active_connection.bearer_token_last_four == created.bearer_token[-4:]

    updated = client.scim.connection.update(
        organization_id=org_id, connection_id=created.connection_id, display_name="Entra"
    ).connection
    assert updated.display_name == "Entra" and updated.identity_provider == "okta"

    deleted = client.scim.connection.delete(
        organization_id=org_id, connection_id=created.connection_id
    )
    assert deleted.connection_id == created.connection_id
    assert _users(created.base_url, created.bearer_token).status_code == 401
    assert (
        client.organizations.get(organization_id=org_id).organization.scim_active_connection is None
    )
    with stytch_error(404, "scim_connection_not_found"):
        client.scim.connection.get(organization_id=org_id)


def test_one_connection_per_organization(server: RunningServer, client: Any) -> None:
    org_id = new_org(client).organization_id
    client.scim.connection.create(organization_id=org_id)
    before = server.snapshot()
    with stytch_error(409, "duplicate_scim_connection"):
        client.scim.connection.create(organization_id=org_id)
    assert server.snapshot() == before


def test_bad_input_changes_nothing(server: RunningServer, client: Any) -> None:
    org_id = new_org(client).organization_id
    connection = client.scim.connection.create(organization_id=org_id).connection
    before = server.snapshot()
    with stytch_error(400, "invalid_request"):
        client.scim.connection.create(organization_id=org_id, identity_provider="acme")
    with stytch_error(400, "invalid_request"):
        client.scim.connection.update(
            organization_id=org_id,
            connection_id=connection.connection_id,
            scim_group_implicit_role_assignments=[
                SCIMGroupImplicitRoleAssignments(
                    role_id="editor", group_id="no-such", group_name=""
                )
            ],
        )
    with stytch_error(404, "scim_connection_not_found"):
        client.scim.connection.update(
            organization_id=org_id, connection_id="scim-connection-test-nope", display_name="x"
        )
    with stytch_error(409, "no_scim_token_rotation_in_progress"):
        client.scim.connection.rotate_complete(
            organization_id=org_id, connection_id=connection.connection_id
        )
    assert server.snapshot() == before


def test_rotation(client: Any) -> None:
    org_id = new_org(client).organization_id
    connection = client.scim.connection.create(organization_id=org_id).connection
    ident = connection.connection_id
    started = client.scim.connection.rotate_start(organization_id=org_id, connection_id=ident)
    new_token = started.connection.next_bearer_token
    assert new_token and new_token != connection.bearer_token
    # Both work during the rotation.
    assert _users(connection.base_url, connection.bearer_token).status_code == 200
    assert _users(connection.base_url, new_token).status_code == 200
    got = client.scim.connection.get(organization_id=org_id).connection
    assert got.next_bearer_token_last_four == new_token[-4:]

    cancelled = client.scim.connection.rotate_cancel(organization_id=org_id, connection_id=ident)
    assert cancelled.connection.next_bearer_token_last_four == ""
    assert _users(connection.base_url, new_token).status_code == 401
    assert _users(connection.base_url, connection.bearer_token).status_code == 200

    newer = client.scim.connection.rotate_start(organization_id=org_id, connection_id=ident)
    newest = newer.connection.next_bearer_token
    completed = client.scim.connection.rotate_complete(organization_id=org_id, connection_id=ident)
    assert completed.connection.bearer_token_last_four == newest[-4:]
    assert _users(connection.base_url, connection.bearer_token).status_code == 401
    assert _users(connection.base_url, newest).status_code == 200


def test_get_groups_and_role_assignments(client: Any) -> None:
    org_id = new_org(client).organization_id
    connection = client.scim.connection.create(organization_id=org_id).connection
    headers = {"Authorization": f"Bearer {connection.bearer_token}"}
    group_ids = []
    for name in ("Engineering", "Sales", "Support"):
        answer = httpx.post(
            f"{connection.base_url}/Groups",
            headers=headers,
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name},
        )
        assert answer.status_code == 201, answer.text
        group_ids.append(answer.json()["id"])
    first = client.scim.connection.get_groups(
        organization_id=org_id, connection_id=connection.connection_id, limit=2
    )
    assert [g.group_name for g in first.scim_groups] == ["Engineering", "Sales"]
    assert all(g.organization_id == org_id for g in first.scim_groups)
    rest = client.scim.connection.get_groups(
        organization_id=org_id,
        connection_id=connection.connection_id,
        limit=2,
        cursor=first.next_cursor,
    )
    assert [g.group_name for g in rest.scim_groups] == ["Support"] and rest.next_cursor is None

    updated = client.scim.connection.update(
        organization_id=org_id,
        connection_id=connection.connection_id,
        scim_group_implicit_role_assignments=[
            SCIMGroupImplicitRoleAssignments(role_id="editor", group_id=group_ids[0], group_name="")
        ],
    ).connection
    rules = updated.scim_group_implicit_role_assignments
    assert [(r.role_id, r.group_id, r.group_name) for r in rules] == [
        ("editor", group_ids[0], "Engineering")
    ]


def test_session_header_needs_the_sso_actions(
    server: RunningServer, client: Any, acme: Tenant
) -> None:
    plain = Authorization(session_token=acme.plain.session_token)
    before = server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        client.scim.connection.create(
            organization_id=acme.org_id,
            method_options=CreateRequestOptions(authorization=plain),
        )
    outsider = Authorization(session_token=acme.outsider.session_token)
    with stytch_error(403, "session_authorization_tenancy_error"):
        client.scim.connection.create(
            organization_id=acme.org_id,
            method_options=CreateRequestOptions(authorization=outsider),
        )
    assert server.snapshot() == before
    admin = Authorization(session_token=acme.admin.session_token)
    created = client.scim.connection.create(
        organization_id=acme.org_id, method_options=CreateRequestOptions(authorization=admin)
    ).connection
    with stytch_error(403, "session_authorization_error"):
        client.scim.connection.update(
            organization_id=acme.org_id,
            connection_id=created.connection_id,
            display_name="x",
            method_options=UpdateRequestOptions(authorization=plain),
        )
    assert "scim_connection.create" in client_events(server)
    client.scim.connection.delete(organization_id=acme.org_id, connection_id=created.connection_id)
    assert "scim_connection.delete" in client_events(server)


def client_events(server: RunningServer) -> str:
    """Every event row, serialised: enough to look for an action's name."""
    return "\n".join(server.snapshot(rows_of=("events",)).rows["events"])


def test_unknown_organization(client: Any) -> None:
    with stytch_error(404, "organization_not_found"):
        client.scim.connection.create(organization_id="organization-test-nope")
    sign_in(client, new_org(client).organization_id, email())
