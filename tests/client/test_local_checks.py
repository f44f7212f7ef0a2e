"""Local checks of `gatehouse.client.Client` against the server's: for every member of the shared
world and every (resource, action) of its table, the client's verdict in-process equals the
single check of the official SDK (`sessions.authenticate(..., authorization_check=...)`), and the
explanation equals the batch endpoint's."""

from __future__ import annotations

import httpx
import pytest

from gatehouse.client import Decision, ServerError, TenancyError
from gatehouse.policy import policy_from_wire
from tests.client.conftest import MakeClient
from tests.client.world import PAIRS, World, server_verdict
from tests.server import RunningServer


def test_every_local_verdict_equals_the_servers(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    for who, resource_id, action in world.cases():
        member = world.members[who]
        local = client.is_authorized(member.session_jwt, world.org_id, resource_id, action)
        remote = server_verdict(world.sdk, member.session_token, world.org_id, resource_id, action)
        assert local == remote, (who, resource_id, action)


def test_explanations_equal_the_servers(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, _ = make_client()
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        for who, member in world.members.items():
            checks = [{"resource_id": r, "action": a} for r, a in PAIRS]
            answer = http.post(
                "/v1/b2b/gatehouse/authorize",
                json={
                    "session_jwt": member.session_jwt,
                    "organization_id": world.org_id,
                    "checks": checks,
                    "explain": True,
                },
            ).json()
            for (resource_id, action), remote in zip(PAIRS, answer["decisions"], strict=True):
                local = client.authorize(member.session_jwt, world.org_id, resource_id, action)
                assert isinstance(local, Decision)
                assert (local.allowed, list(local.granting_roles), local.reason) == (
                    remote["authorized"],
                    remote["granting_roles"],
                    remote["reason"],
                ), (who, resource_id, action)


def test_batches_local_and_remote(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    for member in world.members.values():
        one_by_one = [
            client.is_authorized(member.session_jwt, world.org_id, r, a) for r, a in PAIRS
        ]
        session = client.verify_jwt(member.session_jwt)
        assert client.check_batch(session, world.org_id, PAIRS) == one_by_one
        assert client.check_batch(member.session_jwt, world.org_id, iter(PAIRS)) == one_by_one
        assert (
            client.remote_check_batch(world.org_id, PAIRS, session_jwt=member.session_jwt)
            == one_by_one
        )
        assert (
            client.remote_check_batch(world.org_id, PAIRS, session_token=member.session_token)
            == one_by_one
        )
    assert client.check_batch(session, world.org_id, []) == []
    assert client.remote_check_batch(world.org_id, [], session_jwt=member.session_jwt) == []


def test_a_remote_batch_longer_than_the_servers_limit_is_sent_in_parts(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    member = world.members["auditor"]
    pairs = PAIRS * 800  # 11,200 checks: two requests
    expected = client.check_batch(member.session_jwt, world.org_id, pairs)
    got = client.remote_check_batch(world.org_id, pairs, session_token=member.session_token)
    assert got == expected
    assert recorded.paths("/v1/b2b/gatehouse/authorize") == ["/v1/b2b/gatehouse/authorize"] * 2


def test_permissions_list_what_the_member_may_do(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, _ = make_client()
    declared = {
        r.resource_id: r.actions
        for r in policy_from_wire(world.sdk.rbac.policy().policy.model_dump()).resources
    }
    for who, member in world.members.items():
        granted = client.permissions(member.session_jwt, world.org_id)
        for resource_id, actions in declared.items():
            for action in actions:
                allowed = client.is_authorized(
                    member.session_jwt, world.org_id, resource_id, action
                )
                assert (action in granted.get(resource_id, frozenset())) == allowed, (
                    who,
                    resource_id,
                    action,
                )
    admin = client.permissions(world.members["admin"].session_jwt, world.org_id)
    assert admin["stytch.member"] == frozenset(declared["stytch.member"])  # `*`, expanded
    assert client.permissions(world.members["auditor"].session_jwt, world.org_id)["documents"] == {
        "read"
    }


def test_another_organization_is_a_tenancy_error_locally_and_remotely(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    token = world.outsider.session_jwt
    calls = [
        lambda: client.is_authorized(token, world.org_id, "stytch.member", "create"),
        lambda: client.authorize(token, world.org_id, "documents", "read"),
        lambda: client.check_batch(token, world.org_id, PAIRS),
        lambda: client.permissions(token, world.org_id),
        lambda: client.remote_check_batch(world.org_id, PAIRS, session_jwt=token),
    ]
    for call in calls:
        with pytest.raises(TenancyError, match=world.org_id):
            call()
    # Locally, refused before any organization policy is fetched.
    assert not recorded.paths("/v1/b2b/rbac/organizations/")


def test_a_warm_client_checks_without_asking_the_server(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    member = world.members["editor"]
    assert client.is_authorized(member.session_jwt, world.org_id, "documents", "write")
    before = len(recorded.calls)
    for _ in range(100):
        client.check_batch(member.session_jwt, world.org_id, PAIRS)
        client.permissions(member.session_jwt, world.org_id)
    assert len(recorded.calls) == before
    assert recorded.paths("/v1/b2b/rbac/organizations/") == [
        f"/v1/b2b/rbac/organizations/{world.org_id}"
    ]


def test_the_cached_version_is_the_servers(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, _ = make_client()
    client.is_authorized(world.members["auditor"].session_jwt, world.org_id, "documents", "read")
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        served = http.get("/v1/b2b/gatehouse/policy").json()["policy_version"]
    assert client.policy_version == served


def test_an_unknown_organization_is_a_server_error(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, _ = make_client()
    session = client.verify_jwt(world.members["plain"].session_jwt)
    # A session naming an organization the server does not know (it was deleted, say).
    ghost = "organization-test-00000000-0000-4000-8000-000000000000"
    forged = type(session)(
        session.session_id,
        session.member_id,
        ghost,
        session.roles,
        session.expires_at,
        session.claims,
    )
    with pytest.raises(ServerError) as error:
        client.is_authorized(forged, ghost, "documents", "read")
    assert (error.value.status_code, error.value.error_type) == (404, "organization_not_found")
