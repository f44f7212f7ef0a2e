"""The official `stytch` SDK against a real Gatehouse server: sessions, authorization checks on
the server and in the SDK's local `authenticate_jwt` path, and built-in endpoints called with a
member session header.

The project policy (support.PROJECT_POLICY) adds a `documents` resource with `editor` and
`viewer` roles to the defaults.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from stytch.b2b.models.organizations import UpdateRequestOptions as OrgUpdateOptions
from stytch.b2b.models.organizations_members import UpdateRequestOptions as MemberUpdateOptions
from stytch.shared.method_options import Authorization
from stytch.shared.rbac_local import RBACPermissionError, TenancyError

from tests.sdk.support import (
    AUDITOR,
    Tenant,
    check,
    email,
    new_org,
    recording_client,
    role_ids,
    sign_in,
    stytch_error,
)

# -- sessions (server-side) -------------------------------------------------------------------


def test_sessions_authenticate_without_a_check(client: Any, acme: Tenant) -> None:
    answer = client.sessions.authenticate(session_token=acme.editor.session_token)
    assert answer.verdict is None
    session = answer.member_session
    assert session.member_id == acme.editor.member_id
    assert session.member_session_id == acme.editor.member_session.member_session_id
    assert session.organization_id == acme.org_id
    assert set(session.roles) == {"stytch_member", "editor", "viewer"}
    assert answer.member.member_id == acme.editor.member_id
    assert answer.organization.organization_id == acme.org_id
    assert answer.session_token == acme.editor.session_token
    assert answer.session_jwt


@pytest.mark.parametrize(
    "who, resource_id, action, granting",
    [
        ("editor", "documents", "write", ["editor"]),
        ("editor", "documents", "read", ["editor", "viewer"]),
        ("admin", "stytch.member", "create", ["stytch_admin"]),
        ("admin", "stytch.organization", "update.info.name", ["stytch_admin"]),
        ("plain", "stytch.self", "update.info.name", ["stytch_member"]),
    ],
)
def test_an_allowed_check_names_the_granting_roles(
    client: Any, acme: Tenant, who: str, resource_id: str, action: str, granting: list[str]
) -> None:
    token = getattr(acme, who).session_token
    answer = client.sessions.authenticate(
        session_token=token, authorization_check=check(acme.org_id, resource_id, action)
    )
    assert answer.verdict.authorized
    assert sorted(answer.verdict.granting_roles) == granting


@pytest.mark.parametrize(
    "who, resource_id, action",
    [
        ("plain", "documents", "read"),
        ("editor", "documents", "delete"),
        ("editor", "stytch.member", "create"),
        ("admin", "documents", "read"),
        ("plain", "stytch.self", "delete"),
    ],
)
def test_a_denied_check_is_403(
    client: Any, acme: Tenant, who: str, resource_id: str, action: str
) -> None:
    token = getattr(acme, who).session_token
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(
            session_token=token, authorization_check=check(acme.org_id, resource_id, action)
        )


# The outsider is stytch_admin of its own organization: its roles would grant the first check and
# not the second; either way the answer is a tenancy error, never a plain denial.
TENANCY_CHECKS = [("stytch.member", "create"), ("documents", "read")]


@pytest.mark.parametrize("resource_id, action", TENANCY_CHECKS)
def test_a_check_in_another_organization_is_a_tenancy_error(
    client: Any, acme: Tenant, resource_id: str, action: str
) -> None:
    with stytch_error(403, "session_authorization_tenancy_error"):
        client.sessions.authenticate(
            session_token=acme.outsider.session_token,
            authorization_check=check(acme.org_id, resource_id, action),
        )


def test_sessions_get_lists_the_members_live_sessions(client: Any) -> None:
    org_id = new_org(client).organization_id
    address = email()
    first = sign_in(client, org_id, address)
    second = sign_in(client, org_id, address)
    ids = {first.member_session.member_session_id, second.member_session.member_session_id}

    listed = client.sessions.get(organization_id=org_id, member_id=first.member_id).member_sessions
    assert {s.member_session_id for s in listed} == ids
    client.sessions.revoke(member_session_id=first.member_session.member_session_id)
    listed = client.sessions.get(organization_id=org_id, member_id=first.member_id).member_sessions
    assert [s.member_session_id for s in listed] == [second.member_session.member_session_id]


@pytest.mark.parametrize("by", ["member_session_id", "session_token", "session_jwt", "member_id"])
def test_a_revoked_session_no_longer_authenticates(client: Any, by: str) -> None:
    org_id = new_org(client).organization_id
    signed_in = sign_in(client, org_id, email())
    ident = {
        "member_session_id": signed_in.member_session.member_session_id,
        "session_token": signed_in.session_token,
        "session_jwt": signed_in.session_jwt,
        "member_id": signed_in.member_id,
    }[by]
    client.sessions.authenticate(session_token=signed_in.session_token)

    client.sessions.revoke(**{by: ident})
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_token=signed_in.session_token)
    with stytch_error(404, "session_not_found"):
        client.sessions.authenticate(session_jwt=signed_in.session_jwt)


def test_get_jwks_publishes_the_key_that_signs_session_jwts(
    client: Any, server: Any, acme: Tenant
) -> None:
    keys = client.sessions.get_jwks(server.project_id).keys
    assert keys and all((k.kty, k.alg) == ("RSA", "RS256") for k in keys)
    kid = jwt.get_unverified_header(acme.plain.session_jwt)["kid"]
    key = next(k for k in keys if k.kid == kid)
    claims = jwt.decode(
        acme.plain.session_jwt,
        jwt.PyJWK(key.model_dump()).key,
        algorithms=["RS256"],
        audience=server.project_id,
    )
    assert claims["sub"] == acme.plain.member_id
    assert claims["https://stytch.com/organization"]["organization_id"] == acme.org_id


# -- sessions.authenticate_jwt: the SDK's local path ------------------------------------------


def _paths(calls: list[tuple[str, str]]) -> set[str]:
    return {path for _, path in calls}


def test_local_jwt_without_a_check_makes_no_api_call(server: Any, acme: Tenant) -> None:
    with recording_client(server) as (local, calls):
        answer = local.sessions.authenticate_jwt(acme.editor.session_jwt)
    assert answer.member_session.member_id == acme.editor.member_id
    assert answer.member_session.organization_id == acme.org_id
    assert set(answer.member_session.roles) == {"stytch_member", "editor", "viewer"}
    assert calls == []


def test_local_jwt_allows_with_only_the_policy_fetches(server: Any, acme: Tenant) -> None:
    with recording_client(server) as (local, calls):
        answer = local.sessions.authenticate_jwt(
            acme.editor.session_jwt, authorization_check=check(acme.org_id, "documents", "write")
        )
        again = local.sessions.authenticate_jwt(
            acme.editor.session_jwt, authorization_check=check(acme.org_id, "documents", "read")
        )
    assert answer.member_session.member_id == acme.editor.member_id
    assert answer.request_id == again.request_id == ""  # answered in-process
    expected = {"/v1/b2b/rbac/policy", f"/v1/b2b/rbac/organizations/{acme.org_id}"}
    assert sorted(calls) == sorted(("GET", p) for p in expected)  # fetched once, then cached


@pytest.mark.parametrize(
    "who, resource_id, action",
    [
        ("plain", "documents", "read"),
        ("editor", "documents", "delete"),
        ("admin", "documents", "write"),
    ],
)
def test_local_jwt_denies_with_rbac_permission_error(
    server: Any, acme: Tenant, who: str, resource_id: str, action: str
) -> None:
    with recording_client(server) as (local, calls):
        with pytest.raises(RBACPermissionError):
            local.sessions.authenticate_jwt(
                getattr(acme, who).session_jwt,
                authorization_check=check(acme.org_id, resource_id, action),
            )
    assert "/v1/b2b/sessions/authenticate" not in _paths(calls)


@pytest.mark.parametrize("resource_id, action", TENANCY_CHECKS)
def test_local_jwt_from_another_organization_is_a_tenancy_error(
    server: Any, acme: Tenant, resource_id: str, action: str
) -> None:
    with recording_client(server) as (local, _), pytest.raises(TenancyError):
        local.sessions.authenticate_jwt(
            acme.outsider.session_jwt, authorization_check=check(acme.org_id, resource_id, action)
        )


def test_an_org_custom_role_grants_locally_and_on_the_server(client: Any, server: Any) -> None:
    org_id = new_org(client).organization_id
    client.rbac.organizations.set_org_policy(org_id, {"roles": [AUDITOR]})
    auditor = sign_in(client, org_id, email(), ["auditor"])
    assert role_ids(auditor.member) == {"stytch_member", "auditor"}

    with recording_client(server) as (local, _):
        local.sessions.authenticate_jwt(
            auditor.session_jwt, authorization_check=check(org_id, "stytch.member", "search")
        )
        with pytest.raises(RBACPermissionError):
            local.sessions.authenticate_jwt(
                auditor.session_jwt, authorization_check=check(org_id, "documents", "write")
            )
    remote = client.sessions.authenticate(
        session_token=auditor.session_token, authorization_check=check(org_id, "documents", "read")
    )
    assert remote.verdict.granting_roles == ["auditor"]


def test_max_token_age_zero_forces_the_remote_path(client: Any, server: Any) -> None:
    org_id = new_org(client).organization_id
    signed_in = sign_in(client, org_id, email(), ["editor"])
    allowed = check(org_id, "documents", "write")

    with recording_client(server) as (local, calls):
        answer = local.sessions.authenticate_jwt(
            signed_in.session_jwt, max_token_age_seconds=0, authorization_check=allowed
        )
        assert answer.request_id  # a server answer
        assert answer.member_session.member_id == signed_in.member_id
        assert ("POST", "/v1/b2b/sessions/authenticate") in calls
        with stytch_error(403, "session_authorization_error"):  # the server decides, not the SDK
            local.sessions.authenticate_jwt(
                signed_in.session_jwt,
                max_token_age_seconds=0,
                authorization_check=check(org_id, "documents", "delete"),
            )

        client.sessions.revoke(member_session_id=signed_in.member_session.member_session_id)
        with stytch_error(404, "session_not_found"):
            local.sessions.authenticate_jwt(
                signed_in.session_jwt, max_token_age_seconds=0, authorization_check=allowed
            )
        # The local path cannot know of the revocation: the JWT stands until it expires.
        assert (
            local.sessions.authenticate_jwt(
                signed_in.session_jwt, authorization_check=allowed
            ).member_session.member_id
            == signed_in.member_id
        )


def test_a_jwt_carries_the_roles_it_was_minted_with(client: Any, server: Any) -> None:
    org_id = new_org(client).organization_id
    demoted = sign_in(client, org_id, email(), ["editor"])
    promoted = sign_in(client, org_id, email())
    members = client.organizations.members
    members.update(org_id, demoted.member_id, roles=[])
    members.update(org_id, promoted.member_id, roles=["editor"])
    write = check(org_id, "documents", "write")

    with recording_client(server) as (local, calls):
        # Local: the roles in the (older) JWTs decide, with no server round trip for the check.
        local.sessions.authenticate_jwt(demoted.session_jwt, authorization_check=write)
        with pytest.raises(RBACPermissionError):
            local.sessions.authenticate_jwt(promoted.session_jwt, authorization_check=write)
        assert "/v1/b2b/sessions/authenticate" not in _paths(calls)

    # The server uses the roles as they are now.
    with stytch_error(403, "session_authorization_error"):
        client.sessions.authenticate(session_jwt=demoted.session_jwt, authorization_check=write)
    fresh = client.sessions.authenticate(
        session_jwt=promoted.session_jwt, authorization_check=write
    )
    assert fresh.verdict.granting_roles == ["editor"]
    # ... and the JWT it mints now carries the new roles.
    with recording_client(server) as (local, _):
        local.sessions.authenticate_jwt(fresh.session_jwt, authorization_check=write)


# -- built-in endpoints called with a member session header -----------------------------------


def as_member(options: type, signed_in: Any, *, jwt_header: bool = False) -> Any:
    auth = (
        Authorization(session_jwt=signed_in.session_jwt)
        if jwt_header
        else Authorization(session_token=signed_in.session_token)
    )
    return options(authorization=auth)


def test_member_update_with_a_session_header_is_enforced(
    client: Any, server: Any, acme: Tenant
) -> None:
    org_id, admin, plain = acme.org_id, acme.admin, acme.plain
    members = client.organizations.members

    def name_of(member_id: str) -> str:
        return members.get(org_id, member_id=member_id).member.name

    # Self-service through stytch.self (stytch_member), with the token header and the JWT header.
    members.update(
        org_id,
        plain.member_id,
        name="Plain Self",
        method_options=as_member(MemberUpdateOptions, plain),
    )
    assert name_of(plain.member_id) == "Plain Self"
    members.update(
        org_id,
        plain.member_id,
        name="Plain Jwt",
        method_options=as_member(MemberUpdateOptions, plain, jwt_header=True),
    )
    assert name_of(plain.member_id) == "Plain Jwt"

    before = server.snapshot()
    refused = [
        (admin.member_id, {"name": "Hijacked"}, plain),  # another member: needs stytch.member
        (plain.member_id, {"roles": ["stytch_admin"]}, plain),  # roles has no self action
        (plain.member_id, {"trusted_metadata": {"x": 1}}, admin),  # never with a session
    ]
    for target, fields, actor in refused:
        with stytch_error(403, "session_authorization_error"):
            members.update(
                org_id, target, **fields, method_options=as_member(MemberUpdateOptions, actor)
            )
    assert server.snapshot() == before

    newcomer = members.create(org_id, email_address=email()).member
    members.update(
        org_id,
        newcomer.member_id,
        roles=["editor"],
        name="Promoted",
        method_options=as_member(MemberUpdateOptions, admin),
    )
    got = members.get(org_id, member_id=newcomer.member_id).member
    assert (got.name, role_ids(got)) == ("Promoted", {"stytch_member", "editor"})


def test_organization_update_with_a_session_header_is_enforced(
    client: Any, server: Any, acme: Tenant
) -> None:
    org_id = acme.org_id
    update = client.organizations.update

    before = server.snapshot()
    with stytch_error(403, "session_authorization_error"):
        update(
            org_id,
            organization_name="Plain's Org",
            method_options=as_member(OrgUpdateOptions, acme.plain),
        )
    with stytch_error(403, "session_authorization_tenancy_error"):
        update(
            org_id,
            organization_name="Taken Over",
            method_options=as_member(OrgUpdateOptions, acme.outsider),
        )
    with stytch_error(403, "session_authorization_error"):  # never with a session header
        update(
            org_id,
            trusted_metadata={"plan": "free"},
            method_options=as_member(OrgUpdateOptions, acme.admin),
        )
    assert server.snapshot() == before

    update(
        org_id,
        organization_name="Admin's Org",
        mfa_policy="REQUIRED_FOR_ALL",
        method_options=as_member(OrgUpdateOptions, acme.admin, jwt_header=True),
    )
    got = client.organizations.get(org_id).organization
    assert (got.organization_name, got.mfa_policy) == ("Admin's Org", "REQUIRED_FOR_ALL")
