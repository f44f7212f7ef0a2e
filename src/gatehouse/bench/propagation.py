"""Propagation: how long after a change commits it is visible on a second server process over the
same database, and in a running Gatehouse SDK connected to that second process.

Two `gatehouse serve` processes (nodes A and B) share one database. Each round:
- role change: a member's roles are updated through node A; node B, warm with that member's
  session, is asked (sessions.authenticate with an authorization check) until its verdict flips;
- policy change: the project policy is changed in this process (as `gatehouse policy apply` would);
  node B's change stream (`GET /v1/b2b/gatehouse/changes`) announces the new version, and a
  `gatehouse.client.Client` connected to node B with push reports it.
Times are from the writer seeing its commit return to the change being visible.
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gatehouse.bench import load
from gatehouse.bench.report import Table
from gatehouse.bench.scale import throwaway_database
from gatehouse.bench.suite import BenchOptions
from gatehouse.policy import Permission, Policy, Resource, Role
from gatehouse.policy.defaults import DEFAULT_RESOURCES, DEFAULT_ROLES
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store

BOUND_SECONDS = 10.0  # give up on one round after this long (reported as a failure)
GOAL = "goal: p99 ≤ 1 s to another node and to a running SDK"
ROUNDS = {"quick": 10, "full": 100}


def _policy(round_no: int) -> Policy:
    """A policy that differs each round (the custom resource's actions change)."""
    resource = Resource("bench_docs", "", ("read", f"write{round_no}"))
    role = Role("bench_reader", "", (Permission("bench_docs", ("read",)),))
    return Policy(resources=DEFAULT_RESOURCES + (resource,), roles=DEFAULT_ROLES + (role,))


class ChangeStream:
    """Node B's change stream, read in a thread: (arrival time, event, data) into a queue."""

    def __init__(self, url: str, auth: str) -> None:
        self.events: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None), trust_env=False)
        self._url, self._auth = url, auth
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event = ""
        try:
            with self._client.stream(
                "GET",
                f"{self._url}/v1/b2b/gatehouse/changes",
                headers={"Authorization": self._auth, "Accept": "text/event-stream"},
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        self.events.put((time.monotonic(), event, line[6:]))
        except httpx.HTTPError:
            return  # closed

    def wait_for(self, event: str, contains: str, deadline: float) -> float | None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                at, name, data = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if name == event and contains in data:
                return at

    def close(self) -> None:
        self._client.close()


def _percentiles(samples: list[float]) -> tuple[str, str, str]:
    if not samples:
        return "—", "—", "—"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{statistics.median(ordered) * 1000:.1f}",
        f"{p99 * 1000:.1f}",
        f"{ordered[-1] * 1000:.1f}",
    )


def _allowed(url: str, auth: str, session: load.MemberSession) -> bool:
    status, body = load.http_json(
        "POST",
        f"{url}/v1/b2b/sessions/authenticate",
        {
            "session_token": session.session_token,
            "authorization_check": {
                "organization_id": session.organization_id,
                "resource_id": "stytch.member",
                "action": "delete",
            },
        },
        {"Authorization": auth},
    )
    if status not in (200, 403):
        raise RuntimeError(f"authenticate answered {status}: {body}")
    return status == 200


def _set_roles(url: str, auth: str, session: load.MemberSession, roles: list[str]) -> None:
    status, body = load.http_json(
        "PUT",
        f"{url}/v1/b2b/organizations/{session.organization_id}/members/{session.member_id}",
        {"roles": roles},
        {"Authorization": auth},
    )
    if status != 200:
        raise RuntimeError(f"member update answered {status}: {body}")


@contextmanager
def _sdk(url: str, project_id: str, secret: str) -> Iterator[Any]:
    try:
        from gatehouse.client import Client
    except ImportError:
        yield None
        return
    client = Client(project_id, secret, base_url=url, push=True, poll_seconds=3600.0)
    try:
        yield client
    finally:
        client.close()


def measure(database_url: str, rounds: int) -> dict[str, list[float | None]]:
    """Per-round propagation times (None: not visible within BOUND_SECONDS)."""
    credentials = load.init_database(database_url)
    project_id, secret = credentials["project_id"], credentials["secret"]
    auth = load.basic_auth(project_id, secret)
    writer = Gatehouse(open_store(database_url, apply_migrations=False))
    out: dict[str, list[float | None]] = {"role": [], "stream": [], "sdk": []}
    with (
        tempfile.TemporaryDirectory(prefix="gatehouse-propagation-") as tmp,
        load.running_server(database_url, Path(tmp)) as node_a,
        load.running_server(database_url, Path(tmp)) as node_b,
        _sdk(node_b.url, project_id, secret) as sdk,
    ):
        member = load.signed_in_member(node_a.url, auth, ["stytch_admin"])
        stream = ChangeStream(node_b.url, auth)
        try:
            for round_no in range(rounds):
                # A role change made through node A, seen by node B's checks.
                admin = round_no % 2 == 1
                assert _allowed(node_b.url, auth, member) != admin  # B is warm, and right
                _set_roles(node_a.url, auth, member, ["stytch_admin"] if admin else [])
                committed = time.monotonic()
                deadline = committed + BOUND_SECONDS
                seen = None
                while time.monotonic() < deadline:
                    if _allowed(node_b.url, auth, member) == admin:
                        seen = time.monotonic() - committed
                        break
                out["role"].append(seen)
                # A policy change committed here, seen by node B's stream and by the SDK.
                environment = writer.provisioning.find_environment(project_id)
                assert environment is not None
                _, version = writer.rbac.set_policy(
                    Caller(environment, "bench"), _policy(environment.policy_version)
                )
                committed = time.monotonic()
                deadline = committed + BOUND_SECONDS
                at = stream.wait_for("policy", f'"policy_version": {version}', deadline)
                out["stream"].append(None if at is None else at - committed)
                if sdk is not None:
                    reached = sdk.wait_for_policy_version(version, timeout=BOUND_SECONDS)
                    out["sdk"].append(time.monotonic() - committed if reached else None)
        finally:
            stream.close()
    writer.close()
    return out


ROWS = (
    ("role", "role change via node A → node B's check flips"),
    ("stream", "policy change → node B's change stream"),
    ("sdk", "policy change → SDK on node B (push)"),
)


def run(options: BenchOptions) -> list[Table]:
    rounds = ROUNDS["quick" if options.quick else "full"]
    backends = ["sqlite"] + (["postgresql"] if options.database_url else [])
    rows: list[list[str]] = []
    for backend in backends:
        with throwaway_database(backend, options.database_url) as url:
            times = measure(url, rounds)
        for key, label in ROWS:
            samples = times[key]
            if not samples:
                rows.append([backend, label, "0", "—", "—", "—", "skipped: no SDK"])
                continue
            seen = [s for s in samples if s is not None]
            p50, p99, worst = _percentiles(seen)
            missed = len(samples) - len(seen)
            rows.append([backend, label, str(len(samples)), p50, p99, worst, str(missed)])
    return [
        Table(
            title=f"propagation: two server processes over one database, {rounds} rounds",
            columns=[
                "backend",
                "change → visible",
                "rounds",
                "p50 ms",
                "p99 ms",
                "max ms",
                "missed",
            ],
            rows=rows,
            notes=[
                GOAL,
                "SQLite nodes look for commits every 10 ms (PRAGMA data_version); PostgreSQL nodes get NOTIFY.",
                f"missed = not visible within {BOUND_SECONDS:.0f} s (must be 0).",
            ],
        )
    ]
