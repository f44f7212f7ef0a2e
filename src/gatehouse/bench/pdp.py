"""Peers section: Gatehouse and the Cerbos policy decision point, both real servers on loopback,
given one generated policy (the engine section's generator), in one run.

Cerbos gets the policy in its own terms (bench/cerbos.py). Each principal is a Gatehouse member, with the roles Gatehouse reports for it (the implicit
`stytch_member` included), so both servers decide for the same subject.

First the decisions are compared: every check the load rows send, asked of both (Gatehouse's
batch endpoint for the batches, `sessions/authenticate` for the single checks), must agree, or the
section raises. Then wrk drives each server with the same threads, connections and duration:
single checks (`sessions/authenticate` with `authorization_check`; CheckResources with one
resource and one action) and 100 checks per request (the batch endpoint; CheckResources with 100
resources of one action each), cycling through many different bodies (wrk/rotate.lua).

Cerbos is an optional bench extra, the server binary the npm package `cerbos` ships: without it
the section is skipped with the command that installs it (scripts/install-bench-peers does the
same, idempotently).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatehouse.bench import cerbos, engine, load
from gatehouse.bench.peers import Check
from gatehouse.bench.report import SectionSkipped, Table, rate
from gatehouse.bench.suite import BenchOptions
from gatehouse.policy import Policy, compile_policy, policy_to_file
from gatehouse.policy.defaults import STYTCH_MEMBER

LUA_ROTATE = Path(__file__).parent / "wrk" / "rotate.lua"
WRK_TIMEOUT_S = 10
# Before each row, an unmeasured run of its requests on WARMUP_CONNECTIONS connections: caches and
# code paths warm, and no backlog of slow requests left for the measured run to inherit.
WARMUP_S = 1
WARMUP_CONNECTIONS = 2
# A row whose p50 is over a tenth of its run is run again for 20× its p50, at most this long.
MAX_ROW_S = 60

THREADS = 2
CONNECTIONS = 50
WORKERS = 2
BATCH_SIZE = cerbos.MAX_CHECKS
SINGLE_CHECKS = 500  # asked one by one through sessions/authenticate
GOAL_SINGLE = 10.0  # Gatehouse/Cerbos, single checks
GOAL_BATCH = 100.0  # Gatehouse/Cerbos, 100 checks per request
COLUMNS = ["server", "req/s", "checks/s", "p50 ms", "p99 ms", "Gatehouse/Cerbos", "errors"]

NOOP = "no-op"
SINGLE = "1 check per request"
BATCH = f"{BATCH_SIZE} checks per request"
GATEHOUSE_NOOP = "Gatehouse GET /healthz (no-op)"
CERBOS_NOOP = "Cerbos GET /_cerbos/health (no-op)"
GATEHOUSE_SINGLE = "Gatehouse POST sessions/authenticate (authorization_check)"
CERBOS_SINGLE = "Cerbos POST /api/check/resources (1 resource, 1 action)"
GATEHOUSE_BATCH = f"Gatehouse POST gatehouse/authorize ({BATCH_SIZE} checks)"
CERBOS_BATCH = f"Cerbos POST /api/check/resources ({BATCH_SIZE} resources, 1 action each)"


# --- Gatehouse, set up through its CLI and public API -------------------------------------------


@dataclass(frozen=True)
class Member:
    """A member holding one role set of the stream, signed in; `roles` as Gatehouse reports them."""

    member_id: str
    session_token: str
    roles: tuple[str, ...]


def apply_policy(database_url: str, project_id: str, policy: Policy, directory: Path) -> None:
    """`gatehouse policy apply`, as an operator would give a project its policy."""
    policy_file = directory / "policy.json"
    policy_file.write_text(json.dumps(policy_to_file(policy)), encoding="utf-8")
    done = subprocess.run(
        [
            *load.gatehouse_command(),
            "policy",
            "apply",
            str(policy_file),
            "--project-id",
            project_id,
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gatehouse policy apply failed: {done.stderr or done.stdout}")


def _ok(url: str, path: str, body: Any, auth: str | None = None) -> Any:
    headers = {"Authorization": auth} if auth else {}
    status, answer = load.http_json("POST", url + path, body, headers)
    if status != 200:
        raise RuntimeError(f"POST {path} answered {status}: {str(answer)[:500]}")
    return answer


def sign_in_members(
    url: str, auth: str, organization_id: str, rolesets: Sequence[frozenset[str]]
) -> list[Member]:
    """A member per role set (an imported bcrypt hash, then `passwords/authenticate`)."""
    import bcrypt

    password_hash = bcrypt.hashpw(load.PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    members = []
    for i, roles in enumerate(rolesets):
        email = f"peer-member{i}@example.com"
        _ok(
            url,
            "/v1/b2b/passwords/migrate",
            {
                "email_address": email,
                "hash": password_hash,
                "hash_type": "bcrypt",
                "organization_id": organization_id,
                # Every member holds stytch_member implicitly; it is not assigned.
                "roles": sorted(roles - {STYTCH_MEMBER}),
            },
            auth,
        )
        session = _ok(
            url,
            "/v1/b2b/passwords/authenticate",
            {
                "organization_id": organization_id,
                "email_address": email,
                "password": load.PASSWORD,
                "session_duration_minutes": 24 * 60,
            },
            auth,
        )
        member = session["member"]
        held = tuple(sorted(role["role_id"] for role in member["roles"]))
        members.append(Member(member["member_id"], session["session_token"], held))
    return members


# --- the work: who asks what --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The bodies the load rows send, each a member and its checks (a batch or a single check)."""

    organization_id: str
    members: list[Member]
    batches: list[tuple[int, list[tuple[str, str]]]]  # (member index, BATCH_SIZE checks)
    singles: list[tuple[int, tuple[str, str]]]  # (member index, one check)

    def gatehouse_batch(self, member: int, checks: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            "session_token": self.members[member].session_token,
            "organization_id": self.organization_id,
            "checks": [{"resource_id": r, "action": a} for r, a in checks],
        }

    def gatehouse_single(self, member: int, check: tuple[str, str]) -> dict[str, Any]:
        return {
            "session_token": self.members[member].session_token,
            "authorization_check": {
                "organization_id": self.organization_id,
                "resource_id": check[0],
                "action": check[1],
            },
        }

    def cerbos(self, member: int, checks: Sequence[tuple[str, str]]) -> Any:
        held = self.members[member]
        return cerbos.check_request(held.member_id, held.roles, checks)


