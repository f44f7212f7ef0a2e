"""`AsyncClient`: the same verdicts, errors and freshness as `Client`, on an event loop
(`asyncio.run` inside plain tests; the project adds no pytest plugin for this)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest

from gatehouse.client import AsyncClient, Client, InvalidSessionJWT, ServerError, TenancyError
from tests.client.world import PAIRS, World, server_verdict, set_policy_over_http
from tests.client.world import POLICY as WORLD_POLICY
from tests.server import RunningServer

WAIT_SECONDS = 15.0


def run(
    server: RunningServer, scenario: Callable[[AsyncClient], Awaitable[Any]], **options: Any
) -> Any:
    async def main() -> Any:
        settings: dict[str, Any] = {"push": False, "poll_seconds": 3600.0, **options}
        async with AsyncClient(server.project_id, server.secret, server.url, **settings) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_every_async_verdict_equals_the_servers(server: RunningServer, world: World) -> None:
    expected = {
        (who, r, a): server_verdict(world.sdk, world.members[who].session_token, world.org_id, r, a)
        for who, r, a in world.cases()
    }

    async def scenario(client: AsyncClient) -> dict[tuple[str, str, str], bool]:
        return {
            (who, r, a): await client.is_authorized(
                world.members[who].session_jwt, world.org_id, r, a
            )
            for who, r, a in world.cases()
        }

    assert run(server, scenario) == expected


def test_async_batches_decisions_and_permissions_agree_with_the_sync_client(
    server: RunningServer, world: World
) -> None:
    with Client(
        server.project_id, server.secret, server.url, push=False, poll_seconds=3600
    ) as sync:
        expected = {
            who: (
                sync.check_batch(m.session_jwt, world.org_id, PAIRS),
                [sync.authorize(m.session_jwt, world.org_id, r, a) for r, a in PAIRS],
                sync.permissions(m.session_jwt, world.org_id),
            )
            for who, m in world.members.items()
        }

    async def scenario(client: AsyncClient) -> dict[str, Any]:
        out = {}
        for who, m in world.members.items():
            session = await client.verify_jwt(m.session_jwt)
            batch = await client.check_batch(session, world.org_id, PAIRS)
            assert (
                await client.remote_check_batch(world.org_id, PAIRS, session_token=m.session_token)
                == batch
            )
            out[who] = (
                batch,
                [await client.authorize(m.session_jwt, world.org_id, r, a) for r, a in PAIRS],
                await client.permissions(session, world.org_id),
            )
        return out

    assert run(server, scenario) == expected


def test_async_errors(server: RunningServer, world: World) -> None:
    real = world.members["plain"].session_jwt
    claims = jwt.decode(real, options={"verify_signature": False})
    expired = server.gatehouse.keys.sign(
        server.project_id,
        {
            **claims,
            "iat": int(time.time()) - 600,
            "nbf": int(time.time()) - 600,
            "exp": int(time.time()) - 60,
        },
    )
    wrong_audience = server.gatehouse.keys.sign(
        server.project_id, {**claims, "aud": ["project-test-elsewhere"]}
    )

    async def scenario(client: AsyncClient) -> None:
        for token, reason in [
            (expired, "expired"),
            (wrong_audience, "audience"),
            ("not-a-jwt", "malformed"),
        ]:
            with pytest.raises(InvalidSessionJWT, match=reason):
                await client.verify_jwt(token)
        with pytest.raises(InvalidSessionJWT, match="older than"):
            await client.verify_jwt(real, max_token_age_seconds=0)
        with pytest.raises(TenancyError):
            await client.is_authorized(
                world.outsider.session_jwt, world.org_id, "documents", "read"
            )
        with pytest.raises(TenancyError):
            await client.remote_check_batch(
                world.org_id, PAIRS, session_jwt=world.outsider.session_jwt
            )

    run(server, scenario)


def test_an_unreachable_server_is_a_server_error_async(world: World) -> None:
    async def main() -> None:
        async with AsyncClient(
            "project-test-x",
            "secret-test-x",
            "http://127.0.0.1:9",
            push=False,
            poll_seconds=3600,
            timeout=2,
        ) as client:
            with pytest.raises(ServerError, match="could not fetch the jwks"):
                await client.verify_jwt(world.members["admin"].session_jwt)

    asyncio.run(main())


def test_async_polling_picks_up_a_policy_change(server: RunningServer, world: World) -> None:
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        current = http.get("/v1/b2b/gatehouse/policy").json()["policy_version"]
    reviewer = {
        "role_id": "async-reviewer",
        "description": "Reviews",
        "permissions": [{"resource_id": "documents", "actions": ["read"]}],
    }

    async def scenario(client: AsyncClient) -> None:
        assert await client.wait_for_policy_version(current, WAIT_SECONDS)
        await asyncio.to_thread(
            set_policy_over_http,
            server,
            {**WORLD_POLICY, "custom_roles": [*WORLD_POLICY["custom_roles"], reviewer]},
        )
        assert await client.wait_for_policy_version(current + 1, WAIT_SECONDS)
        assert client.policy_version == current + 1
        assert not await client.wait_for_policy_version(current + 2, 0.2)  # bounded

    run(server, scenario, poll_seconds=0.2)
