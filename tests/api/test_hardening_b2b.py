"""Regression tests for the B2B hardening review: one section per finding.

1. organization ids, slugs and external ids share one namespace (no identifier hijack);
2. a member session header must belong to the organization a call addresses;
3. a member's external id is accepted as `member_id`;
4. an email change clears the password and retires the old address;
5. setting an mfa phone number on a member who has one is refused;
6. `passwords.migrate` marks the email address verified;
7. `sessions.authenticate` with both a token and a JWT is refused;
8. session custom claims merge deeply.

Most drive the server through the official `stytch` SDK; the tenancy checks of endpoints the SDK
sends no session header to (rbac org policies) go over plain HTTP. Every refusal asserts its
status, its error_type and that nothing changed (`RunningServer.snapshot()`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import jwt
import pytest
from alembic import command
from sqlalchemy import insert
from stytch.b2b.models.organizations import UpdateRequestOptions as OrgUpdateOptions
from stytch.shared.method_options import Authorization

from gatehouse.storage import SqlStore, make_engine, migrate
from gatehouse.storage.database import alembic_config
from gatehouse.storage.sql import tables
from tests.api.sessions_helper import SESSION_HEADER, Api
from tests.sdk.support import (
    PASSWORD,
    bcrypt_hash,
    email,
    new_org,
    sign_in,
    stytch_error,
    unique,
)
from tests.server import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return server.b2b_client()


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    api = Api(server.url, server.project_id, server.secret)
    yield api
    api.close()


class Unchanged:
    """`with Unchanged(server): <a refused call>` asserts the database is as it was."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server

    def __enter__(self) -> None:
        self.before = self.server.snapshot()

    def __exit__(self, *exc: object) -> None:
        assert self.server.snapshot() == self.before, "a refused call changed the database"


def refused(server: RunningServer, status: int, error_type: str) -> ExitStack:
    """The SDK call in the block raises this error and changes nothing."""
    stack = ExitStack()
    stack.enter_context(Unchanged(server))
    stack.enter_context(stytch_error(status, error_type))
    return stack


def as_member(options: type, signed_in: Any) -> Any:
    return options(authorization=Authorization(session_token=signed_in.session_token))


def admin_of(client: Any, org_id: str) -> Any:
    return sign_in(client, org_id, email(), roles=["stytch_admin"])


# == 1. one namespace for organization ids, slugs and external ids ==============================


def test_a_slug_cannot_take_another_organizations_external_id(
    client: Any, server: RunningServer
) -> None:
    victim_ext = unique("victim-ext")
    victim = new_org(client, organization_external_id=victim_ext)
    attacker = new_org(client)
    admin = admin_of(client, attacker.organization_id)

    # An org admin with update.info.slug renames its slug to the victim's external id.
    with refused(server, 409, "duplicate_organization_slug"):
        client.organizations.update(
            attacker.organization_id,
            organization_slug=victim_ext,
            method_options=as_member(OrgUpdateOptions, admin),
        )
    # ... or to the victim's id; and the project secret cannot either.
    for taken in (victim.organization_id, victim_ext):
        with refused(server, 409, "duplicate_organization_slug"):
            client.organizations.update(attacker.organization_id, organization_slug=taken)
    # The external id still names the victim.
    assert client.organizations.get(victim_ext).organization.organization_id == (
        victim.organization_id
    )


def test_a_new_organization_cannot_take_another_organizations_identifier(
    client: Any, server: RunningServer
) -> None:
    victim = new_org(client, organization_external_id=unique("ext"))
    for fields, error_type in (
        ({"organization_slug": victim.organization_external_id}, "duplicate_organization_slug"),
        ({"organization_slug": victim.organization_id}, "duplicate_organization_slug"),
        (
            {
                "organization_slug": unique("free"),
                "organization_external_id": victim.organization_slug,
            },
            "duplicate_external_id",
        ),
        (
            {
                "organization_slug": unique("free"),
                "organization_external_id": victim.organization_id,
            },
            "duplicate_external_id",
        ),
    ):
        with refused(server, 409, error_type):
            client.organizations.create(organization_name="Hijacker", **fields)
    # An update of the external id to another's slug is the external id's error.
    other = new_org(client)
    with refused(server, 409, "duplicate_external_id"):
        client.organizations.update(
            other.organization_id, organization_external_id=victim.organization_slug
        )
    for ident in (
        victim.organization_id,
        victim.organization_slug,
        victim.organization_external_id,
    ):
        assert client.organizations.get(ident).organization.organization_id == (
            victim.organization_id
        )