def choose_rolesets(requests: Sequence[Check], members: int) -> list[frozenset[str]]:
    """The `members` role sets asked most often in the stream (first asked first, on ties)."""
    counts: dict[frozenset[str], int] = {}
    for roles, _, _ in requests:
        counts[roles] = counts.get(roles, 0) + 1
    ranked = sorted(counts, key=lambda roles: -counts[roles])  # stable: ties keep stream order
    return ranked[:members]


def plan_checks(
    requests: Sequence[Check], rolesets: Sequence[frozenset[str]], batches: int, singles: int
) -> tuple[list[tuple[int, list[tuple[str, str]]]], list[tuple[int, tuple[str, str]]]]:
    """Per role set, its checks in stream order: the batches are consecutive runs of BATCH_SIZE
    of one role set's checks (taken round-robin over the role sets), the singles the stream's
    first checks of those role sets."""
    index = {roles: i for i, roles in enumerate(rolesets)}
    own: list[list[tuple[str, str]]] = [[] for _ in rolesets]
    single: list[tuple[int, tuple[str, str]]] = []
    for roles, resource, action in requests:
        if roles in index:
            own[index[roles]].append((resource, action))
            if len(single) < singles:
                single.append((index[roles], (resource, action)))
    per_member = [
        [
            (member, checks[start : start + BATCH_SIZE])
            for start in range(0, len(checks) - BATCH_SIZE + 1, BATCH_SIZE)
        ]
        for member, checks in enumerate(own)
    ]
    runs = [run for round_ in itertools.zip_longest(*per_member) for run in round_ if run]
    return runs[:batches], single


