"""The engine benchmark compares decisions, not only speed: every engine must agree with Gatehouse,
and Gatehouse with the semantics written out plainly. Timings are printed, never asserted."""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
import types
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gatehouse.bench import engine, suite
from gatehouse.bench.report import (
    SectionSkipped,
    Table,
    print_tables,
    rate,
    ratio,
    to_markdown,
)
from gatehouse.cli.main import app
from gatehouse.policy import WILDCARD, Policy

# A benchmark: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow

# The test extra installs these peers, so their agreement is checked on every run; oso cannot be
# installed next to this project's cryptography pin (see the bench extra), so it may be missing.
REQUIRED_PEERS = ("stytch", "casbin", "cedarpy")


@pytest.fixture(autouse=True)
def one_run_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing is not under test: one measured run per engine keeps these tests quick."""
    monkeypatch.setattr(engine, "MEASURE_SECONDS", 0.0)


def small() -> engine.Workload:
    """A stream every peer, even pycasbin's plain Enforcer, answers whole in a few seconds."""
    return engine.generate(resources=20, roles=6, checks=500)


def semantics(policy: Policy, roles: frozenset[str], resource: str, action: str) -> bool:
    """The rule, as the Stytch docs state it: a role grants an action on a resource if it lists
    that action or `*` on that resource."""
    return any(
        permission.resource_id == resource
        and (action in permission.actions or WILDCARD in permission.actions)
        for role in policy.roles
        if role.role_id in roles
        for permission in role.permissions
    )


def test_the_stream_exercises_every_kind_of_decision():
    work = small()
    declared = {r.resource_id: r.actions for r in work.policy.resources}
    decisions = [semantics(work.policy, *check) for check in work.requests]
    assert 0.2 < sum(decisions) / len(decisions) < 0.8
    assert any(res == engine.UNKNOWN_RESOURCE for _, res, _ in work.requests)
    undeclared_but_granted = [
        check
        for check, allowed in zip(work.requests, decisions, strict=True)
        if allowed and check[1] in declared and check[2] not in declared[check[1]]
    ]
    assert undeclared_but_granted, "`*` must be seen granting an action the resource lacks"


def test_gatehouse_decides_as_the_semantics_say():
    work = small()
    compiled = engine.compile_policy(work.policy)
    assert [compiled.check(*c) for c in work.requests] == [
        semantics(work.policy, *c) for c in work.requests
    ]


def test_every_installed_engine_agrees_with_gatehouse_on_a_generated_stream():
    work = small()
    results = engine.compare(work, sample=False)
    assert [r.name for r in results] == [e.name for e in engine.ENGINES]
    for result in results:
        if result.skipped:
            assert result.name.startswith("oso"), result.skipped
            assert result.skipped.startswith("not installed (")
            continue
        assert result.checks == len(work.requests), result.name
        assert result.rate > 0, result.name
        if result.name.startswith("baseline"):
            assert result.disagreements is None
        else:
            assert result.disagreements == 0, result.name
    ran = {r.name.split()[0] for r in results if not r.skipped}
    assert {"gatehouse", "stytch", "pycasbin", "cedarpy"} <= ran


@pytest.mark.parametrize("module", REQUIRED_PEERS)
def test_the_test_extra_installs_the_peers(module: str):
    assert importlib.util.find_spec(module) is not None, f"{module}: pip install -e .[test]"


def test_sampling_runs_the_slow_peers_on_a_prefix_and_never_less_than_the_minimum():
    work = engine.generate(resources=10, roles=3, checks=1_000)
    slow = engine.Engine("slow", engine._gatehouse, share=100)
    quick = engine.Engine("quick", engine._gatehouse)
    (sampled, whole) = engine.compare(work, [slow, quick])
    assert sampled.checks == engine.MIN_SAMPLE
    assert whole.checks == 1_000


def test_a_peer_that_is_not_installed_gets_a_row_saying_so():
    def missing(policy: Policy, subjects: object) -> engine.Decide:
        raise ModuleNotFoundError("No module named 'cedarpy'", name="cedarpy")

    work = engine.generate(resources=5, roles=2, checks=50)
    results = engine.compare(work, [engine.ENGINES[0], engine.Engine("cedar", missing)])
    table = engine.engines_table(work, results)
    assert table.rows[1][0] == "cedar"
    assert "not installed (pip install -e .[bench])" in table.rows[1]


def test_a_broken_peer_is_an_error_not_a_missing_package():
    def broken(policy: Policy, subjects: object) -> engine.Decide:
        raise ModuleNotFoundError("No module named 'gatehouse.nope'", name="gatehouse.nope")

    work = engine.generate(resources=5, roles=2, checks=50)
    with pytest.raises(ModuleNotFoundError):
        engine.compare(work, [engine.Engine("broken", broken)])


def test_sized_counts_the_default_resources_and_roles():
    work = engine.sized(resources=40, roles=10, checks=10)
    assert (len(work.policy.resources), len(work.policy.roles)) == (40, 10)
    assert len({r.resource_id for r in work.policy.resources}) == 40


