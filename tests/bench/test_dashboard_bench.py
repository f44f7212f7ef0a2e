"""The dashboard bench runs end to end in quick mode: it seeds, serves, signs in through the sign-in
form, and prints a row per page (measured, or `not built` for a page answering 404), each against
the `/healthz` baseline of the same run."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from gatehouse.bench import dashboard
from gatehouse.bench.report import print_tables
from gatehouse.bench.suite import BenchOptions, run_section

# A benchmark: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow

PAGES = [
    "baseline: GET /healthz",
    "projects",
    "workspace members",
    "event log, first page",
    "event log, deep page (cursor)",
    "event log, by action, deep",
    "workspace event log",
    "organizations",
    "organization",
    "organization, members by email",
    "member",
]


def test_a_quick_run_prints_a_row_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "QUICK_MEMBERS", 1_000)
    monkeypatch.setattr(dashboard, "QUICK_REQUESTS", 5)
    [table] = run_section("dashboard", BenchOptions(quick=True))
    assert table.columns == dashboard.COLUMNS
    assert [row[0] for row in table.rows] == PAGES
    by_name = {row[0]: row for row in table.rows}
    assert by_name["baseline: GET /healthz"][4] == "1.000×"
    for name in PAGES:  # every page is built: none answers 404 ("not built")
        _, _, p50, p95, versus, goal = by_name[name]
        assert 0 < float(p50) <= float(p95), name
        assert versus.endswith("×") and goal in ("—", "met", "MISSED"), name
    assert "?before=" in by_name["event log, deep page (cursor)"][1]
    assert any("1,000 members" in note for note in table.notes)

    out = io.StringIO()
    print_tables([table], Console(file=out, width=200))
    printed = out.getvalue()
    assert "dashboard: sqlite, warm page latency at 1,000 members" in printed
    for name in PAGES:
        assert name in printed
