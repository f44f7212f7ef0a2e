"""The official `stytch` SDK against a real Gatehouse server: RBAC policies, organizations,
members, passwords and role assignment, asserting what a developer using the SDK would notice
(returned fields, changes that persist when read back through another call, the errors the SDK
raises). Sessions and authorization checks are in test_b2b_sdk_sessions.py.

The project policy (support.PROJECT_POLICY) adds a `documents` resource with `editor` and
`viewer` roles to the defaults.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from argon2 import PasswordHasher, Type, low_level

from tests.sdk.support import (
    AUDITOR,
    PASSWORD,
    WRONG_PASSWORD,
    bcrypt_hash,
    check,
    email,
    new_org,
    role_ids,
    sign_in,
    stytch_error,
    unique,
)

# The seed's default resources (docs/spec/seeds/rbac-resources-and-roles.txt), verbatim.
SEED_ACTIONS = {
    "stytch.organization": [
        "update.info.name",
        "update.info.slug",
        "update.info.untrusted_metadata",
        "update.info.email_jit_provisioning",
        "update.info.logo_url",
        "update.info.email_invites",
        "update.info.allowed_domains",
        "update.info.default_sso_connection",
        "update.info.sso_jit_provisioning",
        "update.info.mfa_policy",
        "update.info.implicit_roles",
        "delete",
    ],
    "stytch.member": [
        "create",
        "update.info.name",
        "update.info.untrusted_metadata",
        "update.info.mfa-phone",
        "update.info.delete.mfa-phone",
        "update.settings.is-breakglass",
        "update.settings.mfa_enrolled",
        "update.settings.roles",
        "search",
        "delete",
    ],
    "stytch.sso": ["create", "update", "delete"],
    "stytch.self": [
        "update.info.name",
        "update.info.untrusted_metadata",
        "update.info.mfa-phone",
        "update.info.delete.mfa-phone",
        "update.info.delete.password",
        "update.settings.mfa_enrolled",
        "delete",
    ],
}

# -- rbac -------------------------------------------------------------------------------------


def test_rbac_policy_lists_the_seed_defaults_and_the_custom_policy(client: Any) -> None:
    policy = client.rbac.policy().policy
    resources = {r.resource_id: r.actions for r in policy.resources}
    for resource_id, actions in SEED_ACTIONS.items():
        assert sorted(resources[resource_id]) == sorted(actions), resource_id
    assert resources["documents"] == ["read", "write", "delete"]

    roles = {
        r.role_id: {p.resource_id: sorted(p.actions) for p in r.permissions} for r in policy.roles
    }
    assert [r.role_id for r in policy.roles][:2] == ["stytch_member", "stytch_admin"]
    member_actions = [
        a for a in SEED_ACTIONS["stytch.self"] if a not in ("delete", "update.info.delete.password")
    ]
    assert roles["stytch_member"] == {"stytch.self": sorted(member_actions)}
    assert roles["stytch_admin"] == {
        "stytch.organization": ["*"],
        "stytch.member": ["*"],
        "stytch.sso": ["*"],
    }
    assert roles["editor"] == {"documents": ["read", "write"]}
    assert roles["viewer"] == {"documents": ["read"]}


def test_a_new_organization_has_an_empty_org_policy(client: Any) -> None:
    org = new_org(client)
    assert client.rbac.organizations.get_org_policy(org.organization_id).org_policy.roles == []


def test_set_org_policy_adds_a_custom_role_that_reads_back(client: Any) -> None:
    org = new_org(client)
    answer = client.rbac.organizations.set_org_policy(org.organization_id, {"roles": [AUDITOR]})
    assert [r.model_dump() for r in answer.org_policy.roles] == [AUDITOR]

    by_slug = client.rbac.organizations.get_org_policy(org.organization_slug).org_policy
    assert [r.model_dump() for r in by_slug.roles] == [AUDITOR]
    custom_roles = client.organizations.get(org.organization_id).organization.custom_roles
    assert [r.model_dump() for r in custom_roles] == [AUDITOR]


def _role(role_id: str, *permissions: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "role_id": role_id,
        "description": "",
        "permissions": [{"resource_id": r, "actions": a} for r, a in permissions],
    }


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param([_role("billing", ("invoices", ["read"]))], id="unknown-resource"),
        pytest.param([_role("publisher", ("documents", ["publish"]))], id="undeclared-action"),
        pytest.param([_role("editor", ("documents", ["read"]))], id="project-role-id"),
        pytest.param([_role("stytch_admin", ("documents", ["read"]))], id="default-role-id"),
        pytest.param([_role("dup", ("documents", ["read"]))] * 2, id="duplicate-role-id"),
        pytest.param([_role("mixed", ("documents", ["*", "read"]))], id="wildcard-not-alone"),
        pytest.param([_role("idle", ("documents", []))], id="no-actions"),
    ],
)
def test_an_invalid_org_policy_is_refused_and_changes_nothing(
    client: Any, server: Any, roles: list[dict[str, Any]]
) -> None:
    org = new_org(client)
    client.rbac.organizations.set_org_policy(org.organization_id, {"roles": [AUDITOR]})
    before = server.snapshot()

    with stytch_error(400, "invalid_policy"):
        client.rbac.organizations.set_org_policy(org.organization_id, {"roles": roles})

    kept = client.rbac.organizations.get_org_policy(org.organization_id).org_policy
    assert [r.model_dump() for r in kept.roles] == [AUDITOR]
    assert server.snapshot() == before


# -- organizations ----------------------------------------------------------------------------


def test_create_returns_the_organization_and_get_finds_it_by_id_slug_and_external_id(
    client: Any,
) -> None:
    slug, external_id = unique("acme"), unique("crm")
    created = client.organizations.create(
        organization_name="Acme Rockets",
        organization_slug=slug,
        organization_external_id=external_id,
        trusted_metadata={"plan": "enterprise"},
        email_allowed_domains=["acme.test"],
        mfa_policy="REQUIRED_FOR_ALL",
    ).organization
    assert (created.organization_name, created.organization_slug) == ("Acme Rockets", slug)
    assert created.organization_external_id == external_id
    assert created.trusted_metadata == {"plan": "enterprise"}
    assert created.email_allowed_domains == ["acme.test"]
    assert created.mfa_policy == "REQUIRED_FOR_ALL"
    assert created.custom_roles == []

    for ident in (created.organization_id, slug, external_id):
        got = client.organizations.get(ident).organization
        assert got.organization_id == created.organization_id, ident
        assert got.organization_name == "Acme Rockets"


def test_organization_update_persists(client: Any) -> None:
    org = new_org(client, organization_external_id=unique("ext"))
    new_slug = unique("renamed")
    updated = client.organizations.update(
        org.organization_id,
        organization_name="Renamed Inc",
        organization_slug=new_slug,
        trusted_metadata={"tier": 2},
        email_allowed_domains=["renamed.test"],
        mfa_policy="REQUIRED_FOR_ALL",
    ).organization
    assert updated.organization_name == "Renamed Inc"

    got = client.organizations.get(new_slug).organization
    assert got.organization_id == org.organization_id
    assert (got.organization_name, got.organization_slug) == ("Renamed Inc", new_slug)
    assert got.trusted_metadata == {"tier": 2}
    assert got.email_allowed_domains == ["renamed.test"]
    assert got.mfa_policy == "REQUIRED_FOR_ALL"
    assert got.organization_external_id == org.organization_external_id  # untouched


def test_organization_delete(client: Any) -> None:
    org = new_org(client)
    assert client.organizations.delete(org.organization_id).organization_id == org.organization_id
    with stytch_error(404, "organization_not_found"):
        client.organizations.get(org.organization_id)
    query = {
        "operator": "AND",
        "operands": [{"filter_name": "organization_ids", "filter_value": [org.organization_id]}],
    }
    assert client.organizations.search(query=query).organizations == []


def test_organization_search_filters_and_pages_with_a_cursor(client: Any) -> None:
    tag = unique("searchable")
    created = {
        new_org(client, organization_external_id=unique("e")).organization_id for _ in range(5)
    }
    for org_id in created:
        client.organizations.update(org_id, organization_name=f"{tag} {org_id[-6:]}")
    fuzzy = {
        "operator": "AND",
        "operands": [{"filter_name": "organization_name_fuzzy", "filter_value": tag}],
    }

    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        page = client.organizations.search(query=fuzzy, limit=2, cursor=cursor or None)
        pages += 1
        assert page.results_metadata.total == 5
        assert len(page.organizations) <= 2
        seen += [o.organization_id for o in page.organizations]
        cursor = page.results_metadata.next_cursor
        if not cursor:
            break
    assert pages == 3
    assert sorted(seen) == sorted(created)  # each organization exactly once

    one = next(iter(created))
    slug = client.organizations.get(one).organization.organization_slug
    both = {
        "operator": "AND",
        "operands": [
            *fuzzy["operands"],
            {"filter_name": "organization_slugs", "filter_value": [slug]},
        ],
    }
    assert [o.organization_id for o in client.organizations.search(query=both).organizations] == [
        one
    ]


# -- members ----------------------------------------------------------------------------------


def test_member_create_and_get_by_member_id_and_by_email(client: Any) -> None:
    org_id = new_org(client).organization_id
    address, external_id = email(), unique("emp")
    created = client.organizations.members.create(
        org_id,
        email_address=address,
        name="Ada Lovelace",
        untrusted_metadata={"theme": "dark"},
        trusted_metadata={"employee": 7},
        mfa_phone_number="+14155550123",
        roles=["viewer"],
        external_id=external_id,
    )
    member = created.member
    assert created.member_id == member.member_id
    assert (member.email_address, member.name, member.status) == (address, "Ada Lovelace", "active")
    assert member.untrusted_metadata == {"theme": "dark"}
    assert member.trusted_metadata == {"employee": 7}
    assert member.mfa_phone_number == "+14155550123"
    assert member.external_id == external_id
    assert role_ids(member) == {"stytch_member", "viewer"}
    assert created.organization.organization_id == org_id

    for lookup in ({"member_id": member.member_id}, {"email_address": address}):
        got = client.organizations.members.get(org_id, **lookup).member
        assert (got.member_id, got.name, got.email_address) == (
            member.member_id,
            "Ada Lovelace",
            address,
        )
        assert role_ids(got) == {"stytch_member", "viewer"}


def test_member_update_persists(client: Any) -> None:
    org_id = new_org(client).organization_id
    member = client.organizations.members.create(org_id, email_address=email()).member
    external_id = unique("emp")
    updated = client.organizations.members.update(
        org_id,
        member.member_id,
        name="Grace Hopper",
        untrusted_metadata={"lang": "cobol"},
        mfa_phone_number="+14155550199",
        external_id=external_id,
    ).member
    assert updated.name == "Grace Hopper"

    got = client.organizations.members.get(org_id, member_id=member.member_id).member
    assert got.name == "Grace Hopper"
    assert got.untrusted_metadata == {"lang": "cobol"}
    assert got.mfa_phone_number == "+14155550199"
    assert got.external_id == external_id


def _members_query(filter_name: str, value: Any) -> dict[str, Any]:
    return {"operator": "AND", "operands": [{"filter_name": filter_name, "filter_value": value}]}


def test_member_delete_then_reactivate(client: Any) -> None:
    org_id = new_org(client).organization_id
    member = client.organizations.members.create(org_id, email_address=email()).member
    members = client.organizations.members

    assert members.delete(org_id, member.member_id).member_id == member.member_id
    with stytch_error(404, "member_not_found"):
        members.get(org_id, member_id=member.member_id)
    assert members.search([org_id]).members == []
    deleted = members.search([org_id], query=_members_query("statuses", ["deleted"])).members
    assert [(m.member_id, m.status) for m in deleted] == [(member.member_id, "deleted")]

    reactivated = members.reactivate(org_id, member.member_id).member
    assert reactivated.status == "active"
    assert members.get(org_id, member_id=member.member_id).member.status == "active"


def test_member_search_filters_and_pages_across_organizations(client: Any) -> None:
    org_id, other_id = new_org(client).organization_id, new_org(client).organization_id
    mine = [
        client.organizations.members.create(org_id, email_address=email()).member for _ in range(3)
    ]
    theirs = client.organizations.members.create(other_id, email_address=email()).member
    members = client.organizations.members

    seen: list[str] = []
    cursor = None
    while True:
        page = members.search([org_id], limit=2, cursor=cursor)
        assert page.results_metadata.total == 3
        assert set(page.organizations) == {org_id}
        seen += [m.member_id for m in page.members]
        cursor = page.results_metadata.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(m.member_id for m in mine)

    by_email = members.search(
        [org_id], query=_members_query("member_emails", [mine[1].email_address])
    )
    assert [m.member_id for m in by_email.members] == [mine[1].member_id]

    both = members.search([org_id, other_id])
    assert both.results_metadata.total == 4
    assert theirs.member_id in {m.member_id for m in both.members}
    assert set(both.organizations) == {org_id, other_id}


def test_delete_mfa_phone_number(client: Any) -> None:
    org_id = new_org(client).organization_id
    member = client.organizations.members.create(
        org_id, email_address=email(), mfa_phone_number="+14155550100"
    ).member
    answer = client.organizations.members.delete_mfa_phone_number(org_id, member.member_id)
    assert answer.member.mfa_phone_number == ""
    assert (
        client.organizations.members.get(org_id, member_id=member.member_id).member.mfa_phone_number
        == ""
    )


def test_delete_password_stops_password_sign_in(client: Any) -> None:
    org_id = new_org(client).organization_id
    address = email()
    member = sign_in(client, org_id, address).member
    assert member.member_password_id

    answer = client.organizations.members.delete_password(org_id, member.member_password_id)
    assert answer.member.member_id == member.member_id
    assert answer.member.member_password_id == ""
    assert (
        client.organizations.members.get(org_id, email_address=address).member.member_password_id
        == ""
    )
    with stytch_error(401, "unauthorized_credentials"):
        client.passwords.authenticate(
            organization_id=org_id, email_address=address, password=PASSWORD
        )


# -- passwords --------------------------------------------------------------------------------


def _bcrypt(password: str) -> dict[str, Any]:
    return {"hash": bcrypt_hash(password)}


def _argon2_phc(kind: Type) -> Any:
    def make(password: str) -> dict[str, Any]:
        hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=kind)
        return {"hash": hasher.hash(password)}

    return make


def _argon2id_raw(password: str) -> dict[str, Any]:
    config = {
        "salt": "pepper-and-salt",
        "iteration_amount": 2,
        "memory": 1024,
        "threads": 1,
        "key_length": 32,
    }
    key = low_level.hash_secret_raw(
        password.encode(),
        config["salt"].encode(),
        time_cost=2,
        memory_cost=1024,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )
    return {"hash": base64.b64encode(key).decode(), "argon_2_config": config}


def _scrypt(password: str) -> dict[str, Any]:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return {
        "hash": base64.b64encode(key).decode(),
        "scrypt_config": {
            "salt": base64.b64encode(salt).decode(),
            "n_parameter": 2**14,
            "r_parameter": 8,
            "p_parameter": 1,
            "key_length": 32,
        },
    }


@pytest.mark.parametrize(
    "hash_type, make_hash",
    [
        pytest.param("bcrypt", _bcrypt, id="bcrypt"),
        pytest.param("argon_2i", _argon2_phc(Type.I), id="argon_2i"),
        pytest.param("argon_2id", _argon2_phc(Type.ID), id="argon_2id"),
        pytest.param("argon_2id", _argon2id_raw, id="argon_2id-raw-with-config"),
        pytest.param("scrypt", _scrypt, id="scrypt"),
    ],
)
def test_a_migrated_hash_signs_in_with_its_password_only(
    client: Any, hash_type: str, make_hash: Any
) -> None:
    org_id = new_org(client).organization_id
    address = email()
    migrated = client.passwords.migrate(
        email_address=address, hash_type=hash_type, organization_id=org_id, **make_hash(PASSWORD)
    )
    assert migrated.member_created
    assert migrated.member.member_password_id

    def authenticate(password: str) -> Any:
        return client.passwords.authenticate(
            organization_id=org_id, email_address=address, password=password
        )

    with stytch_error(401, "unauthorized_credentials"):
        authenticate(WRONG_PASSWORD)
    signed_in = authenticate(PASSWORD)
    assert signed_in.member_id == migrated.member_id
    assert signed_in.member_session.member_id == migrated.member_id
    assert signed_in.session_token and signed_in.session_jwt
    session = client.sessions.authenticate(session_token=signed_in.session_token)
    assert session.member.member_id == migrated.member_id


def test_a_wrong_password_is_refused_after_the_hash_was_upgraded(client: Any) -> None:
    org_id = new_org(client).organization_id
    # The first sign-in replaces the imported bcrypt hash with Gatehouse's own argon2id hash.
    member = sign_in(client, org_id, email()).member
    with stytch_error(401, "unauthorized_credentials"):
        client.passwords.authenticate(
            organization_id=org_id, email_address=member.email_address, password=WRONG_PASSWORD
        )


def test_migrating_onto_an_existing_member_keeps_it(client: Any) -> None:
    org_id = new_org(client).organization_id
    member = client.organizations.members.create(org_id, email_address=email()).member
    migrated = client.passwords.migrate(
        email_address=member.email_address,
        hash_type="bcrypt",
        organization_id=org_id,
        **_bcrypt(PASSWORD),
    )
    assert (migrated.member_created, migrated.member_id) == (False, member.member_id)


def test_strength_check(client: Any) -> None:
    weak = client.passwords.strength_check(password="password")
    assert not weak.valid_password
    assert weak.score < 3
    assert weak.strength_policy == "zxcvbn"
    assert weak.zxcvbn_feedback.warning or weak.zxcvbn_feedback.suggestions

    strong = client.passwords.strength_check(
        password="Quartz-Violin-92-Meadow!", email_address="ada@example.test"
    )
    assert strong.valid_password
    assert strong.score >= 3
    luds = strong.luds_feedback
    assert (luds.has_lower_case, luds.has_upper_case, luds.has_digit, luds.has_symbol) == (
        True,
    ) * 4
    assert (luds.missing_complexity, luds.missing_characters) == (0, 0)


# -- role assignment --------------------------------------------------------------------------


def test_every_member_holds_stytch_member(client: Any) -> None:
    org_id = new_org(client).organization_id
    members = client.organizations.members
    bare = members.create(org_id, email_address=email()).member
    assert [(r.role_id, [s.type for s in r.sources]) for r in bare.roles] == [
        ("stytch_member", ["direct_assignment"])
    ]
    editor = members.create(org_id, email_address=email(), roles=["editor"]).member
    assert role_ids(editor) == {"stytch_member", "editor"}
    cleared = members.update(org_id, editor.member_id, roles=[]).member
    assert role_ids(cleared) == {"stytch_member"}


def test_direct_roles_are_replaced_on_update(client: Any) -> None:
    # That checks use the new set is shown by test_a_jwt_carries_the_roles_it_was_minted_with.
    org_id = new_org(client).organization_id
    members = client.organizations.members
    member = members.create(org_id, email_address=email(), roles=["editor", "viewer"]).member
    updated = members.update(org_id, member.member_id, roles=["viewer"]).member
    assert role_ids(updated) == {"stytch_member", "viewer"}
    assert role_ids(members.get(org_id, member_id=member.member_id).member) == {
        "stytch_member",
        "viewer",
    }


def _sources(member: Any, role_id: str) -> list[dict[str, Any]]:
    role = next(r for r in member.roles if r.role_id == role_id)
    return sorted(
        ({"type": s.type, "details": s.details} for s in role.sources), key=lambda s: s["type"]
    )


def test_email_domain_implicit_roles_with_sources(client: Any) -> None:
    domain = f"{unique('acme')}.test"
    org_id = new_org(client).organization_id
    members = client.organizations.members
    early = members.create(org_id, email_address=f"early@{domain}").member
    client.organizations.update(
        org_id, rbac_email_implicit_role_assignments=[{"domain": domain, "role_id": "viewer"}]
    )
    implicit = [{"type": "email_assignment", "details": {"email_domain": domain}}]

    # A member who was there before the rule gets it too.
    got = members.get(org_id, member_id=early.member_id).member
    assert _sources(got, "viewer") == implicit

    shouting = sign_in(
        client, org_id, f"alice@{domain.upper()}"
    )  # domains match case-insensitively
    assert _sources(shouting.member, "viewer") == implicit
    answer = client.sessions.authenticate(
        session_token=shouting.session_token, authorization_check=check(org_id, "documents", "read")
    )
    assert answer.verdict.granting_roles == ["viewer"]

    both = members.create(org_id, email_address=f"carol@{domain}", roles=["viewer"]).member
    assert _sources(both, "viewer") == [{"type": "direct_assignment", "details": {}}, *implicit]

    subdomain = members.create(org_id, email_address=f"bob@eu.{domain}").member  # exact domain only
    assert role_ids(subdomain) == {"stytch_member"}


def _with_unknown_role(client: Any, org_id: str, member_id: str) -> dict[str, Any]:
    """Each way of assigning a role, given a role id that does not exist for this organization."""
    members = client.organizations.members
    return {
        "member-create": lambda r: members.create(org_id, email_address=email(), roles=[r]),
        "member-update": lambda r: members.update(org_id, member_id, roles=["editor", r]),
        "password-migrate": lambda r: client.passwords.migrate(
            email_address=email(),
            hash_type="bcrypt",
            organization_id=org_id,
            roles=[r],
            **_bcrypt(PASSWORD),
        ),
        "org-update-implicit": lambda r: client.organizations.update(
            org_id, rbac_email_implicit_role_assignments=[{"domain": "x.test", "role_id": r}]
        ),
        "org-create-implicit": lambda r: client.organizations.create(
            organization_name=unique("Org"),
            rbac_email_implicit_role_assignments=[{"domain": "x.test", "role_id": r}],
        ),
    }


@pytest.mark.parametrize(
    "how",
    [
        "member-create",
        "member-update",
        "password-migrate",
        "org-update-implicit",
        "org-create-implicit",
    ],
)
@pytest.mark.parametrize("role", ["no-such-role", "other-orgs-role"])
def test_assigning_an_unknown_role_is_refused_and_changes_nothing(
    client: Any, server: Any, how: str, role: str
) -> None:
    org_id = new_org(client).organization_id
    other_id = new_org(client).organization_id
    client.rbac.organizations.set_org_policy(
        other_id, {"roles": [{**AUDITOR, "role_id": "other-orgs-role"}]}
    )
    member = client.organizations.members.create(
        org_id, email_address=email(), roles=["viewer"]
    ).member
    assign = _with_unknown_role(client, org_id, member.member_id)[how]
    before = server.snapshot()

    with stytch_error(400, "role_not_found"):
        assign(role)

    assert server.snapshot() == before
    assert role_ids(
        client.organizations.members.get(org_id, member_id=member.member_id).member
    ) == {"stytch_member", "viewer"}
