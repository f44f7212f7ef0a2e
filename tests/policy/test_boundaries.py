"""The policy package stays pure: no I/O libraries or outer layers, and a pinned public surface."""

from __future__ import annotations

import json
import subprocess
import sys

import gatehouse.policy

FORBIDDEN = [
    "sqlalchemy",
    "starlette",
    "alembic",
    "psycopg",
    "psycopg2",
    "httpx",
    "requests",
    "gatehouse.storage",
    "gatehouse.services",
    "gatehouse.api",
]


def modules_after_importing(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    script = f"{statement}; import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    return set(json.loads(out.stdout))


def forbidden_in(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )


def test_importing_the_policy_package_loads_no_io_or_outer_layers() -> None:
    modules = modules_after_importing("import gatehouse.policy")
    assert "gatehouse.policy.compiled" in modules  # the import really happened
    assert forbidden_in(modules) == []


def test_the_boundary_check_would_notice_a_forbidden_import() -> None:
    # Control: the same probe does see such a module when one is imported.
    modules = modules_after_importing("import gatehouse.policy, sqlalchemy")
    assert "sqlalchemy" in forbidden_in(modules)


def test_public_surface_is_pinned() -> None:
    assert gatehouse.policy.__all__ == [
        "DEFAULT_RESOURCES",
        "DEFAULT_ROLES",
        "WILDCARD",
        "CompiledPolicy",
        "Decision",
        "OrgPolicy",
        "Permission",
        "Policy",
        "PolicyProblems",
        "Problem",
        "Resource",
        "Role",
        "Scope",
        "compile_policy",
        "default_policy",
        "org_policy_from_wire",
        "org_policy_to_wire",
        "policy_from_file",
        "policy_from_wire",
        "policy_to_file",
        "policy_to_wire",
        "validate_org_policy",
        "validate_policy",
    ]
    for name in gatehouse.policy.__all__:
        assert hasattr(gatehouse.policy, name), name
