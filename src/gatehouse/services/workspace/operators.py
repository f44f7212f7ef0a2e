"""Who operates Gatehouse: workspace members (people) and management keys, each acting with one
dashboard role, and every check made from the one matrix in `policy.dashboard`.

A person's effective role is the more privileged of their explicit role and the automatic role of
their email domain (when their email is verified); a key's role is fixed at creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatehouse.errors import Code, Denied
from gatehouse.policy import dashboard
from gatehouse.services.addresses import domain_of
from gatehouse.storage.rows import DomainRow, WorkspaceMemberRow


@dataclass(frozen=True, slots=True)
class Operator:
    """The caller of a Management API or dashboard request."""

    workspace_id: str
    actor: str  # `workspace_member:<id>` or `workspace_key:<id>` for the event log
    role: str  # effective dashboard role
    member_id: str | None = None
    key_id: str | None = None

    def may(self, permission: str) -> bool:
        return dashboard.allows(self.role, permission)

    def require(self, permission: str) -> None:
        if not self.may(permission):
            description = dashboard.MATRIX[permission][0]
            raise Denied(
                f"the {dashboard.ROLE_NAMES[self.role]} role may not `{permission}` "
                f"({description.lower()}); ask a workspace Admin",
                code=Code.FORBIDDEN,
            )


# Someone who joined through a domain rule without an automatic role acts as this.
JIT_DEFAULT_ROLE = "support_agent"


def effective_role(member: WorkspaceMemberRow, domains: list[DomainRow]) -> tuple[str, str | None]:
    """(effective role, the domain's automatic role if one applies).

    A member with an explicit role gets the more privileged of it and the domain's automatic role
    (verified emails only). A member who joined through a domain rule has no explicit role and
    follows the rule: its automatic role, or Support Agent when it names none.
    """
    auto = None
    if member["email_verified"]:
        domain = domain_of(member["email"])
        for rule in domains:
            if rule["domain"] == domain and rule["auto_role"]:
                auto = rule["auto_role"]
    explicit = member["role"]
    if explicit is None:
        return (auto or JIT_DEFAULT_ROLE), auto
    role = explicit if auto is None else dashboard.more_privileged(explicit, auto)
    return role, auto


def member_to_wire(member: WorkspaceMemberRow, domains: list[DomainRow]) -> dict[str, Any]:
    role, auto = effective_role(member, domains)
    return {
        "member_id": member["id"],
        "email_address": member["email"],
        "name": member["name"],
        "status": member["status"],
        "email_verified": member["email_verified"],
        "role": role,
        "explicit_role": member["role"],
        "domain_role": auto,
        "role_source": (
            "domain"
            if auto is not None and role != member["role"]
            else "explicit"
            if member["role"] is not None
            else "jit_default"
        ),
        "created_at": member["created_at"].isoformat().replace("+00:00", "Z"),
    }
