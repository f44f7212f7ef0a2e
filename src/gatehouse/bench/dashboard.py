"""Dashboard section: warm latency of the dashboard's pages at 100,000 members and 100,000 events.

One organization of 100,000 members and 100,000 events in the test environment (plus 10,000
workspace events) are bulk-seeded into a fresh database (seed.py), then a real `gatehouse serve`
subprocess answers a dashboard Admin signed in through the sign-in form, over one keep-alive
connection on loopback, as a browser asks. Each page is asked a few times to warm it up, then
timed `REQUESTS` times in turn with the others; `GET /healthz` (the same stack doing nothing) is
the baseline of the same run. A page that answers 404 is shown as not built (pages are still
being written) rather than failing the run.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from gatehouse.bench import load, seed
from gatehouse.bench.report import Table, ratio
from gatehouse.bench.scale import throwaway_database
from gatehouse.bench.suite import BenchOptions
from gatehouse.services.security.sealing import new_key

GOAL_MS = 50.0
FULL_MEMBERS, QUICK_MEMBERS = 100_000, 5_000
WORKSPACE_EVENTS_SHARE = 10  # one workspace event per ten environment events
FULL_REQUESTS, QUICK_REQUESTS = 200, 20
WARMUP = 3
PASSWORD = "bench-Dashboard-lantern-73"
COLUMNS = ["page", "path", "p50 ms", "p95 ms", "p50 vs /healthz", f"goal < {GOAL_MS:.0f} ms"]
ACTIONS = ("organization.update", "member.update", "member.create", "organization.create")


@dataclass
class Row:
    name: str
    path: str
    samples: list[float] = field(default_factory=list)
    status: int = 0


@dataclass(frozen=True)
class Place:
    """What the seeding made that the page paths name."""

    project_slug: str
    environment_slug: str
    organization_id: str
    member_id: str
    deep_event_id: int
    seconds: float


def run(options: BenchOptions) -> list[Table]:
    members = QUICK_MEMBERS if options.quick else FULL_MEMBERS
    requests = QUICK_REQUESTS if options.quick else FULL_REQUESTS
    tables = [_backend_table("sqlite", members, requests, None)]
    if options.database_url and not options.quick:
        tables.append(_backend_table("postgresql", members, requests, options.database_url))
    return tables


def _backend_table(backend: str, members: int, requests: int, server_url: str | None) -> Table:
    with (
        throwaway_database(backend, server_url) as database_url,
        tempfile.TemporaryDirectory(prefix="gatehouse-bench-dashboard-") as tmp,
    ):
        key = new_key()
        place = seed_dashboard(database_url, members, key)
        env = {"GATEHOUSE_ENCRYPTION_KEYS": key}
        with load.running_server(database_url, Path(tmp), env=env) as server:
            rows = measure(server.url, place, requests)
    return _table(backend, members, requests, place, rows)


# -- seeding ---------------------------------------------------------------------------------


def seed_dashboard(database_url: str, members: int, encryption_key: str) -> Place:
    """`members` members in one organization, as many events in the test environment and a
    tenth of that in the workspace's log, and a password for the workspace's Admin."""
    from gatehouse.config import Settings
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import SqlStore, make_engine

    started = time.perf_counter()
    settings = Settings(database_url=database_url, encryption_keys=encryption_key)
    seeded = seed.seed(database_url, members, 1, 1, settings)
    engine = make_engine(database_url)
    try:
        store = SqlStore(engine)
        gatehouse = Gatehouse(store, settings)
        with store.transaction() as tx:
            workspace = store.get_workspace(tx)
            assert workspace is not None
            admin = store.find_workspace_member_by_email(tx, workspace["id"], "bench@example.com")
            assert admin is not None
            store.update_workspace_member(
                tx, admin["id"], {"password_hash": gatehouse.runtime.passwords.hash(PASSWORD)}
            )
            (project,) = store.list_projects(tx, workspace["id"])
            environment = next(
                e for e in store.environments_of(tx, project["id"]) if e["id"] == seeded.project_id
            )
        actor = f"workspace_member:{admin['id']}"
        low, high = seed.insert_events(engine, _events(seeded.project_id, members, actor, seeded))
        seed.insert_events(
            engine, _events(workspace["id"], members // WORKSPACE_EVENTS_SHARE, actor, seeded)
        )
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        gatehouse.close()
    finally:
        engine.dispose()
    sample = seeded.sessions[0]
    return Place(
        project["slug"],
        environment["slug"],
        sample.organization_id,
        sample.member_id,
        (low + high) // 2,
        time.perf_counter() - started,
    )


def _events(scope_id: str, count: int, actor: str, seeded: seed.Seeded) -> Iterator[dict[str, Any]]:
    """Events a minute apart ending now, by the Admin and by the API secret in turn."""
    now = dt.datetime.now(dt.UTC)
    target = seeded.sessions[0].organization_id
    for i in range(count):
        yield {
            "environment_id": scope_id,
            "actor": actor if i % 2 else "secret:bench",
            "actor_role": "admin" if i % 2 else None,
            "action": ACTIONS[i % len(ACTIONS)],
            "target": target if i % 3 == 0 else f"member-test-bench-{i}",
            "changes": {"name": f"Name {i}", "n": i},
            "created_at": now - dt.timedelta(minutes=count - i),
        }


# -- measuring -------------------------------------------------------------------------------


def _rows(place: Place) -> list[Row]:
    environment = (
        f"/dashboard/projects/{quote(place.project_slug)}"
        f"/environments/{quote(place.environment_slug)}"
    )
    organization = f"{environment}/organizations/{quote(place.organization_id)}"
    return [
        Row("baseline: GET /healthz", "/healthz"),
        Row("projects", "/dashboard/projects"),
        Row("workspace members", "/dashboard/members"),
        Row("event log, first page", f"{environment}/events"),
        Row("event log, deep page (cursor)", f"{environment}/events?before={place.deep_event_id}"),
        Row(
            "event log, by action, deep",
            f"{environment}/events?"
            + urlencode({"action": "member.update", "before": place.deep_event_id}),
        ),
        Row("workspace event log", "/dashboard/events"),
        Row("organizations", f"{environment}/organizations"),
        Row("organization", organization),
        # A substring search reads the organization's member index range: the slow case.
        Row("organization, members by email", f"{organization}?" + urlencode({"email": "r99999@"})),
        Row("member", f"{organization}/members/{quote(place.member_id)}"),
    ]


class Browser:
    """One keep-alive HTTP/1.1 connection with the cookies the server set, as a browser keeps
    them (names and values only: one server, one path)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if "max-age=0" in value.lower() or not cookie_value.strip('"'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie_value
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        self.connection.close()


def sign_in(browser: Browser) -> None:
    """Through the sign-in form, as a person does."""
    from gatehouse.dashboard.security import CSRF_FIELD

    pattern = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"'.encode())
    status, _, page = browser.request("GET", "/dashboard/sign-in")
    found = pattern.search(page)
    if status != 200 or found is None:
        raise RuntimeError(f"the sign-in page answered {status} without a form")
    form = urlencode(
        {CSRF_FIELD: found.group(1).decode(), "email": "bench@example.com", "password": PASSWORD}
    )
    status, headers, _ = browser.request("POST", "/dashboard/sign-in", form)
    if status != 303 or "sign-in" in headers.get("location", ""):
        raise RuntimeError(f"signing in to the dashboard failed: {status}")


def measure(url: str, place: Place, requests: int) -> list[Row]:
    rows = _rows(place)
    browser = Browser(url)
    try:
        sign_in(browser)
        for row in rows:
            for _ in range(WARMUP):
                row.status, _, _ = browser.request("GET", row.path)
        live = [row for row in rows if row.status == 200]
        for _ in range(requests):
            for row in live:
                start = time.perf_counter_ns()
                status, _, _ = browser.request("GET", row.path)
                row.samples.append((time.perf_counter_ns() - start) / 1e6)
                if status != 200:
                    raise RuntimeError(f"GET {row.path} answered {status} after answering 200")
    finally:
        browser.close()
    return rows


# -- the table -------------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def _table(backend: str, members: int, requests: int, place: Place, rows: list[Row]) -> Table:
    baseline = statistics.median(rows[0].samples) if rows[0].samples else 0.0
    out = []
    missed = []
    for row in rows:
        if not row.samples:
            state = "not built" if row.status == 404 else f"HTTP {row.status}"
            out.append([row.name, _short(row.path, place), "—", "—", "—", state])
            continue
        p50, p95 = statistics.median(row.samples), _p95(row.samples)
        verdict = "—" if row is rows[0] else ("met" if p50 < GOAL_MS else "MISSED")
        if verdict == "MISSED":
            missed.append(row.name)
        out.append(
            [
                row.name,
                _short(row.path, place),
                f"{p50:.2f}",
                f"{p95:.2f}",
                ratio(p50, baseline),
                verdict,
            ]
        )
    notes = [
        f"one organization of {members:,} members, {members:,} events in the environment and "
        f"{members // WORKSPACE_EVENTS_SHARE:,} in the workspace's log; seeded in "
        f"{place.seconds:.1f} s",
        f"a real `gatehouse serve` (1 worker) on loopback, a dashboard Admin signed in through "
        f"the sign-in form; one keep-alive connection; {WARMUP} warm-up requests per page, then "
        f"{requests} timed rounds over every page",
        f"the goal is judged on p50 (a warm page's typical answer); p95 shows this machine's "
        f"noise as much as the pages: /healthz, which does nothing, has p95 "
        f"{_p95(rows[0].samples) if rows[0].samples else 0:.2f} ms here",
        "`not built`: the page answered 404 (not in this build yet)",
    ]
    if missed:
        notes.insert(0, f"goal missed (p50 ≥ {GOAL_MS:.0f} ms): {', '.join(missed)}")
    return Table(
        f"dashboard: {backend}, warm page latency at {members:,} members", COLUMNS, out, notes
    )


def _short(path: str, place: Place) -> str:
    """The path with the long ids shortened, to keep the table narrow."""
    return (
        path.replace(place.organization_id, "{org}")
        .replace(place.member_id, "{member}")
        .replace(f"/projects/{quote(place.project_slug)}/", "/projects/{p}/")
    )