def test_an_organization_may_hold_one_value_as_slug_and_external_id(client: Any) -> None:
    same = unique("same")
    org = new_org(client, organization_external_id=same)
    client.organizations.update(org.organization_id, organization_slug=same)
    assert client.organizations.get(same).organization.organization_id == org.organization_id
    renamed = unique("renamed")
    client.organizations.update(org.organization_id, organization_slug=renamed)
    # The external id still finds it after the slug moved on.
    assert client.organizations.get(same).organization.organization_id == org.organization_id
    assert client.organizations.get(renamed).organization.organization_id == org.organization_id


def test_the_migration_keeps_an_old_collision_with_the_older_organization(
    database_url: str,
) -> None:
    """Data written before 0006 (B's slug is A's external id, C's slug is A's id) resolves to the
    older organization, never the newer one, and an exact id always wins."""
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0005")
        now = dt.datetime.now(dt.UTC)
        env_id = f"project-test-{uuid.uuid4()}"

        def org(n: int, slug: str, external_id: str | None) -> dict[str, Any]:
            return {
                "id": f"organization-test-{uuid.uuid4()}",
                "environment_id": env_id,
                "name": f"Org {n}",
                "slug": slug,
                "external_id": external_id,
                "trusted_metadata": {},
                "settings": {},
                "custom_roles": [],
                "created_at": now + dt.timedelta(seconds=n),
                "updated_at": now + dt.timedelta(seconds=n),
            }

        a = org(1, "alpha", "shared")
        b = org(2, "shared", None)  # newer: its slug is a's external id
        c = org(3, a["id"], "gamma")  # newer: its slug is a's id
        with engine.begin() as conn:
            conn.execute(insert(tables.workspaces).values(id="w", name="W", created_at=now))
            conn.execute(
                insert(tables.projects).values(
                    id="p", workspace_id="w", name="P", created_at=now, slug="p"
                )
            )
            conn.execute(
                insert(tables.environments).values(
                    id=env_id,
                    project_id="p",
                    kind="test",
                    name="Test",
                    policy_version=1,
                    policy={},
                    created_at=now,
                    slug="test",
                )
            )
            for row in (c, b, a):  # inserted newest first: the migration orders by age
                conn.execute(insert(tables.organizations).values(**row))
        migrate(engine)
        store = SqlStore(engine)

        def found(ident: str) -> str | None:
            with store.read() as tx:
                row = store.find_organization(tx, env_id, ident)
            return None if row is None else row["id"]

        assert found("shared") == a["id"]
        assert found(a["id"]) == a["id"]
        assert found("alpha") == a["id"]
        assert found(b["id"]) == b["id"]
        assert found(c["id"]) == c["id"]
        assert found("gamma") == c["id"]
        # The newer organization can change another field without tripping over its old slug.
        with store.transaction() as tx:
            store.update_organization(tx, b["id"], {"external_id": "beta-ext"})
        assert found("beta-ext") == b["id"]
        assert found("shared") == a["id"]
    finally:
        engine.dispose()


# == 2. a session header must belong to the organization addressed ===============================