# --- the report model and the section runner ------------------------------------------------


def test_numbers_are_formatted_for_reading():
    assert rate(4_788_321.4) == "4,788,321"
    assert ratio(905, 1000) == "0.905×"
    assert ratio(1, 0) == "—"
    assert ratio(23, 7_789_972) == "0.0000030×"  # slow peers keep two significant digits


def test_markdown_holds_every_table_with_its_notes():
    tables = [
        Table("engine: first", ["engine", "checks/s"], [["a | b", "1,000"]], ["a note"]),
        Table("http: second", ["endpoint", "req/s"], [["GET /healthz", "3,054"]]),
    ]
    text = to_markdown(tables, header="measured somewhere")
    assert text.startswith("measured somewhere\n")
    assert "### engine: first" in text and "### http: second" in text
    assert "| engine | checks/s |\n|:---|---:|\n| a \\| b | 1,000 |" in text
    assert "| GET /healthz | 3,054 |" in text
    assert "- a note" in text
    assert text.index("engine: first") < text.index("- a note") < text.index("http: second")


def test_printed_cells_are_text_not_markup():
    out = io.StringIO()
    table = Table(
        "peers [x]",
        ["engine", "checks/s"],
        [["cedarpy", "not installed (pip install -e .[bench])"]],
    )
    print_tables([table], Console(file=out, width=200))
    assert "peers [x]" in out.getvalue()
    assert "not installed (pip install -e .[bench])" in out.getvalue()


def _section_module(monkeypatch: pytest.MonkeyPatch, name: str, run: object) -> None:
    module = types.ModuleType(name)
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)


def test_the_runner_skips_missing_and_declining_sections_with_a_clear_row(
    monkeypatch: pytest.MonkeyPatch,
):
    def declines(options: suite.BenchOptions) -> list[Table]:
        raise SectionSkipped("no PostgreSQL server given (--database-url)")

    def works(options: suite.BenchOptions) -> list[Table]:
        return [Table(f"fine, quick={options.quick}", ["a"], [["1"]])]

    _section_module(monkeypatch, "tests.bench.fake_declines", declines)
    _section_module(monkeypatch, "tests.bench.fake_works", works)
    monkeypatch.setattr(
        suite,
        "SECTIONS",
        {
            "absent": "gatehouse.bench.no_such_section",
            "declines": "tests.bench.fake_declines",
            "works": "tests.bench.fake_works",
        },
    )
    seen: list[list[Table]] = []
    tables = suite.run_sections(
        ["absent", "declines", "works"], suite.BenchOptions(quick=True), each=seen.append
    )
    assert [t.rows for t in tables] == [
        [
            [
                "absent",
                "skipped: section not available (gatehouse.bench.no_such_section does not exist)",
            ]
        ],
        [["declines", "skipped: no PostgreSQL server given (--database-url)"]],
        [["1"]],
    ]
    assert tables[2].title == "fine, quick=True"
    assert [len(s) for s in seen] == [1, 1, 1]


def test_a_section_missing_one_of_its_own_imports_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    (tmp_path / "bench_section_needing_x.py").write_text(
        textwrap.dedent(
            """
            import package_that_is_not_installed_anywhere

            def run(options):
                return []
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(suite, "SECTIONS", {"needs": "bench_section_needing_x"})
    with pytest.raises(ModuleNotFoundError, match="package_that_is_not_installed_anywhere"):
        suite.run_sections(["needs"], suite.BenchOptions(quick=True))


def test_the_header_names_the_machine_and_the_libraries():
    header = suite.machine_facts()
    assert "CPUs" in header and "gatehouse 0.1.0" in header and "stytch " in header


# --- the command ---------------------------------------------------------------------------


def test_the_cli_runs_the_engine_section_and_writes_markdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    # The real quick sizes take seconds; the command's wiring is what is under test here.
    monkeypatch.setattr(engine, "QUICK_CHECKS", 400)
    monkeypatch.setattr(engine, "POLICY_SIZES", (10, 20))
    monkeypatch.setattr(engine, "COMPILE_SIZE", (30, 30))
    out = tmp_path / "bench.md"
    result = CliRunner().invoke(
        app,
        ["bench", "--quick", "--only", "engine", "--markdown", str(out)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "CPython" in result.output.splitlines()[0]
    assert "engine: 204 resources, 52 roles" in result.output
    assert "gatehouse CompiledPolicy.check" in result.output
    assert "vs baseline A" in result.output and "gatehouse speed-up" in result.output
    markdown = out.read_text()
    assert markdown.count("### engine:") == 3
    assert "| gatehouse CompiledPolicy.check | 400 |" in markdown


def test_the_cli_refuses_an_unknown_section():
    result = CliRunner().invoke(app, ["bench", "--only", "engine,nope"])
    assert result.exit_code == 1
    assert "unknown section(s) nope; choose from engine, http, scale, propagation" in result.output
