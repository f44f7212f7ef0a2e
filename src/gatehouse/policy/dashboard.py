"""The dashboard's five roles and their permission matrix, held as ONE data table.

Every dashboard check (pages, the Management API, management keys) is made from this table, through
the same policy engine as project RBAC: the matrix becomes a built-in policy with one resource whose
actions are the permission keys, and one role per dashboard role.
"""

from __future__ import annotations

from gatehouse.policy.compiled import CompiledPolicy, compile_policy
from gatehouse.policy.model import Permission, Policy, Resource, Role

RESOURCE = "gatehouse.dashboard"

# Least to most privileged; each holds every permission of the one before it.
ROLES: tuple[str, ...] = ("no_access", "support_agent", "support_manager", "developer", "admin")

ROLE_NAMES: dict[str, str] = {
    "admin": "Admin",
    "developer": "Developer",
    "support_manager": "Support Manager",
    "support_agent": "Support Agent",
    "no_access": "No Access",
}

A, D, M, S, N = "admin", "developer", "support_manager", "support_agent", "no_access"

# key -> (what it allows, the roles that hold it). Mirrors docs/spec/dashboard-permissions.md row by row.
MATRIX: dict[str, tuple[str, frozenset[str]]] = {
    "workspace.members.view": ("View workspace members", frozenset({A, D, M, S, N})),
    "projects.view_names": ("View project names", frozenset({A, D, M, S, N})),
    "workspace.members.manage": ("Manage Workspace Members", frozenset({A})),
    "workspace.settings.manage": ("Manage Workspace Settings", frozenset({A})),
    "workspace.billing.manage": ("Manage Workspace Billing", frozenset({A})),
    "api_keys.live.manage": ("Manage Live API Keys", frozenset({A})),
    "api_keys.test.manage": ("Manage Test API Keys", frozenset({A, D})),
    "projects.create": ("Create Projects", frozenset({A, D})),
    "projects.delete": ("Delete Projects", frozenset({A})),
    "environments.test.create": ("Create Test Environments", frozenset({A, D})),
    "environments.test.delete": ("Delete Test Environments", frozenset({A, D})),
    "project_config.manage": ("Manage Project Configurations", frozenset({A, D})),
    "impersonation_config.manage": ("Manage User Impersonation Configuration", frozenset({A})),
    "project_config.view": ("View Project Configurations", frozenset({A, D, M})),
    "m2m_clients.manage": ("Manage M2M Clients", frozenset({A, D})),
    "m2m_clients.view": ("View M2M Clients", frozenset({A, D, M})),
    "directory.manage": ("Manage Users, Members and Organizations", frozenset({A, D, M})),
    "directory.view": ("View Users, Members and Organizations", frozenset({A, D, M, S})),
    "impersonation.use": ("Impersonate Users and Members", frozenset({A, D, M})),
    "dfp_rules.manage": ("Manage DFP Rules", frozenset({A, D, M})),
    "dfp_rules.view": ("View DFP Rules", frozenset({A, D, M})),
    "dfp_analytics.view": ("View DFP Analytics", frozenset({A, D, M})),
    "event_logs.view": ("View Event Logs", frozenset({A, D, M, S})),
    "support.password_reset": ("Trigger Password Resets", frozenset({A, D, M, S})),
    "support.sessions_revoke": ("Revoke Sessions", frozenset({A, D, M, S})),
    "support.emails_reactivate": ("Reactivate Emails", frozenset({A, D, M, S})),
}

del A, D, M, S, N


def rank(role: str) -> int:
    """Position in the privilege order; higher is more privileged."""
    return ROLES.index(role)


def more_privileged(first: str, second: str) -> str:
    return first if rank(first) >= rank(second) else second


def dashboard_policy() -> Policy:
    resource = Resource(RESOURCE, "The Gatehouse dashboard and Management API", tuple(MATRIX))
    roles = tuple(
        Role(
            role,
            ROLE_NAMES[role],
            (
                Permission(
                    RESOURCE, tuple(k for k, (_, holders) in MATRIX.items() if role in holders)
                ),
            ),
        )
        for role in ROLES
    )
    return Policy(resources=(resource,), roles=roles)


_COMPILED: CompiledPolicy = compile_policy(dashboard_policy())


def allows(role: str, permission: str) -> bool:
    """Whether dashboard `role` holds `permission` (a MATRIX key)."""
    if permission not in MATRIX:
        raise KeyError(permission)
    return _COMPILED.check(frozenset((role,)), RESOURCE, permission)
