"""Uniqueness under concurrency: many simultaneous creates of one value, exactly one wins.

The database enforces every uniqueness rule the API promises (migration 0005 and the schema's
unique constraints), so the outcome does not depend on a service checking before it inserts: on
PostgreSQL the concurrent transactions really overlap; on SQLite they queue on the write lock.
Every loser gets the rule's own 409 error, never a 500, and the database holds one row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gatehouse.storage.sql import tables as t
from tests.server import RunningServer

RACERS = 8


def race(server: RunningServer, send: Callable[[httpx.Client, int], httpx.Response]) -> list[Any]:
    """Start `RACERS` requests at one moment (a barrier), each on its own connection."""
    barrier = threading.Barrier(RACERS, timeout=30)
    results: list[Any] = [None] * RACERS

    def run(i: int) -> None:
        with httpx.Client(
            base_url=server.url, auth=(server.project_id, server.secret), timeout=30
        ) as http:
            http.get("/healthz")  # connected before the start
            barrier.wait()
            response = send(http, i)
            results[i] = (response.status_code, response.json())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in results), results
    return results


def one_winner(results: list[Any], error_type: str) -> dict[str, Any]:
    winners = [body for status, body in results if status == 200]
    losers = [(status, body["error_type"]) for status, body in results if status != 200]
    assert len(winners) == 1, results
    assert losers == [(409, error_type)] * (RACERS - 1), results
    return winners[0]


def new_org(server: RunningServer) -> str:
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        name = f"Race-{uuid.uuid4().hex[:10]}"
        response = http.post("/v1/b2b/organizations", json={"organization_name": name})
        assert response.status_code == 200, response.text
        return str(response.json()["organization"]["organization_id"])


def count(server: RunningServer, table: Any, *where: Any) -> int:
    with server.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_one_of_many_simultaneous_member_creates_with_one_email_wins(
    server: RunningServer,
) -> None:
    org_id = new_org(server)
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"

    def create(http: httpx.Client, i: int) -> httpx.Response:
        # Differently cased: the rule is on the address, not the spelling.
        address = email.upper() if i % 2 else email
        return http.post(
            f"/v1/b2b/organizations/{org_id}/members",
            json={"email_address": address, "name": f"racer {i}"},
        )

    one_winner(race(server, create), "duplicate_member_email")
    m = t.members
    assert count(server, m, m.c.organization_id == org_id, m.c.status != "deleted") == 1


def test_one_of_many_simultaneous_member_creates_with_one_external_id_wins(
    server: RunningServer,
) -> None:
    org_id = new_org(server)
    external_id = f"ext-{uuid.uuid4().hex[:8]}"

    def create(http: httpx.Client, i: int) -> httpx.Response:
        return http.post(
            f"/v1/b2b/organizations/{org_id}/members",
            json={"email_address": f"racer-{i}@example.com", "external_id": external_id},
        )

    one_winner(race(server, create), "duplicate_external_id")
    m = t.members
    assert count(server, m, m.c.organization_id == org_id) == 1


def test_one_of_many_simultaneous_email_changes_to_one_address_wins(
    server: RunningServer,
) -> None:
    org_id = new_org(server)
    ids = []
    with httpx.Client(base_url=server.url, auth=(server.project_id, server.secret)) as http:
        for i in range(RACERS):
            response = http.post(
                f"/v1/b2b/organizations/{org_id}/members",
                json={"email_address": f"before-{i}@example.com"},
            )
            ids.append(response.json()["member_id"])
    target = f"taken-{uuid.uuid4().hex[:8]}@example.com"

    def update(http: httpx.Client, i: int) -> httpx.Response:
        return http.put(
            f"/v1/b2b/organizations/{org_id}/members/{ids[i]}", json={"email_address": target}
        )

    one_winner(race(server, update), "duplicate_member_email")
    m = t.members
    assert count(server, m, m.c.organization_id == org_id, m.c.email_lower == target) == 1


@pytest.mark.parametrize(
    ("field", "error_type"),
    [
        ("organization_slug", "duplicate_organization_slug"),
        ("organization_external_id", "duplicate_external_id"),
    ],
)
def test_one_of_many_simultaneous_organization_creates_with_one_identifier_wins(
    server: RunningServer, field: str, error_type: str
) -> None:
    value = f"race-{uuid.uuid4().hex[:8]}"

    def create(http: httpx.Client, i: int) -> httpx.Response:
        return http.post(
            "/v1/b2b/organizations", json={"organization_name": f"Racer {i}", field: value}
        )

    one_winner(race(server, create), error_type)
    o = t.organizations
    column = o.c.slug if field == "organization_slug" else o.c.external_id
    assert count(server, o, column == value) == 1


def test_simultaneous_creates_of_one_name_all_get_their_own_slug(server: RunningServer) -> None:
    """No slug asked for: the one made from the name is taken by one, the others get a suffix."""
    name = f"Same name {uuid.uuid4().hex[:6]}"

    def create(http: httpx.Client, i: int) -> httpx.Response:
        return http.post("/v1/b2b/organizations", json={"organization_name": name})

    results = race(server, create)
    assert [status for status, _ in results] == [200] * RACERS, results
    slugs = {body["organization"]["organization_slug"] for _, body in results}
    assert len(slugs) == RACERS
    assert name.lower().replace(" ", "-") in slugs
