"""Conformance: OIDC SSO storage (SsoStore): connections per organization, the authorization
requests sent (used once, gone with their connection), and the connection's registrations and
SSO tokens deleted with it although no foreign key ties a registration to an OIDC connection —
on both backends."""

from __future__ import annotations

from gatehouse.storage import Store
from gatehouse.storage.rows import (
    OidcConnectionRow,
    OidcRequestRow,
    SsoRegistrationRow,
    SsoTokenRow,
)
from tests.storage.rows import (
    Tenant,
    at,
    insert_members,
    insert_organizations,
    member_row,
    organization_row,
)


def _connection(environment_id: str, org_id: str, n: int) -> OidcConnectionRow:
    return {
        "id": f"oidc-connection-{n}",
        "environment_id": environment_id,
        "organization_id": org_id,
        "status": "pending",
        "config": {"display_name": f"OP {n}", "issuer": ""},
        "client_secret": "",
        "created_at": at(n),
        "updated_at": at(n),
    }


def test_connections_requests_and_what_a_deletion_takes_along(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    org = organization_row(env)
    insert_organizations(store, org)
    member = member_row(env, org["id"], email="grace@example.com")
    insert_members(store, member)
    first, second = _connection(env, org["id"], 1), _connection(env, org["id"], 2)
    with store.transaction() as tx:
        store.insert_oidc_connection(tx, first)
        store.insert_oidc_connection(tx, second)
    with store.read() as tx:
        assert store.get_oidc_connection(tx, env, first["id"]) == first
        assert store.get_oidc_connection(tx, None, first["id"]) == first
        assert store.get_oidc_connection(tx, tenant.other_environment_id, first["id"]) is None
        assert store.get_saml_connection(tx, None, first["id"]) is None
        assert [c["id"] for c in store.oidc_connections(tx, org["id"])] == [
            first["id"],
            second["id"],
        ]
    with store.transaction() as tx:
        store.update_oidc_connection(
            tx,
            first["id"],
            {"status": "active", "client_secret": "fernet:sealed", "updated_at": at(9)},
        )
    with store.read() as tx:
        found = store.get_oidc_connection(tx, env, first["id"])
        assert found is not None
        assert (found["status"], found["client_secret"]) == ("active", "fernet:sealed")

    request: OidcRequestRow = {
        "id": "state-digest-1",
        "environment_id": env,
        "connection_id": first["id"],
        "nonce": "nonce-1",
        "code_verifier": "fernet:verifier",
        "pkce_challenge": None,
        "login_redirect_url": "https://app.example/login",
        "signup_redirect_url": None,
        "created_at": at(1),
        "expires_at": at(600),
        "used_at": None,
    }
    registration: SsoRegistrationRow = {
        "id": "registration-oidc-1",
        "environment_id": env,
        "member_id": member["id"],
        "connection_id": first["id"],
        "external_id": "sub-1",
        "sso_attributes": {"email": "grace@example.com", "name": "", "groups": []},
        "created_at": at(1),
        "updated_at": at(1),
    }
    token: SsoTokenRow = {
        "id": "sso-token-oidc-1",
        "environment_id": env,
        "token_hash": "digest-oidc-1",
        "member_id": member["id"],
        "registration_id": registration["id"],
        "pkce_challenge": None,
        "created_at": at(1),
        "expires_at": at(600),
        "used_at": None,
    }
    with store.transaction() as tx:
        store.insert_oidc_request(tx, request)
        store.insert_sso_registration(tx, registration)
        store.insert_sso_token(tx, token)
    with store.transaction() as tx:
        assert store.find_oidc_request(tx, request["id"]) == request
        assert store.find_oidc_request(tx, "state-digest-2") is None
        assert store.use_oidc_request(tx, request["id"], at(2))
        assert not store.use_oidc_request(tx, request["id"], at(3))
        assert store.find_sso_registration(tx, first["id"], "sub-1") is not None

    with store.transaction() as tx:
        store.delete_oidc_connection(tx, first["id"])
    with store.read() as tx:
        assert store.get_oidc_connection(tx, env, first["id"]) is None
        assert store.find_oidc_request(tx, request["id"]) is None
        assert store.get_sso_registration(tx, registration["id"]) is None
        assert store.find_sso_token(tx, env, "digest-oidc-1") is None
        assert [c["id"] for c in store.oidc_connections(tx, org["id"])] == [second["id"]]
