"""Conformance: SAML SSO storage (SsoStore): connections per organization (cascading to their
registrations, requests, seen assertions and tokens), registrations unique per (connection,
IdP subject) and per (connection, member), AuthnRequests and SSO tokens used once, and assertion
ids accepted once until they expire — each held by the database, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.storage import Conflict, Store
from gatehouse.storage.rows import (
    SamlConnectionRow,
    SamlRequestRow,
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


def _connection(environment_id: str, org_id: str, n: int) -> SamlConnectionRow:
    return {
        "id": f"saml-connection-{n}",
        "environment_id": environment_id,
        "organization_id": org_id,
        "status": "pending",
        "config": {"display_name": f"IdP {n}", "saml_connection_implicit_role_assignments": []},
        "signing_key": "fernet:sealed",
        "created_at": at(n),
        "updated_at": at(n),
    }


def _registration(
    environment_id: str, member_id: str, connection_id: str, n: int, **fields: Any
) -> SsoRegistrationRow:
    row: SsoRegistrationRow = {
        "id": f"registration-{n}",
        "environment_id": environment_id,
        "member_id": member_id,
        "connection_id": connection_id,
        "external_id": f"subject-{n}",
        "sso_attributes": {"groups": ["a"]},
        "created_at": at(n),
        "updated_at": at(n),
    }
    return {**row, **fields}  # type: ignore[typeddict-item]


def test_connections_registrations_requests_tokens_and_assertions(
    store: Store, tenant: Tenant
) -> None:
    env = tenant.environment_id
    org = organization_row(env)
    insert_organizations(store, org)
    member = member_row(env, org["id"], email="ada@example.com")
    insert_members(store, member)
    first, second = _connection(env, org["id"], 1), _connection(env, org["id"], 2)
    with store.transaction() as tx:
        store.insert_saml_connection(tx, first)
        store.insert_saml_connection(tx, second)
    with store.read() as tx:
        assert store.get_saml_connection(tx, env, first["id"]) == first
        assert store.get_saml_connection(tx, None, first["id"]) == first
        assert store.get_saml_connection(tx, tenant.other_environment_id, first["id"]) is None
        assert [c["id"] for c in store.saml_connections(tx, org["id"])] == [
            first["id"],
            second["id"],
        ]
    with store.transaction() as tx:
        store.update_saml_connection(tx, first["id"], {"status": "active", "updated_at": at(9)})
    with store.read() as tx:
        found = store.get_saml_connection(tx, env, first["id"])
        assert found is not None and found["status"] == "active"

    registration = _registration(env, member["id"], first["id"], 1)
    with store.transaction() as tx:
        store.insert_sso_registration(tx, registration)
        store.update_sso_registration(
            tx, registration["id"], {"sso_attributes": {"groups": ["b"]}, "updated_at": at(10)}
        )
    with store.read() as tx:
        assert store.find_sso_registration(tx, first["id"], "subject-1") is not None
        assert store.find_sso_registration(tx, second["id"], "subject-1") is None
        got = store.get_sso_registration(tx, registration["id"])
        assert got is not None and got["sso_attributes"] == {"groups": ["b"]}
        assert [r["id"] for r in store.sso_registrations(tx, [member["id"]])[member["id"]]] == [
            registration["id"]
        ]
        assert store.sso_registrations(tx, []) == {}

    request: SamlRequestRow = {
        "id": "_request-1",
        "environment_id": env,
        "connection_id": first["id"],
        "pkce_challenge": None,
        "login_redirect_url": "https://app.example/login",
        "signup_redirect_url": None,
        "created_at": at(1),
        "expires_at": at(600),
        "used_at": None,
    }
    token: SsoTokenRow = {
        "id": "sso-token-1",
        "environment_id": env,
        "token_hash": "digest-1",
        "member_id": member["id"],
        "registration_id": registration["id"],
        "pkce_challenge": "challenge",
        "created_at": at(1),
        "expires_at": at(600),
        "used_at": None,
    }
    with store.transaction() as tx:
        store.insert_saml_request(tx, request)
        store.insert_sso_token(tx, token)
    with store.transaction() as tx:
        assert store.find_saml_request(tx, request["id"]) == request
        assert store.use_saml_request(tx, request["id"], at(2))
        assert not store.use_saml_request(tx, request["id"], at(3))
        assert store.find_sso_token(tx, env, "digest-1") == token
        assert store.find_sso_token(tx, tenant.other_environment_id, "digest-1") is None
        assert store.use_sso_token(tx, token["id"], at(2))
        assert not store.use_sso_token(tx, token["id"], at(3))
    with store.transaction() as tx:
        assert store.remember_assertion(tx, first["id"], "_assertion-1", at(100), at(1))
        assert not store.remember_assertion(tx, first["id"], "_assertion-1", at(100), at(2))
        # The same id from another connection is another assertion.
        assert store.remember_assertion(tx, second["id"], "_assertion-1", at(100), at(2))
    with store.transaction() as tx:
        # Once expired it is forgotten (a replay is refused by its validity window then).
        assert store.remember_assertion(tx, first["id"], "_assertion-1", at(300), at(200))

    with store.transaction() as tx:
        store.delete_saml_connection(tx, first["id"])
    with store.read() as tx:
        assert store.get_saml_connection(tx, env, first["id"]) is None
        assert store.get_sso_registration(tx, registration["id"]) is None
        assert store.find_saml_request(tx, request["id"]) is None
        assert store.find_sso_token(tx, env, "digest-1") is None


def test_a_subject_or_a_member_registers_once_per_connection(store: Store, tenant: Tenant) -> None:
    env = tenant.environment_id
    org = organization_row(env)
    insert_organizations(store, org)
    ada = member_row(env, org["id"], email="ada@example.com")
    bob = member_row(env, org["id"], email="bob@example.com")
    insert_members(store, ada, bob)
    connection = _connection(env, org["id"], 1)
    with store.transaction() as tx:
        store.insert_saml_connection(tx, connection)
        store.insert_sso_registration(tx, _registration(env, ada["id"], connection["id"], 1))
    with pytest.raises(Conflict), store.transaction() as tx:
        store.insert_sso_registration(
            tx, _registration(env, bob["id"], connection["id"], 2, external_id="subject-1")
        )
    with pytest.raises(Conflict), store.transaction() as tx:
        store.insert_sso_registration(tx, _registration(env, ada["id"], connection["id"], 3))
