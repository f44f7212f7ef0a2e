"""The dashboard permission matrix: one table, evaluated by the policy engine, nested roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatehouse.policy import dashboard, validate_policy
from gatehouse.policy.compiled import compile_policy

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "dashboard-permissions.md"
COLUMNS = ("admin", "developer", "support_manager", "support_agent", "no_access")


def _spec_rows() -> dict[str, frozenset[str]]:
    rows = {}
    for line in SPEC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`"):
            key = cells[0].strip("`")
            rows[key] = frozenset(
                role for role, mark in zip(COLUMNS, cells[2:], strict=True) if mark == "✓"
            )
    return rows


def test_the_table_is_the_spec_row_for_row():
    assert {key: holders for key, (_, holders) in dashboard.MATRIX.items()} == _spec_rows()


def test_the_five_roles_are_nested():
    held = [
        {key for key in dashboard.MATRIX if dashboard.allows(role, key)} for role in dashboard.ROLES
    ]
    for lesser, greater in zip(held, held[1:], strict=False):
        assert lesser < greater


@pytest.mark.parametrize("role", dashboard.ROLES)
@pytest.mark.parametrize("key", list(dashboard.MATRIX))
def test_every_cell_is_answered_by_the_engine_from_the_table(role, key):
    _, holders = dashboard.MATRIX[key]
    assert dashboard.allows(role, key) is (role in holders)


def test_manage_implies_view():
    for key in dashboard.MATRIX:
        if key.endswith(".manage"):
            view = key.removesuffix(".manage") + ".view"
            if view in dashboard.MATRIX:
                assert dashboard.MATRIX[key][1] <= dashboard.MATRIX[view][1], key


def test_the_built_in_policy_is_a_valid_policy_of_its_own():
    policy = dashboard.dashboard_policy()
    problems = [p for p in validate_policy(policy) if "default" not in p.reason]
    assert problems == []
    assert compile_policy(policy).check(frozenset({"admin"}), dashboard.RESOURCE, "projects.delete")


def test_an_unknown_permission_is_a_programming_error():
    with pytest.raises(KeyError):
        dashboard.allows("admin", "projects.destroy")
