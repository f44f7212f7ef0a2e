"""The values every request carries through the services: the environment it acts in, who calls,
and the member session behind a call (as resolved from the database or held in a node's memory).

They live here, apart from the services that make them, so that every module can name them
without importing another service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatehouse.policy import CompiledPolicy, Policy
from gatehouse.storage.rows import (
    MemberEmailRow,
    MemberRow,
    OrganizationRow,
    SessionRow,
    SsoRegistrationRow,
)


@dataclass(frozen=True, slots=True)
class Environment:
    """An environment with its compiled policy. `id` is the environment id, which API callers
    know as their `project_id`; `project_id` is the id of the project it belongs to."""

    id: str
    project_id: str
    kind: str
    policy_version: int
    compiled: CompiledPolicy

    @property
    def policy(self) -> Policy:
        return self.compiled.policy


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A live member session with its member and organization as they are now."""

    row: SessionRow
    member: MemberRow
    org: OrganizationRow
    roles: frozenset[str]  # the member's roles now
    direct_roles: tuple[str, ...] = ()  # the member's direct assignments, for the wire Member

    @property
    def member_id(self) -> str:
        return str(self.member["id"])

    @property
    def organization_id(self) -> str:
        return str(self.org["id"])


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member with its organization and direct role assignments: all its wire form needs."""

    member: MemberRow
    org: OrganizationRow
    direct_roles: tuple[str, ...]
    # The addresses the member retired by changing its email (`retired_email_addresses`).
    retired_emails: tuple[MemberEmailRow, ...] = ()
    # Their SSO registrations (`sso_registrations`) and what those connections grant
    # (services/b2b/roles.py SsoGrant: listed in `roles`, granted only with the factor).
    sso_registrations: tuple[SsoRegistrationRow, ...] = ()
    sso_grants: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberPage:
    members: list[MemberView]
    total: int | None  # None: not counted (`count=False`)
    next_cursor: str | None
    organizations: dict[str, OrganizationRow]


@dataclass(frozen=True, slots=True)
class OrganizationPage:
    organizations: list[OrganizationRow]
    total: int | None  # None: not counted (`count=False`)
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A member signed in: their session as it now is, its token (shown once) and a JWT."""

    active: ActiveSession
    session_token: str
    session_jwt: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the environment, an actor label for the event log, and, when the call
    carries a member session header, that session (then the call is enforced with the policy)."""

    environment: Environment
    actor: str
    session: ActiveSession | None = None
    actor_role: str | None = None  # the dashboard role, when a person or management key acts


@dataclass(slots=True)
class CachedSession:
    """A node's memory of a resolved session (services/node/cache.py). Mutable only in its JWT
    fields, which `b2b.sessions` sets; everything else is replaced by a new entry."""

    active: ActiveSession
    environment_id: str
    token_hash: str
    loaded_at: float
    # The last JWT minted for it and what it was minted from, for reuse (b2b/sessions.py).
    jwt: str = ""
    jwt_minted_at: float = 0.0
    # The response's member_session, member and organization objects, encoded (b2b/sessions.py).
    wire: bytes | None = None
    wire_jwt: str = ""  # the JWT `wire` holds


@dataclass(frozen=True, slots=True)
class KeySet:
    """An environment's public signing keys (the JWKS) and a weak entity tag naming them, which
    changes whenever they do."""

    keys: tuple[dict[str, Any], ...]
    etag: str
