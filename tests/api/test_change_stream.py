"""`GET /v1/b2b/gatehouse/changes`: the server-sent events SDKs follow to drop stale policies.

Read over real HTTP from a real server; each stream is read in a thread with bounded waits."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.sdk.support import AUDITOR, PROJECT_POLICY, install_policy, new_org, unique
from tests.server import RunningServer, another_node

WAIT_SECONDS = 10.0


class Stream:
    def __init__(self, server: RunningServer, auth: tuple[str, str]) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.status: int | None = None
        self.opened = threading.Event()
        self._client = httpx.Client(
            base_url=server.url, auth=auth, timeout=httpx.Timeout(5.0, read=None)
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(WAIT_SECONDS)

    def _read(self) -> None:
        name = ""
        try:
            with self._client.stream("GET", "/v1/b2b/gatehouse/changes") as response:
                self.status = response.status_code
                self.opened.set()
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[len("event: ") :]
                    elif line.startswith("data: "):
                        self.events.put((name, json.loads(line[len("data: ") :])))
        except httpx.HTTPError:
            self.opened.set()

    def next(self, name: str) -> dict[str, Any]:
        """The next event called `name` (others are skipped), waiting a bounded time."""
        deadline = time.monotonic() + WAIT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == name:
                return data
        pytest.fail(f"no `{name}` event within {WAIT_SECONDS} s")

    def close(self) -> None:
        # The reader may be blocked between events (pings come every 15 s); it is a daemon and
        # ends when the server closes the connection, so it is not waited for here.
        self._client.close()


@contextmanager
def stream(server: RunningServer, project_id: str, secret: str) -> Iterator[Stream]:
    opened = Stream(server, (project_id, secret))
    try:
        yield opened
    finally:
        opened.close()


def version(server: RunningServer) -> int:
    with server.store.read() as tx:
        head = server.store.environment_head(tx, server.project_id)
    assert head is not None
    return int(head["policy_version"])


def change_policy(server: RunningServer) -> None:
    """Install a policy that differs from every earlier one (a new custom resource)."""
    extra = {"resource_id": unique("reports"), "description": "", "available_actions": ["read"]}
    resources = [*PROJECT_POLICY["custom_resources"], extra]
    install_policy(server, {**PROJECT_POLICY, "custom_resources": resources})


def test_policy_changes_are_pushed_with_their_version(server):
    client = server.b2b_client()
    with stream(server, server.project_id, server.secret) as events:
        assert events.status == 200
        assert events.next("ready") == {"policy_version": version(server)}
        change_policy(server)
        assert events.next("policy") == {"policy_version": version(server)}
        org_id = new_org(client).organization_id
        client.rbac.organizations.set_org_policy(
            organization_id=org_id, org_policy={"roles": [AUDITOR]}
        )
        assert events.next("organization_policy") == {"organization_id": org_id}


def test_each_environment_hears_only_its_own_changes(server):
    live = server.b2b_client(server.live_project_id, server.live_secret)
    with stream(server, server.project_id, server.secret) as test_events:
        test_events.next("ready")
        org_id = new_org(live).organization_id  # created, not changed: nothing to announce
        live.organizations.update(organization_id=org_id, organization_name="Renamed")
        test_org = new_org(server.b2b_client()).organization_id
        server.b2b_client().organizations.update(organization_id=test_org, organization_name="R")
        assert test_events.next("organization_policy") == {"organization_id": test_org}


def test_another_node_pushes_changes_made_through_the_first(server):
    with another_node(server) as node_b, stream(node_b, server.project_id, server.secret) as events:
        events.next("ready")
        change_policy(server)
        assert events.next("policy") == {"policy_version": version(server)}


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no-credentials"),
        pytest.param(
            ("project-test-00000000-0000-4000-8000-000000000000", "x"), id="unknown-project"
        ),
        pytest.param("wrong-secret", id="wrong-secret"),
    ],
)
def test_a_stream_needs_the_project_secret(server, auth):
    if auth == "wrong-secret":
        auth = (server.project_id, server.secret + "x")
    response = httpx.get(f"{server.url}/v1/b2b/gatehouse/changes", auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.json()["error_type"] == "unauthorized_credentials"


def test_a_stream_refuses_query_parameters(server):
    response = httpx.get(
        f"{server.url}/v1/b2b/gatehouse/changes?since=3",
        auth=(server.project_id, server.secret),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error_type"] == "invalid_request"
