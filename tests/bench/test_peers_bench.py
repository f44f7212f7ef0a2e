"""The peers section compares like with like: the policy translated for Cerbos decides every
generated check as Gatehouse's CompiledPolicy does, and a short run of the whole section against
both real servers finds no disagreement and prints every row. Timings are printed, never asserted.

The Cerbos binary is an optional bench extra (scripts/install-bench-peers; scripts/test installs
it with the slow tests): without it these tests skip with the reason, but never under CI
(CI=true), where they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatehouse.bench import cerbos, engine, load, pdp
from gatehouse.bench.report import SectionSkipped
from gatehouse.bench.suite import BenchOptions, run_section
from gatehouse.cli.main import app
from gatehouse.policy import WILDCARD, Permission, Policy, Resource, Role, compile_policy

# A benchmark: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow

WRK = load.find_wrk()
needs_wrk = pytest.mark.needs_wrk


def cerbos_binary() -> Path:
    binary = cerbos.find_binary()
    if binary is None:
        reason = f"the Cerbos PDP is not installed: {cerbos.install_command()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the peers bench: {reason}")
        pytest.skip(reason)
    return binary


def tiny() -> engine.Workload:
    return engine.generate(resources=5, roles=3, checks=3_000)


def test_the_translation_is_a_rule_per_role_on_each_granted_resource() -> None:
    policy = Policy(
        resources=(
            Resource("doc", "", ("read", "write")),
            Resource("nobody", "", ("read",)),
        ),
        roles=(
            Role("reader", "", (Permission("doc", ("read",)),)),
            Role("owner", "", (Permission("doc", (WILDCARD,)),)),
        ),
    )
    [document] = cerbos.policies_of(policy).values()
    assert document["resourcePolicy"]["resource"] == "doc"
    assert document["resourcePolicy"]["rules"] == [
        {"actions": ["read"], "effect": "EFFECT_ALLOW", "roles": ["reader"]},
        {"actions": [WILDCARD], "effect": "EFFECT_ALLOW", "roles": ["owner"]},
    ]


def test_an_action_cerbos_would_read_as_a_pattern_is_refused() -> None:
    policy = Policy(
        resources=(Resource("doc", "", ("read:all",)),),
        roles=(Role("reader", "", (Permission("doc", ("read:all",)),)),),
    )
    with pytest.raises(ValueError, match="`read:all` has no equivalent in Cerbos"):
        cerbos.policies_of(policy)


def test_cerbos_decides_every_generated_check_as_compiled_policy(tmp_path: Path) -> None:
    work = engine.generate(resources=20, roles=6, checks=2_000)
    compiled = compile_policy(work.policy)
    expected = [compiled.check(*check) for check in work.requests]
    assert 0 < sum(expected) < len(expected)  # both verdicts, or agreement would mean little
    got: list[bool] = []
    with cerbos.running(cerbos_binary(), work.policy, tmp_path) as url:
        for roles, resource, action in work.requests:  # a principal per check, its own role set
            checks = [(resource, action)]
            status, answer = load.http_json(
                "POST",
                url + "/api/check/resources",
                cerbos.check_request("p", sorted(roles), checks),
            )
            assert status == 200, answer
            got.extend(cerbos.verdicts(answer, checks))
    wrong = [(c, e) for c, e, g in zip(work.requests, expected, got, strict=True) if e != g]
    assert wrong == []


def test_a_batch_of_cerbos_answers_is_read_in_the_order_asked(tmp_path: Path) -> None:
    work = tiny()
    compiled = compile_policy(work.policy)
    roles = work.requests[0][0]
    checks = [(r, a) for _, r, a in work.requests[: pdp.BATCH_SIZE]]
    with cerbos.running(cerbos_binary(), work.policy, tmp_path) as url:
        status, answer = load.http_json(
            "POST", url + "/api/check/resources", cerbos.check_request("p", sorted(roles), checks)
        )
    assert status == 200, answer
    assert cerbos.verdicts(answer, checks) == [compiled.check(roles, *c) for c in checks]


@needs_wrk
def test_a_short_run_finds_no_disagreement_and_prints_every_row() -> None:
    assert WRK is not None
    decisions, throughput = pdp.measure(
        WRK,
        cerbos_binary(),
        tiny(),
        pdp.Size(members=4, batches=8, singles=100),
        duration_s=1,
        max_row_s=3,
    )
    assert [row[0] for row in decisions.rows] == [
        f"gatehouse/authorize vs CheckResources, {pdp.BATCH_SIZE} per request",
        "sessions/authenticate vs CheckResources, 1 per request",
    ]
    for _, checks, allowed, with_cerbos, with_engine in decisions.rows:
        assert int(checks.replace(",", "")) > int(allowed.replace(",", "")) > 0
        assert (with_cerbos, with_engine) == ("0", "0")
    assert throughput.columns == pdp.COLUMNS
    assert [row[0] for row in throughput.rows] == [
        pdp.GATEHOUSE_NOOP,
        pdp.CERBOS_NOOP,
        pdp.GATEHOUSE_SINGLE,
        pdp.CERBOS_SINGLE,
        pdp.GATEHOUSE_BATCH,
        pdp.CERBOS_BATCH,
    ]
    for row in throughput.rows:
        assert float(row[1].replace(",", "")) > 0, row
        assert row[6] == "0", row
    assert all(throughput.rows[i][5].endswith("×") for i in (0, 2, 4)), throughput.rows
    judged = [n for n in throughput.notes if "Gatehouse/Cerbos" in n and "goal" in n]
    assert len(judged) == 2, throughput.notes
    assert not any(note.startswith("WARNING") for note in throughput.notes), throughput.notes


def test_without_cerbos_the_section_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(cerbos.PEERS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(load, "find_wrk", lambda: "/usr/bin/wrk")
    with pytest.raises(SectionSkipped) as skipped:
        pdp.run(BenchOptions(quick=True))
    assert f"npm install --prefix {tmp_path / 'empty'} --no-save cerbos@0.51.0" in (
        skipped.value.reason
    )
    [table] = run_section("peers", BenchOptions(quick=True))
    assert table.rows[0][1].startswith("skipped: the Cerbos PDP 0.51.0")
    shown = CliRunner().invoke(app, ["bench", "--only", "peers"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0, shown.output
    assert "skipped: the Cerbos PDP 0.51.0 (an optional bench extra) is not installed" in (
        shown.output
    )


def test_without_wrk_the_section_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "find_wrk", lambda: None)
    with pytest.raises(SectionSkipped, match="apt-get install wrk"):
        pdp.run(BenchOptions(quick=True))
