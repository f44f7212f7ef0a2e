"""Scale section: check latency and a node's resident memory as members and organizations grow.

Each size gets its own database, seeded straight into the real schema with bulk inserts (the API
would take hours for a million members), and its own fresh Python process that plays a serving
node: it follows the change feed (so its caches are live, as under `gatehouse serve`) and calls
`sessions.authenticate` with an authorization check through the public service API. The parent
only seeds, so the RSS a child reports is that of one node at that size.

Per sampled session, the first call is COLD (it reads the database) and later calls are WARM.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gatehouse.bench import seed
from gatehouse.bench.report import Table, ratio
from gatehouse.bench.suite import BenchOptions


@dataclass(frozen=True)
class Size:
    members: int
    organizations: int


# Every step but the first changes one axis: organizations ×100 at 100k members, then members
# ×10 at 100k organizations. One million-member seed per backend (about 1.5 minutes each).
FULL_GRID = (
    Size(1_000, 100),
    Size(100_000, 1_000),
    Size(100_000, 100_000),
    Size(1_000_000, 100_000),
)
QUICK_GRID = (Size(1_000, 100), Size(10_000, 1_000))
FULL_SAMPLE = 1_000
QUICK_SAMPLE = 200
WARM_ROUNDS = 5
CHILD_TIMEOUT_S = 900.0
GOAL_RATIO = 1.5

COLUMNS = [
    "backend",
    "members",
    "organizations",
    "seed s",
    "cold p50/p99 µs",
    "warm p50/p99 µs",
    "warm p50 vs 1k",
    "RSS MiB",
]

# Measured check: granted to every member by stytch_member. Verified ones: stytch_admin only.
CHECK = ("stytch.self", "update.info.name")
ADMIN_CHECK = ("stytch.member", "create")


def run(options: BenchOptions) -> list[Table]:
    grid = QUICK_GRID if options.quick else FULL_GRID
    sample = QUICK_SAMPLE if options.quick else FULL_SAMPLE
    tables = [_backend_table("sqlite", grid, sample, None)]
    if options.database_url and not options.quick:
        tables.append(_backend_table("postgresql", grid, sample, options.database_url))
    return tables


def _backend_table(
    backend: str, grid: tuple[Size, ...], sample: int, server_url: str | None
) -> Table:
    measured = []
    for size in grid:
        with throwaway_database(backend, server_url) as url:
            seeded = seed.seed(url, size.members, size.organizations, sample)
            measured.append((size, seeded, measure_in_child(url, seeded)))
    return _table(backend, measured, sample)


@contextmanager
def throwaway_database(backend: str, server_url: str | None) -> Iterator[str]:
    """A fresh database URL: a SQLite file in a temporary directory, or a PostgreSQL database
    created on `server_url` and dropped afterwards, even when the run fails."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gatehouse-bench-scale-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'gatehouse.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert server_url is not None
    name = f"gatehouse_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# -- the measuring node (a child process) ----------------------------------------------------