# --- decisions compared -------------------------------------------------------------------------


@dataclass
class Agreement:
    """One way of asking: how many checks, how many allowed, and every disagreement found."""

    via: str
    checks: int = 0
    allowed: int = 0
    with_cerbos: int = 0  # Gatehouse's answers over HTTP that Cerbos contradicts
    with_engine: int = 0  # ... that Gatehouse's own CompiledPolicy contradicts
    examples: list[str] | None = None

    def add(
        self, member: Member, check: tuple[str, str], ours: bool, cerbos: bool, engine: bool
    ) -> None:
        self.checks += 1
        self.allowed += ours
        if ours != cerbos or ours != engine:
            self.with_cerbos += ours != cerbos
            self.with_engine += ours != engine
            if self.examples is None:
                self.examples = []
            if len(self.examples) < 5:
                self.examples.append(
                    f"roles {list(member.roles)} on `{check[0]}` `{check[1]}`: gatehouse {ours}, "
                    f"cerbos {cerbos}, CompiledPolicy {engine}"
                )


def _batch_verdicts(answer: Any) -> list[bool]:
    verdicts = []
    for result in answer.get("results") or []:
        if isinstance(result, dict):
            result = result.get("authorized", result.get("allowed"))
        if not isinstance(result, bool):
            raise RuntimeError(f"gatehouse/authorize answered {str(answer)[:300]}")
        verdicts.append(result)
    return verdicts


def _single_verdict(url: str, auth: str, body: dict[str, Any]) -> bool:
    status, answer = load.http_json(
        "POST", url + "/v1/b2b/sessions/authenticate", body, {"Authorization": auth}
    )
    if (
        status == 200
        and isinstance(answer, dict)
        and (answer.get("verdict") or {}).get("authorized")
    ):
        return True
    if status == 403 and isinstance(answer, dict):
        if answer.get("error_type") == "session_authorization_error":
            return False
    raise RuntimeError(f"sessions/authenticate answered {status}: {str(answer)[:300]}")


def compare(
    plan: Plan, policy: Policy, gatehouse: str, auth: str, cerbos_url: str
) -> tuple[Agreement, Agreement, list[bool]]:
    """Every check of the plan asked of both servers (and of CompiledPolicy): the agreements,
    batched and single, and the single checks' verdicts."""
    compiled = compile_policy(policy)
    batched = Agreement(f"gatehouse/authorize vs CheckResources, {BATCH_SIZE} per request")
    for member, checks in plan.batches:
        ours = _batch_verdicts(
            _ok(
                gatehouse, "/v1/b2b/gatehouse/authorize", plan.gatehouse_batch(member, checks), auth
            )
        )
        theirs = cerbos.verdicts(
            _ok(cerbos_url, "/api/check/resources", plan.cerbos(member, checks)), checks
        )
        if len(ours) != len(checks):
            raise RuntimeError(f"gatehouse/authorize answered {len(ours)} of {len(checks)} checks")
        roles = frozenset(plan.members[member].roles)
        for check, our, their in zip(checks, ours, theirs, strict=True):
            batched.add(plan.members[member], check, our, their, compiled.check(roles, *check))
    single = Agreement("sessions/authenticate vs CheckResources, 1 per request")
    verdicts = []
    for member, check in plan.singles:
        our = _single_verdict(gatehouse, auth, plan.gatehouse_single(member, check))
        [their] = cerbos.verdicts(
            _ok(cerbos_url, "/api/check/resources", plan.cerbos(member, [check])), [check]
        )
        roles = frozenset(plan.members[member].roles)
        single.add(plan.members[member], check, our, their, compiled.check(roles, *check))
        verdicts.append(our)
    return batched, single, verdicts


