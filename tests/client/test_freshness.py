"""How policy changes reach a running client: by polling (push off, or the stream down) and by
the push stream (`GET /v1/b2b/gatehouse/changes`). Changes are made over HTTP: the project policy
through the Management API, an organization's roles through the official SDK. Every wait is
bounded; none asserts how long anything took, and the backoff is shown on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from gatehouse.client import AsyncClient, Client
from tests.client.conftest import MakeClient, Recorded
from tests.client.fake_time import FakeClock, with_clock
from tests.client.world import AUDITOR, POLICY, World, set_policy_over_http
from tests.server import RunningServer

WAIT_SECONDS = 15.0
_revision = iter(range(1, 1_000_000))


def served_version(server: RunningServer) -> int:
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        return int(http.get("/v1/b2b/gatehouse/policy").json()["policy_version"])


def change_project_policy(server: RunningServer, editor_actions: list[str]) -> int:
    """Give `editor` exactly `editor_actions` on documents (and a fresh description, so that
    every call is a change); returns the new version."""
    roles = [
        {
            **role,
            "description": f"revision {next(_revision)}",
            "permissions": [{"resource_id": "documents", "actions": editor_actions}],
        }
        if role["role_id"] == "editor"
        else role
        for role in POLICY["custom_roles"]
    ]
    set_policy_over_http(server, {**POLICY, "custom_roles": roles})
    return served_version(server)


def change_auditor(world: World, documents_actions: list[str]) -> None:
    auditor = {
        **AUDITOR,
        "permissions": [{"resource_id": "documents", "actions": documents_actions}],
    }
    world.sdk.rbac.organizations.set_org_policy(world.org_id, {"roles": [auditor]})


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_SECONDS} s"
        time.sleep(0.02)


def may(client: Client, world: World, who: str, action: str) -> bool:
    return client.is_authorized(world.members[who].session_jwt, world.org_id, "documents", action)


# -- polling ----------------------------------------------------------------------------------


def test_polling_picks_up_a_project_policy_change(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, _ = make_client(push=False, poll_seconds=0.2)
    current = served_version(server)
    assert client.wait_for_policy_version(current, WAIT_SECONDS)
    assert not may(client, world, "editor", "delete")

    version = change_project_policy(server, ["read", "write", "delete"])
    assert version == current + 1
    assert client.wait_for_policy_version(version, WAIT_SECONDS)
    assert client.policy_version == version
    assert may(client, world, "editor", "delete")
    change_project_policy(server, ["read", "write"])


def test_polling_refreshes_an_organizations_roles_by_age(
    make_client: MakeClient, world: World
) -> None:
    client, _ = make_client(push=False, poll_seconds=0.2)
    assert not may(client, world, "auditor", "write")
    change_auditor(world, ["read", "write"])
    try:
        eventually(lambda: may(client, world, "auditor", "write"), "the org policy refresh")
    finally:
        change_auditor(world, ["read"])


def test_wait_for_policy_version_is_bounded(server: RunningServer, make_client: MakeClient) -> None:
    client, _ = make_client(push=False, poll_seconds=3600)
    assert not client.wait_for_policy_version(served_version(server) + 1, 0.2)


# -- push -------------------------------------------------------------------------------------


def test_push_delivers_a_project_policy_change(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client(push=True, poll_seconds=3600)
    current = served_version(server)
    assert client.wait_for_policy_version(current, WAIT_SECONDS)  # the stream said `ready`
    assert not may(client, world, "editor", "delete")

    version = change_project_policy(server, ["read", "write", "delete"])
    assert client.wait_for_policy_version(version, WAIT_SECONDS)
    assert may(client, world, "editor", "delete")
    version = change_project_policy(server, ["read", "write"])
    assert client.wait_for_policy_version(version, WAIT_SECONDS)
    assert not may(client, world, "editor", "delete")
    assert recorded.paths("/v1/b2b/gatehouse/changes") == ["/v1/b2b/gatehouse/changes"]


def test_push_delivers_an_organization_policy_change(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client(push=True, poll_seconds=3600)
    assert client.wait_for_policy_version(served_version(server), WAIT_SECONDS)
    assert not may(client, world, "auditor", "write")  # now cached, and never aged out
    org_path = f"/v1/b2b/rbac/organizations/{world.org_id}"
    fetched = len(recorded.paths(org_path))

    change_auditor(world, ["read", "write"])
    try:
        eventually(lambda: may(client, world, "auditor", "write"), "the pushed org change")
        assert len(recorded.paths(org_path)) > fetched
    finally:
        change_auditor(world, ["read"])
    eventually(lambda: not may(client, world, "auditor", "write"), "the pushed revert")


def test_the_async_client_follows_the_push_stream_too(server: RunningServer, world: World) -> None:
    async def scenario() -> None:
        async with AsyncClient(
            server.project_id, server.secret, server.url, poll_seconds=3600
        ) as client:
            assert await client.wait_for_policy_version(served_version(server), WAIT_SECONDS)
            jwt = world.members["editor"].session_jwt
            assert not await client.is_authorized(jwt, world.org_id, "documents", "delete")
            version = await asyncio.to_thread(
                change_project_policy, server, ["read", "write", "delete"]
            )
            assert await client.wait_for_policy_version(version, WAIT_SECONDS)
            assert await client.is_authorized(jwt, world.org_id, "documents", "delete")
            await asyncio.to_thread(change_project_policy, server, ["read", "write"])

    asyncio.run(scenario())


# -- the background thread --------------------------------------------------------------------


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gatehouse-client"]


@pytest.mark.parametrize("push", [True, False])
def test_close_stops_the_background_thread(server: RunningServer, push: bool) -> None:
    before = set(_workers())
    client = Client(server.project_id, server.secret, server.url, push=push, poll_seconds=0.2)
    assert client.wait_for_policy_version(served_version(server), WAIT_SECONDS)
    (worker,) = set(_workers()) - before
    assert worker.daemon
    client.close()
    assert not worker.is_alive()
    client.close()  # idempotent


def test_an_unreachable_server_is_retried_with_backoff_not_in_a_loop() -> None:
    """A minute of fake time against a port nothing listens on (the connections are real)."""
    clock = FakeClock()
    recorded = Recorded(clock)
    client = with_clock(Client, clock)(
        "project-test-x",
        "secret-test-x",
        "http://127.0.0.1:9",
        push=True,
        poll_seconds=3600,
        http=recorded.http,
        timeout=2,
    )
    try:
        clock.run_until(60.0)
    finally:
        client.close()
        recorded.http.close()
    attempts = recorded.times_of("/v1/b2b/gatehouse/changes")
    # Backoff from 0.1 s, doubling up to 5 s: 4 stream attempts in the first second, 17 in all.
    assert len([t for t in attempts if t < 1.0]) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2] + [5.0] * 10)
    assert recorded.times_of("/v1/b2b/gatehouse/policy") == [0.0]  # one poll, at the start