def measure_in_child(database_url: str, seeded: seed.Seeded) -> dict[str, Any]:
    """Run `child_main` in a fresh interpreter over the seeded database; its JSON result."""
    request = {"database_url": database_url, **asdict(seeded)}
    done = subprocess.run(
        [sys.executable, "-c", "from gatehouse.bench.scale import child_main; child_main()"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the scale measurement failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rss_mib() -> float | None:
    """This process's resident set (Linux); None where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def child_main() -> None:
    """Entry point of the child: reads the request on stdin, prints one JSON line."""
    request = json.loads(sys.stdin.read())
    print(json.dumps(measure(request)))


def measure(request: dict[str, Any]) -> dict[str, Any]:
    from gatehouse.errors import GatehouseError
    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import open_store

    gatehouse = Gatehouse(open_store(request["database_url"], apply_migrations=False))
    runtime: Any = gatehouse.runtime
    live = _start_feed(runtime)
    start_rss = rss_mib()
    # The caller exactly as the HTTP layer builds it for a request with the project secret.
    caller = gatehouse.callers.resolve(request["project_id"], request["secret"], None, None)
    sessions = [seed.SampleSession(*s) for s in request["sessions"]]
    primer, sample = sessions[0], sessions[1:]

    def authenticate(session: seed.SampleSession, check: tuple[str, str]) -> bool:
        """What the server's `sessions.authenticate` does for a check: True when allowed."""
        done = gatehouse.sessions.authenticate(
            caller,
            session.token,
            None,
            None,
            None,
            {
                "organization_id": session.organization_id,
                "resource_id": check[0],
                "action": check[1],
            },
        )
        return done.decision is not None and done.decision.allowed

    reference: list[float] = []

    def timed(session: seed.SampleSession) -> float:
        start = time.perf_counter_ns()
        authenticate(session, CHECK)
        took = (time.perf_counter_ns() - start) / 1000
        start = time.perf_counter_ns()
        _reference_work()
        reference.append((time.perf_counter_ns() - start) / 1000)
        return took

    authenticate(primer, CHECK)  # loads the policy and signing key: not a per-session cost
    cold = [timed(s) for s in sample]
    cold_reference = statistics.median(reference)
    reference.clear()
    warm = [timed(s) for _ in range(WARM_ROUNDS) for s in sample]
    warm_reference = statistics.median(reference)
    end_rss = rss_mib()
    stats = getattr(getattr(runtime, "cache", None), "stats", None)
    cached_sessions = stats()["sessions"] if stats is not None else 0
    wrong = 0
    for session in sample:  # verdicts, untimed: admins may create members, the others may not
        try:
            wrong += authenticate(session, ADMIN_CHECK) != session.admin
        except GatehouseError:
            wrong += 1
    stop = getattr(runtime, "stop", None)
    if stop is not None:
        stop()
    return {
        "cold": _percentiles(cold),
        "warm": _percentiles(warm),
        # The same fixed work timed beside each call: figures of different processes compare as
        # multiples of it (`_scaled`).
        "cold_reference_p50": cold_reference,
        "warm_reference_p50": warm_reference,
        "rss_mib": end_rss,
        "start_rss_mib": start_rss,
        "cache_live": live,
        "cached_sessions": cached_sessions,
        "wrong_verdicts": wrong,
        "admins": sum(s.admin for s in sample),
        "calls": len(sample),
    }


_REFERENCE = {f"key-{i}": [i, str(i), None] for i in range(24)}


def _reference_work() -> None:
    """A fixed piece of pure-Python work timed after every warm call, so the warm figures of
    different processes can be compared although other processes slow this machine down at
    times (a warm call never reads the database, so sizes differ by little)."""
    hashlib.sha256(json.dumps(_REFERENCE).encode()).hexdigest()


def _start_feed(runtime: Any) -> bool:
    """Follow the change feed as a serving node does, and wait until the caches are live."""
    start = getattr(runtime, "start", None)
    cache = getattr(runtime, "cache", None)
    if start is None or cache is None:
        return False
    start()
    deadline = time.monotonic() + 15
    while not cache.live and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(cache.live)


def _percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p99": cuts[98]}


# -- the table -------------------------------------------------------------------------------


def _scaled(result: dict[str, Any], phase: str) -> float:
    """A phase's p50 as a multiple of the reference work timed beside it."""
    return float(result[phase]["p50"] / result[f"{phase}_reference_p50"])


def _table(
    backend: str, measured: list[tuple[Size, seed.Seeded, dict[str, Any]]], sample: int
) -> Table:
    base = next((m for s, _, m in measured if s.members == 1_000), None)
    rows = []
    notes = [
        f"goal: check latency at 1M members within {GOAL_RATIO}× of 1k members; per-node "
        "memory bounded by settings (cache_max_sessions), not by the number of members",
        f"each size: its own database and a fresh node process; {sample:,} sampled sessions "
        f"(1 in 10 members stytch_admin); cold = first call per session, warm = "
        f"{WARM_ROUNDS} more rounds; the check `{CHECK[0]}:{CHECK[1]}` (allowed)",
        "a cold call reads the database (whose files the seeding just wrote, so mostly from the "
        "OS page cache) and signs a session JWT; a warm call is answered from the node's memory",
        "`vs 1k` compares p50s as multiples of a fixed piece of work timed beside every call in "
        "the same process: other processes on this machine move the µs figures by up to 2× "
        "between runs, the multiples by about a tenth",
    ]
    for size, seeded, result in measured:
        rows.append(
            [
                backend,
                f"{size.members:,}",
                f"{size.organizations:,}",
                f"{seeded.seconds:.1f}",
                f"{result['cold']['p50']:,.0f} / {result['cold']['p99']:,.0f}",
                f"{result['warm']['p50']:,.0f} / {result['warm']['p99']:,.0f}",
                ratio(_scaled(result, "warm"), _scaled(base, "warm")) if base else "—",
                f"{result['rss_mib']:.0f}" if result["rss_mib"] is not None else "n/a",
            ]
        )
        if result["wrong_verdicts"]:
            notes.insert(
                0,
                f"WARNING: {result['wrong_verdicts']} of {result['calls']} verdicts were wrong "
                f"at {size.members:,} members",
            )
        if not result["cache_live"]:
            notes.append(
                f"{size.members:,} members: the node's change feed was not live, so warm calls "
                "read the database"
            )
        if size.members >= 1_000_000 and base:
            warm_x = _scaled(result, "warm") / _scaled(base, "warm")
            cold_x = _scaled(result, "cold") / _scaled(base, "cold")
            verdict = "met" if max(warm_x, cold_x) <= GOAL_RATIO else "NOT met"
            notes.append(
                f"{size.members:,} members / {size.organizations:,} orgs: warm p50 {warm_x:.2f}× "
                f"and cold p50 {cold_x:.2f}× of 1k: goal {verdict}"
            )
    grown = [
        (m["rss_mib"] - m["start_rss_mib"], m["cached_sessions"])
        for _, _, m in measured
        if m["rss_mib"] is not None and m["start_rss_mib"] is not None
    ]
    if grown:
        notes.append(
            f"a node's RSS grew by {min(g for g, _ in grown):.0f}–{max(g for g, _ in grown):.0f} "
            f"MiB over its calls, with {max(c for _, c in grown):,} sessions in its cache "
            "(the cache is an LRU bounded by cache_max_sessions)"
        )
    return Table(f"scale: {backend}, check latency and node memory by size", COLUMNS, rows, notes)
