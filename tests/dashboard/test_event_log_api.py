"""`GET .../environments/{environment_slug}/events`: the environment's event log for roles holding
`event_logs.view`, newest first, filtered by actor, target, action and time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gatehouse.errors import Denied
from gatehouse.policy import dashboard
from tests.sdk.support import new_org
from tests.server import RunningServer

ROLES = dashboard.ROLES


def events_path(server: RunningServer, environment: str = "test") -> str:
    return f"/pwa/v3/projects/{server.project_slug}/environments/{environment}/events"


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> dict[str, tuple[str, str]]:
    keys = {}
    with server.store.transaction() as tx:
        workspace_id = server.store.get_workspace(tx)["id"]
        for role in ROLES:
            key = server.gatehouse.workspace.create_key(tx, workspace_id, role, role, "test")
            keys[role] = (key["key_id"], key["secret"])
    return keys


@pytest.fixture(scope="module")
def as_role(server: RunningServer, keys: dict[str, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    clients = {
        role: httpx.Client(
            base_url=server.url,
            auth=keys[role],
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        for role in ROLES
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return server.b2b_client()


def secret_actor(server: RunningServer) -> str:
    with server.store.read() as tx:
        (secret,) = server.store.secrets(tx, server.project_id)
    return f"secret:{secret['id']}"


def listed(as_role: dict[str, Any], server: RunningServer, **params: str) -> list[dict[str, Any]]:
    response = as_role["support_agent"].get(events_path(server), params=params)
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


def refused(server: RunningServer, call: Any, status: int, error_type: str) -> dict[str, Any]:
    before = server.snapshot()
    response = call()
    assert (response.status_code, response.json()["error_type"]) == (status, error_type), (
        response.text
    )
    assert server.snapshot() == before
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", ROLES)
def test_reading_the_event_log_follows_the_matrix(server, as_role, client, role):
    org = new_org(client)
    if not dashboard.allows(role, "event_logs.view"):
        body = refused(server, lambda: as_role[role].get(events_path(server)), 403, "forbidden")
        assert "event_logs.view" in body["error_message"]
        return
    response = as_role[role].get(events_path(server), params={"target": org.organization_id})
    assert response.status_code == 200, response.text
    (event,) = response.json()["events"]
    assert set(event) == {
        "id",
        "actor",
        "actor_role",
        "action",
        "target",
        "changes",
        "created_at",
    }
    assert event["action"] == "organization.create"
    assert event["actor"] == secret_actor(server)
    assert event["actor_role"] is None  # a B2B call, made with the project secret
    assert event["changes"]["organization_name"] == org.organization_name


def test_filters_newest_first_and_limit(server, as_role, keys, client):
    org = new_org(client)
    client.organizations.update(org.organization_id, organization_name="Renamed once")
    client.organizations.update(org.organization_id, organization_name="Renamed twice")
    manager = keys["support_manager"][0]
    org_url = f"/pwa/v3/projects/{server.project_slug}/environments/test/organizations/" + (
        org.organization_id
    )
    patched = as_role["support_manager"].patch(org_url, json={"organization_name": "By support"})
    assert patched.status_code == 200, patched.text

    mine = listed(as_role, server, target=org.organization_id)
    assert [e["action"] for e in mine] == [
        "organization.update",
        "organization.update",
        "organization.update",
        "organization.create",
    ]
    assert [e["id"] for e in mine] == sorted((e["id"] for e in mine), reverse=True)
    assert [e["changes"].get("organization_name") for e in mine[:3]] == [
        "By support",
        "Renamed twice",
        "Renamed once",
    ]
    by_key = listed(as_role, server, target=org.organization_id, actor=f"workspace_key:{manager}")
    assert [e["changes"] for e in by_key] == [{"organization_name": "By support"}]
    by_secret = listed(
        as_role,
        server,
        target=org.organization_id,
        actor=secret_actor(server),
        action="organization.update",
    )
    assert len(by_secret) == 2
    assert listed(as_role, server, target=org.organization_id, limit="1") == mine[:1]
    assert listed(as_role, server, action="no.such.action") == []


def test_since_and_until_select_a_time_window(server, as_role, client):
    org = new_org(client)
    (created,) = listed(as_role, server, target=org.organization_id)
    at = dt.datetime.fromisoformat(created["created_at"])
    later = at + dt.timedelta(microseconds=1)
    window = {"target": org.organization_id}
    # `since` is inclusive, `until` exclusive; either accepts any time zone offset.
    assert listed(as_role, server, **window, since=created["created_at"]) == [created]
    assert listed(as_role, server, **window, until=created["created_at"]) == []
    assert listed(as_role, server, **window, until=later.isoformat()) == [created]
    assert listed(as_role, server, **window, since=later.isoformat()) == []
    east = at.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert listed(as_role, server, **window, since=east.isoformat()) == [created]
    # Paging back in time: the oldest `created_at` of a page is the next page's `until`.
    client.organizations.update(org.organization_id, organization_name="Paged")
    first = listed(as_role, server, **window, limit="1")
    rest = listed(as_role, server, **window, until=first[-1]["created_at"])
    assert [e["action"] for e in first + rest] == ["organization.update", "organization.create"]


def test_before_pages_back_by_event_id_and_keeps_the_filters(server, as_role, client):
    org = new_org(client)
    for n in range(4):
        client.organizations.update(org.organization_id, organization_name=f"Paged {n}")
    window = {"target": org.organization_id}
    every = listed(as_role, server, **window)
    assert len(every) == 5
    pages, before = [], None
    while True:
        cursor = {} if before is None else {"before": str(before)}
        page = listed(as_role, server, **window, **cursor, limit="2")
        pages.append(page)
        if len(page) < 2:
            break
        before = page[-1]["id"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [e for p in pages for e in p] == every
    updates = listed(
        as_role, server, **window, action="organization.update", before=str(every[1]["id"])
    )
    assert updates == every[2:4]
    assert [e["action"] for e in every[2:]] == ["organization.update"] * 2 + ["organization.create"]


def test_each_environment_has_its_own_log(server, as_role):
    live = server.b2b_client(server.live_project_id, server.live_secret)
    org = new_org(live)
    assert listed(as_role, server, target=org.organization_id) == []
    response = as_role["admin"].get(
        events_path(server, "live"), params={"target": org.organization_id}
    )
    assert [e["action"] for e in response.json()["events"]] == ["organization.create"]


@pytest.mark.parametrize(
    "params, problem",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"since": "yesterday"}, "iso-8601"),
        ({"until": "2025-13-01T00:00:00Z"}, "iso-8601"),
        ({"since": "2025-01-01T00:00:00"}, "time zone"),
        ({"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "later"),
        ({"actor": ""}, "actor"),
        ({"before": "0"}, "before"),
        ({"before": "the end"}, "before"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_queries_are_refused(server, as_role, params, problem):
    body = refused(
        server,
        lambda: as_role["admin"].get(events_path(server), params=params),
        400,
        "invalid_request",
    )
    assert problem in body["error_message"]


def test_unknown_places_and_credentials(server, as_role):
    admin = as_role["admin"]
    refused(
        server,
        lambda: admin.get(f"/pwa/v3/projects/{server.project_slug}/environments/nope/events"),
        404,
        "environment_not_found",
    )
    refused(
        server,
        lambda: admin.get("/pwa/v3/projects/nope/environments/test/events"),
        404,
        "project_not_found",
    )
    refused(
        server,
        lambda: httpx.get(server.url + events_path(server)),
        401,
        "unauthorized_credentials",
    )
    refused(
        server,
        lambda: admin.get(events_path(server) + "?limit=5&limit=6"),
        400,
        "invalid_request",
    )


@pytest.mark.parametrize("role", ROLES)
def test_the_workspace_log_service_follows_the_matrix_too(server, keys, role):
    """The dashboard's workspace event log page is gated, and its service checks again."""
    workspace, support = server.gatehouse.workspace, server.gatehouse.support
    admin = workspace.operator_from_key(*keys["admin"])
    made = workspace.create_key_as(admin, "developer", f"logged for {role}")
    operator = workspace.operator_from_key(*keys[role])
    if not dashboard.allows(role, "event_logs.view"):
        with pytest.raises(Denied):
            support.workspace_events(operator, {}, 10)
        with pytest.raises(Denied):
            support.event_log(operator, server.project_slug, "test", {}, 10)
        return
    rows = support.workspace_events(operator, {"action": "workspace_key.create"}, 1000)
    assert {r["action"] for r in rows} == {"workspace_key.create"}
    assert (rows[0]["target"], rows[0]["actor_role"]) == (made["key_id"], "admin")
    older = support.workspace_events(operator, {"before": rows[0]["id"]}, 1000)
    assert all(r["id"] < rows[0]["id"] for r in older)
    found, events = support.event_log(operator, server.project_slug, "test", {}, 5)
    assert found.environment["slug"] == "test" and len(events) <= 5
