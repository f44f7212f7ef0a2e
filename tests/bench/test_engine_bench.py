"""The engine benchmark compares decisions, not only speed: every engine must agree."""

from gatehouse.bench import engine


def test_every_engine_agrees_with_gatehouse_on_a_generated_stream():
    rows = engine.run(resources=20, roles=6, checks=2_000)
    assert [name for name, _, _ in rows][1] == "gatehouse CompiledPolicy.check"
    assert all(disagreements == 0 for _, _, disagreements in rows)
    assert all(rate > 0 for _, rate, _ in rows)
