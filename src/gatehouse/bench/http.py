"""HTTP section: a real `gatehouse serve` subprocess under wrk on loopback, over SQLite.

Rows share one run so they can be compared: `GET /healthz` (the same stack doing nothing) is the
baseline; the session authenticate call with an authorization check is the endpoint apps call
per request; the batch endpoint answers 1,000 checks per request; and the check again, paced at
half the rate it saturated at (`wrk/paced.lua`: wrk2 is not packaged here), for its latency at
a load a server is run at. Every row is first asked once and its answer checked (status and
verdicts), and wrk's error counts are reported, because a load test of failing requests measures
nothing but the error path.

The server comparison (issue 14) runs the same rows, 2 workers, on the stack before the hot path
(`http_hot_path = false`), on this build, and under granian when it is installed, each against
this build's no-op measured in the same table.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatehouse.bench import load
from gatehouse.bench.report import SectionSkipped, Table, rate, ratio
from gatehouse.bench.suite import BenchOptions

THREADS = 2
CONNECTIONS = 50
WORKERS = 2
BATCH_SIZE = 1_000
GOAL_CHECK_SHARE = 0.80  # of the no-op's throughput, with 1 and 2 workers
PACED_SHARE = 0.5  # of the check's saturation throughput
GOAL_PACED_P99_MS = 5.0
GOAL_BATCH_CHECKS = 2_000_000  # with 2 workers
GOAL_BATCH_WORKERS = 2
ROUNDS = 3  # turns each row's time is split into, taken in turn with the other rows' (full runs)
COLUMNS = ["endpoint", "req/s", "vs no-op", "p50 ms", "p99 ms", "checks/s", "errors"]

HEALTHZ = "GET /healthz (no-op)"
AUTHENTICATE = "POST sessions/authenticate (1 check)"
BATCH = f"POST gatehouse/authorize ({BATCH_SIZE:,} checks)"
PACED = f"POST sessions/authenticate (1 check), paced at {PACED_SHARE:.0%} of its req/s"

# The member is stytch_admin: allowed on stytch.member, denied stytch.self deletion (no role of
# the default policy grants it), so a batch mixes both verdicts.
ALLOWED = ("stytch.member", "create")
DENIED = ("stytch.self", "delete")


@dataclass
class Row:
    """One endpoint: what to send, and, once measured, what wrk saw (or why it was not run)."""

    name: str
    path: str
    checks_per_request: int
    body: dict[str, Any] | None = None
    result: load.WrkResult | None = None
    not_measured: str = ""
    rate: float | None = None  # requests per second offered (None: as fast as answered)


def run(options: BenchOptions) -> list[Table]:
    wrk = load.find_wrk()
    if wrk is None:
        raise SectionSkipped("wrk not found; apt-get install wrk")
    duration_s = 3 if options.quick else 12
    rounds = 1 if options.quick else ROUNDS
    tables = measure(wrk, duration_s=duration_s, scaling=not options.quick, rounds=rounds)
    return [*tables, compare_servers(wrk, duration_s=duration_s, rounds=rounds)]


def measure(
    wrk: str, *, duration_s: float, scaling: bool, workers: int = WORKERS, rounds: int = 1
) -> list[Table]:
    """The tables: one at `workers` worker processes, and with `scaling` one more at 1 worker;
    each row's `duration_s` split into `rounds` taken in turn with the other rows'."""
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-http-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'gatehouse.db'}"
        credentials = load.init_database(database_url)
        auth = load.basic_auth(credentials["project_id"], credentials["secret"])
        notes: list[str] = []
        counts = [workers]
        if workers != 1 and not load.serve_supports_workers():
            counts = [1]
            notes.append(
                f"`gatehouse serve` has no --workers option in this build: measured with 1 worker "
                f"instead of {workers}"
            )
        elif scaling and workers != 1:
            counts.append(1)
        session: load.MemberSession | None = None
        tables = []
        for count in counts:
            with load.running_server(database_url, Path(tmp), count) as server:
                if session is None:
                    session = load.signed_in_member(server.url, auth, ["stytch_admin"])
                rows = _rows(session)
                for row in rows:
                    row.not_measured = _verify(server.url, auth, row, session)
                _load_rows(wrk, server.url, auth, rows, duration_s, rounds)
                paced = _paced(wrk, server.url, auth, rows[1], duration_s)
            tables.append(_table([*rows, paced], count, duration_s, notes))
        return tables


def _load_rows(
    wrk: str, url: str, auth: str, rows: list[Row], duration_s: float, rounds: int
) -> None:
    """Every measurable row, in `rounds` turns of `duration_s / rounds` each: a machine whose
    load drifts (other work on its 2 cores) then weighs on every row alike, and the ratios
    between rows hold better than their absolute figures."""
    turns: dict[str, list[load.WrkResult]] = {row.name: [] for row in rows}
    for _ in range(rounds):
        for row in rows:
            if not row.not_measured:
                turns[row.name].append(_load(wrk, url, auth, row, duration_s / rounds))
    for row in rows:
        if turns[row.name]:
            row.result = load.combined(turns[row.name])


def _paced(wrk: str, url: str, auth: str, check: Row, duration_s: float) -> Row:
    """The check again at `PACED_SHARE` of the rate it saturated at."""
    row = Row(PACED, check.path, 1, check.body)
    if check.result is None or check.result.errors:
        row.not_measured = "not measured: the check's saturation run failed"
        return row
    row.rate = check.result.requests_per_second * PACED_SHARE
    row.result = _load(wrk, url, auth, row, duration_s)
    return row


def _rows(session: load.MemberSession) -> list[Row]:
    check = {"organization_id": session.organization_id}
    checks = [
        {"resource_id": resource, "action": action}
        for resource, action in (ALLOWED if i % 2 == 0 else DENIED for i in range(BATCH_SIZE))
    ]
    return [
        Row(HEALTHZ, "/healthz", 0),
        Row(
            AUTHENTICATE,
            "/v1/b2b/sessions/authenticate",
            1,
            {
                "session_token": session.session_token,
                "authorization_check": {
                    **check,
                    "resource_id": ALLOWED[0],
                    "action": ALLOWED[1],
                },
            },
        ),
        Row(
            BATCH,
            "/v1/b2b/gatehouse/authorize",
            BATCH_SIZE,
            {"session_token": session.session_token, **check, "checks": checks},
        ),
    ]


def _verdict(result: Any) -> bool | None:
    """A batch result's verdict, whether the endpoint answers booleans or objects."""
    if isinstance(result, bool):
        return result
    if isinstance(result, dict):
        for key in ("authorized", "allowed"):
            if isinstance(result.get(key), bool):
                return bool(result[key])
    return None


