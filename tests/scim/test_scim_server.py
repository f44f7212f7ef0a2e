"""The SCIM 2.0 server at a connection's base_url, through plain HTTP (httpx) as an IdP calls
it, with what it does checked through the official SDK: provisioning creates members,
deprovisioning deactivates them and revokes their sessions, groups grant their implicit roles
(source `scim_connection_group`, granted in checks without any session factor), and bad input
gets a SCIM error and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gatehouse.client import Client
from gatehouse.errors import Code, GatehouseError
from gatehouse.policy import policy_from_file
from gatehouse.services.context import Caller
from tests.sdk.support import (
    PROJECT_POLICY,
    check,
    email,
    install_policy,
    new_org,
    sdk_client,
    sign_in,
    stytch_error,
    unique,
)
from tests.server import RunningServer

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _address() -> str:
    """An address at a domain SCIM's email validation accepts (it refuses `.test`)."""
    return email("example.com")


@dataclass
class Idp:
    """An identity provider's view: the connection's base URL and bearer token."""

    org_id: str
    connection_id: str
    http: httpx.Client

    def user(self, address: str | None = None, **fields: Any) -> dict[str, Any]:
        address = address or _address()
        body = {
            "schemas": [USER],
            "userName": address,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": address, "primary": True, "type": "work"}],
            "active": True,
            **fields,
        }
        answer = self.http.post("/Users", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        return self.http.patch(path, json={"schemas": [PATCH], "Operations": list(operations)})


@pytest.fixture
def idp(client: Any) -> Iterator[Idp]:
    org_id = new_org(client).organization_id
    connection = client.scim.connection.create(organization_id=org_id).connection
    with httpx.Client(
        base_url=connection.base_url + "/",
        headers={"Authorization": f"Bearer {connection.bearer_token}"},
    ) as http:
        yield Idp(org_id, connection.connection_id, http)


def _events(server: RunningServer) -> str:
    return "\n".join(server.snapshot(rows_of=("events",)).rows["events"])


def _scim_error(answer: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    assert body.get("scimType") == scim_type


def test_provisioning_creates_a_member_and_deactivating_revokes_its_sessions(
    server: RunningServer, client: Any, idp: Idp
) -> None:
    address = _address()
    created = idp.user(address, externalId="okta-123")
    member_id = created["id"]
    assert created["userName"] == address and created["active"] is True
    assert created["meta"]["location"].endswith(f"/Users/{member_id}")
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert member.member.email_address == address
    assert member.member.name == "Ada Lovelace" and member.member.status == "active"
    registration = member.member.scim_registration
    assert registration is not None and registration.connection_id == idp.connection_id
    assert registration.external_id == "okta-123" and registration.registration_id
    attributes = registration.scim_attributes
    assert attributes is not None and attributes.user_name == address
    assert attributes.id == member_id and attributes.active is True
    assert [(e.value, e.type, e.primary) for e in attributes.emails] == [(address, "work", True)]
    assert attributes.name is not None and attributes.name.given_name == "Ada"

    signed_in = sign_in(client, idp.org_id, address)
    client.sessions.authenticate(session_token=signed_in.session_token)

    answer = idp.patch(f"Users/{member_id}", {"op": "replace", "path": "active", "value": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    with stytch_error(404, "member_not_found"):
        client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert idp.http.get(f"Users/{member_id}").json()["active"] is False

    # Reactivated by the IdP: a member again.
    answer = idp.patch(f"Users/{member_id}", {"op": "replace", "value": {"active": True}})
    assert answer.status_code == 200, answer.text
    again = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert again.member.status == "active"
    events = _events(server)
    assert "scim.user.create" in events and "scim.user.patch" in events


def test_delete_deactivates_the_member_and_revokes_its_sessions(
    server: RunningServer, client: Any, idp: Idp
) -> None:
    address = _address()
    member_id = idp.user(address)["id"]
    signed_in = sign_in(client, idp.org_id, address)
    assert idp.http.delete(f"Users/{member_id}").status_code == 204
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    _scim_error(idp.http.get(f"Users/{member_id}"), 404)
    with stytch_error(404, "member_not_found"):
        client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert "scim.user.delete" in _events(server)


def test_replace_updates_the_member(client: Any, idp: Idp) -> None:
    member_id = idp.user()["id"]
    address = _address()
    answer = idp.http.put(
        f"Users/{member_id}",
        json={
            "schemas": [USER],
            "userName": address,
            "name": {"formatted": "Grace Hopper"},
            "emails": [{"value": address, "primary": True}],
        },
    )
    assert answer.status_code == 200, answer.text
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert member.member.email_address == address and member.member.name == "Grace Hopper"


def test_group_membership_grants_its_implicit_role(
    server: RunningServer, client: Any, idp: Idp
) -> None:
    address = _address()
    member_id = idp.user(address)["id"]
    created = idp.http.post(
        "Groups",
        json={"schemas": [GROUP], "displayName": "Editors", "members": [{"value": member_id}]},
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    assert [m["value"] for m in created.json()["members"]] == [member_id]
    assert idp.http.get(f"Users/{member_id}").json()["groups"][0]["value"] == group_id
    registration = client.organizations.members.get(
        organization_id=idp.org_id, member_id=member_id
    ).member.scim_registration
    assert [(g.value, g.display) for g in registration.scim_attributes.groups] == [
        (group_id, "Editors")
    ]

    signed_in = sign_in(client, idp.org_id, address)
    token = signed_in.session_token
    write = check(idp.org_id, "documents", "write")
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(session_token=token, authorization_check=write)

    client.scim.connection.update(
        organization_id=idp.org_id,
        connection_id=idp.connection_id,
        scim_group_implicit_role_assignments=[
            {"group_id": group_id, "role_id": "editor", "group_name": "Editors"}
        ],
    )
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    editor = [r for r in member.member.roles if r.role_id == "editor"]
    assert [(s.type, s.details) for s in editor[0].sources] == [
        ("scim_connection_group", {"connection_id": idp.connection_id, "group_id": group_id})
    ]
    # Granted in a check with the session the member already had: SCIM group roles need no
    # session factor (PRODUCT.md asks that only of SSO connection roles).
    authorized = client.sessions.authenticate(session_token=token, authorization_check=write)
    assert "editor" in authorized.member_session.roles
    # A JWT minted now carries the role: the official SDK's local check (a fresh client, so a
    # fresh policy cache), the Gatehouse SDK and the batch endpoint grant it too.
    jwt = authorized.session_jwt
    local = sdk_client(server).sessions.authenticate_jwt(jwt, authorization_check=write)
    assert local.member_session.member_id == member_id
    with Client(server.project_id, server.secret, server.url, push=False) as gatehouse_sdk:
        assert gatehouse_sdk.is_authorized(jwt, idp.org_id, "documents", "write")
        assert not gatehouse_sdk.is_authorized(jwt, idp.org_id, "documents", "delete")
    batch = httpx.post(
        f"{server.url}/v1/b2b/gatehouse/authorize",
        auth=(server.project_id, server.secret),
        json={
            "session_token": token,
            "organization_id": idp.org_id,
            "checks": [{"resource_id": "documents", "action": "write"}],
        },
    )
    assert batch.json()["results"] == [True], batch.text

    answer = idp.patch(
        f"Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{member_id}"]'}
    )
    assert answer.status_code == 200, answer.text
    assert "members" not in answer.json()
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert "editor" not in {r.role_id for r in member.member.roles}
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(session_token=token, authorization_check=write)

    answer = idp.patch(
        f"Groups/{group_id}", {"op": "add", "path": "members", "value": [{"value": member_id}]}
    )
    assert answer.status_code == 200, answer.text
    client.sessions.authenticate(session_token=token, authorization_check=write)
    assert idp.http.delete(f"Groups/{group_id}").status_code == 204
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(session_token=token, authorization_check=write)
    connection = client.scim.connection.get(organization_id=idp.org_id).connection
    assert connection.scim_group_implicit_role_assignments == []
    events = _events(server)
    assert "scim.group.create" in events and "scim.group.patch" in events
    assert "scim.group.delete" in events


def test_listing_filters_and_pages(idp: Idp) -> None:
    prefix = unique("list")
    names = [f"{prefix}-{i}@example.com" for i in range(3)]
    ids = [idp.user(n, displayName=f"User {i}")["id"] for i, n in enumerate(names)]
    idp.user(displayName=None)

    def listed(**params: Any) -> list[str]:
        answer = idp.http.get("Users", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        return [r["id"] for r in body["Resources"]]

    assert listed(filter=f'userName eq "{names[1].upper()}"') == [ids[1]]
    assert listed(filter=f'userName sw "{prefix}"') == ids
    assert listed(filter=f'emails.value co "{prefix}-2"') == [ids[2]]
    assert listed(filter=f'userName sw "{prefix}" and displayName eq "User 0"') == [ids[0]]
    assert listed(filter='displayName eq "User 0" or displayName eq "User 2"') == [ids[0], ids[2]]
    assert set(ids) <= set(listed(filter="displayName pr"))
    page = idp.http.get(
        "Users", params={"filter": f'userName sw "{prefix}"', "startIndex": 2, "count": 1}
    ).json()
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert [r["id"] for r in page["Resources"]] == [ids[1]]
    searched = idp.http.post(
        "Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": f'userName eq "{names[0]}"',
        },
    )
    assert [r["id"] for r in searched.json()["Resources"]] == [ids[0]]


def test_discovery(idp: Idp) -> None:
    config = idp.http.get("ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    types = idp.http.get("ResourceTypes").json()
    assert {r["name"] for r in types["Resources"]} == {"User", "Group"}
    schemas = idp.http.get("Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} >= {USER, GROUP}
    assert idp.http.get(f"Schemas/{USER}").json()["id"] == USER


def test_bad_input_gets_a_scim_error_and_changes_nothing(
    server: RunningServer, client: Any, idp: Idp
) -> None:
    taken = _address()
    member_id = idp.user(taken)["id"]
    before = server.snapshot()
    with httpx.Client(base_url=str(idp.http.base_url)) as anonymous:
        _scim_error(anonymous.get("Users"), 401)
        _scim_error(anonymous.get("Users", headers={"Authorization": "Bearer nope"}), 401)
    _scim_error(idp.http.post("Users", json={"schemas": [USER]}), 400, "invalidValue")
    _scim_error(idp.http.post("Users", json=[1]), 400, "invalidValue")
    _scim_error(
        idp.http.post("Users", json={"schemas": [USER], "userName": taken.upper()}),
        409,
        "uniqueness",
    )
    _scim_error(idp.http.get("Users", params={"filter": "userName eq"}), 400, "invalidFilter")
    _scim_error(idp.http.get("Users/member-test-nope"), 404)
    _scim_error(
        idp.patch(f"Users/{member_id}", {"op": "explode", "path": "active"}), 400, "invalidValue"
    )
    _scim_error(
        idp.http.post(
            "Groups",
            json={
                "schemas": [GROUP],
                "displayName": "G",
                "members": [{"value": "member-test-nope"}],
            },
        ),
        400,
        "invalidValue",
    )
    _scim_error(idp.http.get("Nothing"), 404)
    _scim_error(idp.http.delete("ServiceProviderConfig"), 405)
    assert server.snapshot() == before


def test_removing_a_role_a_scim_group_grants_is_refused_unless_cascaded(
    server: RunningServer, client: Any, idp: Idp
) -> None:
    scim_role = {
        "role_id": "provisioned",
        "description": "Granted by a SCIM group",
        "permissions": [],
    }
    with_role = {**PROJECT_POLICY, "custom_roles": [*PROJECT_POLICY["custom_roles"], scim_role]}
    install_policy(server, with_role)
    group = idp.http.post("Groups", json={"schemas": [GROUP], "displayName": "Provisioned"})
    group_id = group.json()["id"]
    client.scim.connection.update(
        organization_id=idp.org_id,
        connection_id=idp.connection_id,
        scim_group_implicit_role_assignments=[
            {"group_id": group_id, "role_id": "provisioned", "group_name": ""}
        ],
    )
    before = server.snapshot()
    with pytest.raises(GatehouseError) as refused:
        install_policy(server, PROJECT_POLICY)
    assert refused.value.code is Code.POLICY_IN_USE
    assert f"SCIM group `{group_id}`" in str(refused.value)
    assert server.snapshot() == before
    policy = policy_from_file(PROJECT_POLICY)
    with server.store.transaction() as tx:
        environment = server.gatehouse.runtime.load_environment(tx, server.project_id)
    assert environment is not None
    server.gatehouse.rbac.set_policy(Caller(environment, "test"), policy, cascade=True)
    connection = client.scim.connection.get(organization_id=idp.org_id).connection
    assert connection.scim_group_implicit_role_assignments == []


def test_deleting_the_connection_keeps_the_members_without_their_registration(
    client: Any, idp: Idp
) -> None:
    address = _address()
    member_id = idp.user(address)["id"]
    group = idp.http.post(
        "Groups",
        json={"schemas": [GROUP], "displayName": "Viewers", "members": [{"value": member_id}]},
    ).json()
    client.scim.connection.update(
        organization_id=idp.org_id,
        connection_id=idp.connection_id,
        scim_group_implicit_role_assignments=[
            {"group_id": group["id"], "role_id": "viewer", "group_name": ""}
        ],
    )
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert "viewer" in {r.role_id for r in member.member.roles}
    client.scim.connection.delete(organization_id=idp.org_id, connection_id=idp.connection_id)
    member = client.organizations.members.get(organization_id=idp.org_id, member_id=member_id)
    assert member.member.status == "active" and member.member.scim_registration is None
    assert "viewer" not in {r.role_id for r in member.member.roles}
    _scim_error(idp.http.get("Users"), 401)