def test_a_session_header_of_another_organization_is_a_tenancy_error(
    client: Any, server: RunningServer, api: Api
) -> None:
    org = new_org(client)
    member = sign_in(client, org.organization_id, email())
    outsider_org = new_org(client)
    outsider = admin_of(client, outsider_org.organization_id)
    headers = {SESSION_HEADER: outsider.session_token}
    oid = org.organization_id
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("PUT", f"/v1/b2b/rbac/organizations/{oid}", {"org_policy": {"roles": []}}, None),
        ("GET", f"/v1/b2b/rbac/organizations/{oid}", None, None),
        ("GET", f"/v1/b2b/organizations/{oid}", None, None),
        ("GET", f"/v1/b2b/organizations/{oid}/member", None, {"member_id": member.member_id}),
        ("GET", "/v1/b2b/sessions", None, {"organization_id": oid, "member_id": member.member_id}),
        (
            "POST",
            "/v1/b2b/passwords/migrate",
            {
                "organization_id": oid,
                "email_address": email(),
                "hash": bcrypt_hash(),
                "hash_type": "bcrypt",
            },
            None,
        ),
        (
            "POST",
            "/v1/b2b/passwords/authenticate",
            {
                "organization_id": oid,
                "email_address": member.member.email_address,
                "password": PASSWORD,
            },
            None,
        ),
    ]
    for method, path, body, params in calls:
        with Unchanged(server):
            response = api.http.request(method, path, json=body, params=params, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error_type"] == "session_authorization_tenancy_error", path
    # The org policy write through the SDK's path with the right organization still works.
    assert (
        api.http.request(
            "PUT",
            f"/v1/b2b/rbac/organizations/{outsider_org.organization_id}",
            json={"org_policy": {"roles": []}},
            headers=headers,
        ).status_code
        == 200
    )


# == 3. an external id is accepted as member_id ==================================================


def test_an_external_id_names_the_member(client: Any, server: RunningServer) -> None:
    org = new_org(client)
    ext = unique("member-ext")
    created = client.organizations.members.create(
        org.organization_id, email(), external_id=ext, mfa_phone_number="+14155550100"
    ).member
    sign_in(client, org.organization_id, created.email_address)
    members = client.organizations.members
    assert members.get(org.organization_id, member_id=ext).member.member_id == created.member_id
    assert members.update(org.organization_id, ext, name="By external id").member.name == (
        "By external id"
    )
    sessions = client.sessions.get(org.organization_id, ext).member_sessions
    assert [s.member_id for s in sessions] == [created.member_id]
    cleared = members.delete_mfa_phone_number(org.organization_id, ext).member
    assert cleared.mfa_phone_number == ""
    assert members.delete(org.organization_id, ext).member_id == created.member_id
    with refused(server, 404, "member_not_found"):
        members.get(org.organization_id, member_id=ext)


# == 4. an email change clears the password and retires the old address ==========================


def test_an_email_change_clears_the_password_and_retires_the_old_address(
    client: Any, server: RunningServer
) -> None:
    org = new_org(client)
    oid = org.organization_id
    old, new = email(), email()
    member = sign_in(client, oid, old).member
    assert member.member_password_id

    updated = client.organizations.members.update(oid, member.member_id, email_address=new).member
    assert updated.email_address == new
    assert updated.email_address_verified is False
    assert updated.member_password_id == ""
    assert [(r.email_address, bool(r.email_id)) for r in updated.retired_email_addresses] == [
        (old, True)
    ]
    got = client.organizations.members.get(oid, member_id=member.member_id).member
    assert got.retired_email_addresses == updated.retired_email_addresses

    # The old password signs in at neither address.
    for address in (old, new):
        with refused(server, 401, "unauthorized_credentials"):
            client.passwords.authenticate(
                organization_id=oid, email_address=address, password=PASSWORD
            )

    # Another member cannot take the retired address: created, migrated or updated to it.
    with refused(server, 409, "duplicate_member_email"):
        client.organizations.members.create(oid, old)
    with refused(server, 409, "duplicate_member_email"):
        client.passwords.migrate(
            email_address=old, hash=bcrypt_hash(), hash_type="bcrypt", organization_id=oid
        )
    other = client.organizations.members.create(oid, email()).member
    with refused(server, 409, "duplicate_member_email"):
        client.organizations.members.update(oid, other.member_id, email_address=old.upper())

    # The member itself may go back to its old address (and the other one is retired then).
    back = client.organizations.members.update(oid, member.member_id, email_address=old).member
    assert back.email_address == old
    assert [r.email_address for r in back.retired_email_addresses] == [new]
    # A member of another organization is not affected.
    elsewhere = new_org(client)
    assert client.organizations.members.create(elsewhere.organization_id, new).member


def test_a_case_only_email_change_keeps_the_password(client: Any) -> None:
    org = new_org(client)
    address = email()
    member = sign_in(client, org.organization_id, address).member
    same = client.organizations.members.update(
        org.organization_id, member.member_id, email_address=address.upper()
    ).member
    assert same.member_password_id == member.member_password_id
    assert same.retired_email_addresses == []
    client.passwords.authenticate(
        organization_id=org.organization_id, email_address=address, password=PASSWORD
    )


# == 5. an mfa phone number is not overwritten ===================================================


def test_setting_a_phone_number_over_another_is_refused(client: Any, server: RunningServer) -> None:
    org = new_org(client)
    oid = org.organization_id
    member = client.organizations.members.create(
        oid, email(), mfa_phone_number="+14155550100"
    ).member
    with refused(server, 409, "member_phone_number_already_set"):
        client.organizations.members.update(oid, member.member_id, mfa_phone_number="+14155550111")
    # The same number is no change; after deleting it, a new one may be set.
    same = client.organizations.members.update(
        oid, member.member_id, mfa_phone_number="+14155550100"
    )
    assert same.member.mfa_phone_number == "+14155550100"
    client.organizations.members.delete_mfa_phone_number(oid, member.member_id)
    changed = client.organizations.members.update(
        oid, member.member_id, mfa_phone_number="+14155550111"
    ).member
    assert changed.mfa_phone_number == "+14155550111"


# == 6. passwords.migrate marks the email verified ===============================================


def test_migrate_marks_the_email_address_verified(client: Any) -> None:
    org = new_org(client)
    created = client.passwords.migrate(
        email_address=email(),
        hash=bcrypt_hash(),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    assert created.member_created is True
    assert created.member.email_address_verified is True
    existing = client.organizations.members.create(org.organization_id, email()).member
    assert existing.email_address_verified is False
    updated = client.passwords.migrate(
        email_address=existing.email_address,
        hash=bcrypt_hash(),
        hash_type="bcrypt",
        organization_id=org.organization_id,
    )
    assert updated.member_created is False
    assert updated.member.email_address_verified is True


# == 7. sessions.authenticate with both a token and a JWT ========================================


def test_authenticate_with_both_token_and_jwt_is_refused(
    client: Any, server: RunningServer
) -> None:
    org = new_org(client)
    signed_in = sign_in(client, org.organization_id, email())
    with refused(server, 400, "invalid_request"):
        client.sessions.authenticate(
            session_token=signed_in.session_token,
            session_jwt=signed_in.session_jwt,
            session_duration_minutes=60,
            session_custom_claims={"k": "v"},
        )
    with refused(server, 400, "invalid_request"):
        client.sessions.authenticate(
            session_token=signed_in.session_token, session_jwt=signed_in.session_jwt
        )


# == 8. session custom claims merge deeply =======================================================


def _jwt_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_custom_claims_merge_deeply(client: Any) -> None:
    org = new_org(client)
    address = email()
    signed_in = sign_in(client, org.organization_id, address)
    token = signed_in.session_token
    first = client.sessions.authenticate(
        session_token=token,
        session_custom_claims={
            "team": {"name": "blue", "size": 3, "lead": {"id": "m1", "since": 2020}},
            "tier": "gold",
        },
    )
    assert first.member_session.custom_claims["team"]["lead"] == {"id": "m1", "since": 2020}

    second = client.sessions.authenticate(
        session_token=token,
        session_custom_claims={"team": {"size": None, "lead": {"since": 2024}, "color": "navy"}},
    )
    expected = {
        "team": {"name": "blue", "lead": {"id": "m1", "since": 2024}, "color": "navy"},
        "tier": "gold",
    }
    assert second.member_session.custom_claims == expected
    claims = _jwt_claims(second.session_jwt)
    assert {k: claims[k] for k in expected} == expected

    # Read back: from the session (server side) and a JWT minted now.
    again = client.sessions.authenticate(session_token=token)
    assert again.member_session.custom_claims == expected
    assert {k: _jwt_claims(again.session_jwt)[k] for k in expected} == expected

    # A top-level null deletes the key; a scalar replaces an object.
    third = client.sessions.authenticate(
        session_token=token, session_custom_claims={"tier": None, "team": "solo"}
    )
    assert third.member_session.custom_claims == {"team": "solo"}


def test_custom_claims_at_sign_in_drop_nested_nulls_and_merge_into_a_session(
    client: Any,
) -> None:
    org = new_org(client)
    address = email()
    first = sign_in(client, org.organization_id, address)
    added = client.sessions.authenticate(
        session_token=first.session_token, session_custom_claims={"a": {"x": 1, "y": 2}}
    )
    assert added.member_session.custom_claims == {"a": {"x": 1, "y": 2}}
    again = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address=address,
        password=PASSWORD,
        session_token=first.session_token,
        session_custom_claims={"a": {"y": None, "z": 3}},
    )
    assert again.member_session.custom_claims == {"a": {"x": 1, "z": 3}}
    fresh = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address=address,
        password=PASSWORD,
        session_custom_claims={"a": {"gone": None, "kept": 1}, "b": None},
    )
    assert fresh.member_session.custom_claims == {"a": {"kept": 1}}
    assert _jwt_claims(fresh.session_jwt)["a"] == {"kept": 1}