def _verify(url: str, auth: str, row: Row, session: load.MemberSession) -> str:
    """Ask once and check the answer: empty when right, else why the row is not measured."""
    if row.body is None:
        status, answer = load.http_json("GET", url + row.path)
        return "" if status == 200 and answer == {"status": "ok"} else f"answered {status}"
    if row.name == AUTHENTICATE:
        return _verify_authenticate(url, auth, row, session)
    return _verify_batch(url, auth, row)


def _post(url: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, answer = load.http_json("POST", url, body, {"Authorization": auth})
    return status, answer if isinstance(answer, dict) else {"body": answer}


def _verify_authenticate(url: str, auth: str, row: Row, session: load.MemberSession) -> str:
    assert row.body is not None
    status, answer = _post(url + row.path, auth, row.body)
    if status != 200 or not (answer.get("verdict") or {}).get("authorized"):
        return f"WRONG ANSWER: {status} {str(answer)[:200]}"
    check = {"organization_id": session.organization_id}
    denied = {
        **row.body,
        "authorization_check": {**check, "resource_id": DENIED[0], "action": DENIED[1]},
    }
    status, answer = _post(url + row.path, auth, denied)
    if status != 403 or answer.get("error_type") != "session_authorization_error":
        return f"WRONG ANSWER to a denied check: {status} {str(answer)[:200]}"
    return ""


def _verify_batch(url: str, auth: str, row: Row) -> str:
    assert row.body is not None
    status, answer = _post(url + row.path, auth, row.body)
    if status == 404 and answer.get("error_type") == "route_not_found":
        return "skipped: the endpoint is not there yet (404)"
    results = answer.get("results")
    if status != 200 or not isinstance(results, list):
        return f"WRONG ANSWER: {status} {str(answer)[:200]}"
    expected = [c["resource_id"] == ALLOWED[0] for c in row.body["checks"]]
    got = [_verdict(r) for r in results]
    if got != expected:
        wrong = sum(g != e for g, e in zip(got, expected, strict=False))
        return (
            f"WRONG ANSWER: {len(results)} results, {wrong} verdicts differ "
            f"(first result: {str(results[:1])[:120]})"
        )
    return ""


def _load(wrk: str, url: str, auth: str, row: Row, duration_s: float) -> load.WrkResult:
    headers: dict[str, str] = {}
    body = None
    if row.body is not None:
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        body = json.dumps(row.body).encode()
    result, _ = load.run_wrk(
        url + row.path,
        duration_s=duration_s,
        threads=THREADS,
        connections=CONNECTIONS,
        headers=headers,
        body=body,
        wrk=wrk,
        rate=row.rate,
    )
    return result


def _table(
    rows: list[Row], workers: int, duration_s: float, notes: list[str], title: str = ""
) -> Table:
    baseline = rows[0].result.requests_per_second if rows[0].result else 0.0
    cells = []
    warnings = []
    for row in rows:
        result = row.result
        if result is None:
            cells.append([row.name, row.not_measured, "", "", "", "", ""])
            if row.not_measured.startswith("WRONG"):
                warnings.append(f"WARNING: {row.name} was not measured: {row.not_measured}")
            continue
        name, errors = row.name, "0"
        if result.errors:
            name = f"{row.name}  ⚠ ERRORS"
            errors = f"⚠ {result.non_2xx:,} non-2xx, {result.socket_errors:,} socket"
            warnings.append(
                f"WARNING: {result.errors:,} of {result.requests:,} {row.name} requests failed; "
                "its figures measure errors, not the endpoint"
            )
        cells.append(
            [
                name,
                rate(result.requests_per_second),
                ratio(result.requests_per_second, baseline),
                f"{result.p50_ms:.2f}",
                f"{result.p99_ms:.2f}",
                rate(result.requests_per_second * row.checks_per_request)
                if row.checks_per_request
                else "—",
                errors,
            ]
        )
    title = title or (
        f"http: gatehouse serve, {workers} worker{'s' if workers != 1 else ''}, SQLite; "
        f"wrk {THREADS} threads × {CONNECTIONS} connections, {duration_s:g} s per row"
    )
    notes = [*notes, _ROUNDS_NOTE]
    goals = _goal_notes(rows, baseline, workers) if not title.startswith("http: servers") else []
    return Table(title, COLUMNS, cells, warnings + goals + notes)


_ROUNDS_NOTE = (
    "rows measured in turns (full runs: 3 rounds of a third of the time each, the rows taken in "
    "turn); req/s over all rounds, p50 and p99 the median of the rounds'; the paced row last"
)


def _met(met: bool) -> str:
    return "goal met" if met else "goal NOT met"


def _goal_notes(rows: list[Row], baseline: float, workers: int) -> list[str]:
    notes = [
        f"goals (issue 14): the authorization check ≥ {GOAL_CHECK_SHARE:.0%} of the no-op's req/s "
        f"with 1 and 2 workers; its p99 ≤ {GOAL_PACED_P99_MS:g} ms at {PACED_SHARE:.0%} of its "
        f"saturation req/s; the batch ≥ {GOAL_BATCH_CHECKS:,} checks/s with "
        f"{GOAL_BATCH_WORKERS} workers",
    ]
    check, batch = rows[1].result, rows[2].result
    paced = rows[3] if len(rows) > 3 else None
    if check is not None and baseline and not check.errors:
        share = check.requests_per_second / baseline
        notes.append(
            f"authorization check vs no-op, {workers} worker{'s' if workers != 1 else ''}: "
            f"{share:.3f}× (goal ≥ {GOAL_CHECK_SHARE:.2f}×): {_met(share >= GOAL_CHECK_SHARE)}"
        )
    if paced is not None and paced.result is not None and not paced.result.errors:
        result, offered = paced.result, paced.rate or 0.0
        notes.append(
            f"p99 at {PACED_SHARE:.0%} of the check's saturation ({rate(offered)} req/s offered, "
            f"{rate(result.requests_per_second)} achieved): {result.p99_ms:.2f} ms, "
            f"{result.p99_ms / GOAL_PACED_P99_MS:.2f}× the {GOAL_PACED_P99_MS:g} ms goal: "
            + _met(result.p99_ms <= GOAL_PACED_P99_MS)
        )
    if batch is not None and not batch.errors:
        checks = batch.requests_per_second * BATCH_SIZE
        if workers == GOAL_BATCH_WORKERS:
            notes.append(
                f"batch, {workers} workers: {rate(checks)} checks/s, "
                f"{checks / GOAL_BATCH_CHECKS:.2f}× the {GOAL_BATCH_CHECKS:,} goal: "
                + _met(checks >= GOAL_BATCH_CHECKS)
            )
        else:
            notes.append(f"batch, {workers} worker: {rate(checks)} checks/s (the goal is for 2)")
    notes.append(
        f"paced row: wrk with wrk/paced.lua, each thread sending on a fixed schedule "
        f"(1 / rate apart) over the same {CONNECTIONS} connections; latency from each write"
    )
    notes.append(
        "paths: /v1/b2b/sessions/authenticate with `authorization_check` (allowed), "
        "/v1/b2b/gatehouse/authorize (half allowed, half denied); one stytch_admin member session"
    )
    notes.append(
        "server and wrk share this machine's CPUs on loopback; req/s are compared within the "
        "table, not read absolutely"
    )
    return notes


# -- the server comparison -------------------------------------------------------------------

STACKS: list[tuple[str, str, dict[str, str]]] = [
    # (label, server, environment): the first is the baseline of the table.
    ("uvicorn, this build", "uvicorn", {}),
    (
        "uvicorn, ordinary stack (http_hot_path off)",
        "uvicorn",
        {"GATEHOUSE_HTTP_HOT_PATH": "false"},
    ),
    ("granian, this build", "granian", {}),
]


# A source tree of another build (e.g. `git archive <commit> src | tar -x -C DIR`, then DIR/src)
# adds its stack to the comparison: the same rows, served by that build's code.
BASELINE_SRC = "GATEHOUSE_BENCH_BASELINE_SRC"


def _stacks() -> list[tuple[str, str, dict[str, str]]]:
    stacks = list(STACKS)
    baseline = os.environ.get(BASELINE_SRC)
    if baseline:
        stacks.insert(1, (f"uvicorn, the build in {baseline}", "uvicorn", {"PYTHONPATH": baseline}))
    return stacks


def compare_servers(
    wrk: str, *, duration_s: float, workers: int = WORKERS, rounds: int = 1
) -> Table:
    """The no-op, the check and the batch on each stack of `STACKS` (and of the build named by
    `GATEHOUSE_BENCH_BASELINE_SRC`), `workers` workers each, in one run; ratios against the
    first stack's no-op."""
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-servers-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'gatehouse.db'}"
        credentials = load.init_database(database_url)
        auth = load.basic_auth(credentials["project_id"], credentials["secret"])
        session: load.MemberSession | None = None
        measured: list[Row] = []
        notes: list[str] = []
        for label, server_name, env in _stacks():
            launch = load.running_granian if server_name == "granian" else load.running_server
            try:
                running = launch(database_url, Path(tmp), workers, env)
                server = running.__enter__()
            except (FileNotFoundError, RuntimeError) as error:
                notes.append(f"{label}: not measured ({str(error)[:160]})")
                continue
            try:
                if session is None:
                    session = load.signed_in_member(server.url, auth, ["stytch_admin"])
                rows = _rows(session)
                for row in rows:
                    row.name = f"{label}: {row.name}"
                    row.not_measured = _verify(server.url, auth, _unlabelled(row), session)
                _load_rows(wrk, server.url, auth, rows, duration_s, rounds)
                measured += rows
            finally:
                running.__exit__(None, None, None)
    title = (
        f"http: servers compared, {workers} workers each, SQLite; wrk {THREADS} threads × "
        f"{CONNECTIONS} connections, {duration_s:g} s per row; 'vs no-op' against the first row"
    )
    notes += [
        "granian: its default options (runtime, loop), the app and settings as `gatehouse serve "
        "--workers` builds them; what it would lose is in docs/PERFORMANCE.md",
    ]
    return _table(measured, workers, duration_s, notes, title)


def _unlabelled(row: Row) -> Row:
    """The row under its own name, for `_verify` (which knows rows by name)."""
    return Row(row.name.split(": ", 1)[-1], row.path, row.checks_per_request, row.body)