def decisions_table(agreements: Sequence[Agreement], describe: str) -> Table:
    rows = [
        [a.via, rate(a.checks), rate(a.allowed), rate(a.with_cerbos), rate(a.with_engine)]
        for a in agreements
    ]
    notes = [f"policy: {describe}", "every check counted here is one the load rows send"]
    for a in agreements:
        notes.extend(f"DISAGREEMENT: {example}" for example in a.examples or [])
    return Table(
        "peers: decisions, Gatehouse vs the Cerbos PDP on one generated policy",
        ["asked through", "checks", "allowed", "disagreements with Cerbos", "with CompiledPolicy"],
        rows,
        notes,
    )


# --- throughput ---------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    url: str
    bodies: list[Any] | None  # None: a GET
    checks_per_request: int
    headers: dict[str, str]
    result: load.WrkResult | None = None


def run_rotating(
    wrk: str,
    url: str,
    bodies: Sequence[Any],
    headers: dict[str, str],
    duration_s: float,
    connections: int = CONNECTIONS,
) -> load.WrkResult:
    """One wrk run POSTing `bodies` in turn (wrk/rotate.lua)."""
    threads = min(THREADS, connections)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s"]
    # Past wrk's default 2 s timeout, a slow answer would count as a socket error, not a latency.
    command += ["--latency", f"--timeout={WRK_TIMEOUT_S}s"]
    for name, value in {**headers, "Content-Type": "application/json"}.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="gatehouse-wrk-") as tmp:
        body_file = Path(tmp) / "bodies"
        body_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
        command += ["-s", str(LUA_ROTATE), url, "--", str(body_file)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return load.parse_wrk(done.stdout)


def load_rows(
    plan: Plan, gatehouse: str, auth: str, cerbos_url: str, allowed: list[bool]
) -> list[Row]:
    """The rows, in pairs: each server's no-op (its HTTP stack doing nothing), then the checks.
    Single checks are the allowed ones only: a denied check is a 403 from sessions/authenticate,
    which wrk counts as an error."""
    singles = [s for s, ok in zip(plan.singles, allowed, strict=True) if ok]
    basic = {"Authorization": auth}
    return [
        Row(GATEHOUSE_NOOP, gatehouse + "/healthz", None, 0, {}),
        Row(CERBOS_NOOP, cerbos_url + "/_cerbos/health", None, 0, {}),
        Row(
            GATEHOUSE_SINGLE,
            gatehouse + "/v1/b2b/sessions/authenticate",
            [plan.gatehouse_single(m, c) for m, c in singles],
            1,
            basic,
        ),
        Row(
            CERBOS_SINGLE,
            cerbos_url + "/api/check/resources",
            [plan.cerbos(m, [c]) for m, c in singles],
            1,
            {},
        ),
        Row(
            GATEHOUSE_BATCH,
            gatehouse + "/v1/b2b/gatehouse/authorize",
            [plan.gatehouse_batch(m, c) for m, c in plan.batches],
            BATCH_SIZE,
            basic,
        ),
        Row(
            CERBOS_BATCH,
            cerbos_url + "/api/check/resources",
            [plan.cerbos(m, c) for m, c in plan.batches],
            BATCH_SIZE,
            {},
        ),
    ]


def throughput_table(rows: list[Row], workers: int, duration_s: float, notes: list[str]) -> Table:
    cells, warnings, goals = [], [], []
    pairs = (
        (rows[0], rows[1], NOOP, 0.0),
        (rows[2], rows[3], SINGLE, GOAL_SINGLE),
        (rows[4], rows[5], BATCH, GOAL_BATCH),
    )
    for ours, theirs, label, goal in pairs:
        for row in (ours, theirs):
            result = row.result
            if result is None:
                cells.append([row.name, "not measured: no bodies", "", "", "", "", ""])
                continue
            errors = "0"
            if not result.requests:
                errors = "⚠ no request completed"
                warnings.append(f"WARNING: no {row.name} request completed within the run")
            elif result.errors:
                errors = f"⚠ {result.non_2xx:,} non-2xx, {result.socket_errors:,} socket"
                warnings.append(
                    f"WARNING: {result.errors:,} of {result.requests:,} {row.name} requests "
                    "failed; its figures measure errors, not the server"
                )
            if result.seconds > duration_s * 1.5:
                warnings.append(
                    f"note: {row.name} ran {result.seconds:,.0f} s: at {duration_s:g} s its "
                    "latency was over a tenth of the run, so it was run again, longer"
                )
            if _slow(result):
                warnings.append(
                    f"note: {row.name}: p50 {result.p50_ms:,.0f} ms is over a tenth of the run; "
                    f"the requests in flight when it ended are not counted (at most {CONNECTIONS}, "
                    f"{CONNECTIONS / result.seconds:,.0f} req/s)"
                )
            share = ""
            if row is ours and theirs.result is not None and theirs.result.requests_per_second:
                share = f"{result.requests_per_second / theirs.result.requests_per_second:,.2f}×"
            cells.append(
                [
                    row.name,
                    rate(result.requests_per_second),
                    rate(result.requests_per_second * row.checks_per_request)
                    if row.checks_per_request
                    else "—",
                    f"{result.p50_ms:.2f}",
                    f"{result.p99_ms:.2f}",
                    share,
                    errors,
                ]
            )
        if goal:
            goals.append(_goal(label, ours.result, theirs.result, goal))
    title = (
        f"peers: HTTP throughput, Gatehouse ({workers} worker{'s' if workers != 1 else ''}, "
        f"SQLite) vs Cerbos {cerbos.CERBOS_VERSION}; wrk {THREADS} threads × {CONNECTIONS} connections, "
        f"{duration_s:g} s per row (longer where noted)"
    )
    notes = (
        warnings
        + goals
        + notes
        + [
            "both servers and wrk share this machine's CPUs on loopback; one row runs at a time, "
            f"after an unmeasured {WARMUP_S} s warm-up of the same requests on "
            f"{WARMUP_CONNECTIONS} connections",
            "each row cycles through many bodies (different members, resources and actions); the "
            "single checks are allowed ones (a denial is a 403 from sessions/authenticate)",
        ]
    )
    return Table(title, COLUMNS, cells, notes)


def _goal(
    label: str,
    ours: load.WrkResult | None,
    theirs: load.WrkResult | None,
    goal: float,
) -> str:
    if (
        ours is None
        or theirs is None
        or ours.errors
        or theirs.errors
        or not ours.requests
        or not theirs.requests
    ):
        return f"{label}: goal ≥ {goal:g}× Cerbos not judged (a row failed or was not measured)"
    share = ours.requests_per_second / theirs.requests_per_second
    # Judged against the most Cerbos could have done: its requests still in flight when the run
    # ended counted as done (a visible share only when its latency is a visible share of the run).
    at_most = theirs.requests_per_second + CONNECTIONS / theirs.seconds
    least = ours.requests_per_second / at_most
    shown = f"{share:,.2f}×"
    if least < share * 0.95:
        shown += f" (≥ {least:,.2f}× counting Cerbos's requests in flight at the end as done)"
    verdict = "goal met" if least >= goal else f"goal NOT met (missed by {goal / least:.1f}×)"
    return f"{label}: Gatehouse/Cerbos {shown} (goal ≥ {goal:g}×): {verdict}"


def _slow(result: load.WrkResult) -> bool:
    """Whether the requests in flight at the end of the run may be a visible share of it."""
    return result.p50_ms > result.seconds * 100


# --- the section --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    members: int  # role sets of the stream, one member each
    batches: int  # BATCH_SIZE-check bodies
    singles: int  # single-check bodies


FULL = Size(members=20, batches=40, singles=SINGLE_CHECKS)
QUICK = Size(members=10, batches=20, singles=200)


def run(options: BenchOptions) -> list[Table]:
    wrk = load.find_wrk()
    if wrk is None:
        raise SectionSkipped("wrk not found; apt-get install wrk")
    binary = cerbos.find_binary()
    if binary is None:
        raise SectionSkipped(
            f"the Cerbos PDP {cerbos.CERBOS_VERSION} (an optional bench extra) is not installed; "
            f"install it with `{cerbos.install_command()}` (or scripts/install-bench-peers)"
        )
    size = QUICK if options.quick else FULL
    # A stream long enough that the most-asked role sets have BATCH_SIZE checks each, often over.
    workload = engine.sized(engine.RESOURCES, engine.ROLES, 150 * engine.ROLESETS)
    return measure(wrk, binary, workload, size, duration_s=3 if options.quick else 10)


def measure(
    wrk: str,
    binary: Path,
    workload: engine.Workload,
    size: Size,
    *,
    duration_s: float,
    workers: int = WORKERS,
    max_row_s: float = MAX_ROW_S,
) -> list[Table]:
    """The decisions table, then the throughput table; raises if any decision disagrees."""
    notes = []
    if workers != 1 and not load.serve_supports_workers():
        notes.append(
            f"`gatehouse serve` has no --workers option in this build: 1 worker, not {workers}"
        )
        workers = 1
    policy = workload.policy
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-peers-") as tmp:
        directory = Path(tmp)
        database_url = f"sqlite:///{directory / 'gatehouse.db'}"
        credentials = load.init_database(database_url)
        apply_policy(database_url, credentials["project_id"], policy, directory)
        auth = load.basic_auth(credentials["project_id"], credentials["secret"])
        with (
            load.running_server(database_url, directory, workers) as server,
            cerbos.running(binary, policy, directory) as cerbos_url,
        ):
            organization = _ok(
                server.url, "/v1/b2b/organizations", {"organization_name": "Peers bench"}, auth
            )["organization"]["organization_id"]
            rolesets = choose_rolesets(workload.requests, size.members)
            members = sign_in_members(server.url, auth, organization, rolesets)
            batches, singles = plan_checks(workload.requests, rolesets, size.batches, size.singles)
            plan = Plan(organization, members, batches, singles)
            batched, single, allowed = compare(plan, policy, server.url, auth, cerbos_url)
            decisions = decisions_table([batched, single], workload.describe())
            if batched.examples or single.examples:
                raise RuntimeError(
                    "peers: Gatehouse and Cerbos disagree; nothing was measured:\n"
                    + "\n".join(n for n in decisions.notes if n.startswith("DISAGREEMENT"))
                )
            rows = load_rows(plan, server.url, auth, cerbos_url, allowed)
            for row in rows:
                if row.bodies is None:
                    load.run_wrk(
                        row.url,
                        duration_s=WARMUP_S,
                        threads=1,
                        connections=WARMUP_CONNECTIONS,
                        wrk=wrk,
                    )
                    row.result, _ = load.run_wrk(
                        row.url,
                        duration_s=duration_s,
                        threads=THREADS,
                        connections=CONNECTIONS,
                        wrk=wrk,
                    )
                elif row.bodies:
                    run_rotating(
                        wrk, row.url, row.bodies, row.headers, WARMUP_S, WARMUP_CONNECTIONS
                    )
                    row.result = run_rotating(wrk, row.url, row.bodies, row.headers, duration_s)
                    if _slow(row.result) and max_row_s > duration_s:
                        longer = min(max_row_s, max(2 * duration_s, row.result.p50_ms / 50))
                        row.result = run_rotating(wrk, row.url, row.bodies, row.headers, longer)
    return [decisions, throughput_table(rows, workers, duration_s, notes)]
