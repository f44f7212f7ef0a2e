"""The RBAC policy model: plain, immutable values with no behaviour beyond shape.

A policy is what a project (environment) holds: resources with their actions, roles that grant
permissions on those resources, and scopes (the same shape as roles, for M2M tokens).
Organization policies add roles only; they use the project's resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: str
    description: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Permission:
    resource_id: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Role:
    role_id: str
    description: str
    permissions: tuple[Permission, ...] = ()


@dataclass(frozen=True, slots=True)
class Scope:
    scope: str
    description: str
    permissions: tuple[Permission, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    resources: tuple[Resource, ...] = ()
    roles: tuple[Role, ...] = ()
    scopes: tuple[Scope, ...] = ()

    def resource(self, resource_id: str) -> Resource | None:
        for resource in self.resources:
            if resource.resource_id == resource_id:
                return resource
        return None

    def role(self, role_id: str) -> Role | None:
        for role in self.roles:
            if role.role_id == role_id:
                return role
        return None

    def role_ids(self) -> frozenset[str]:
        return frozenset(role.role_id for role in self.roles)


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    """An organization's own custom roles, layered on top of the project policy."""

    roles: tuple[Role, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a policy (or part of a request) is invalid: where, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


@dataclass(frozen=True, slots=True)
class PolicyProblems(Exception):
    """Raised when a policy document cannot be accepted; carries every problem at once."""

    problems: tuple[Problem, ...] = field(default=())

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)
