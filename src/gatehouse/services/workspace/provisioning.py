"""Workspace → project → environments, their API secrets, and authenticating API callers."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound
from gatehouse.policy import default_policy, policy_to_wire
from gatehouse.services import addresses, clock, events
from gatehouse.services.context import Environment
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.services.security.signing import new_signing_key
from gatehouse.services.slugs import slugify
from gatehouse.services.workspace.people import Workspace
from gatehouse.storage.interface import (
    EventStore,
    ProjectStore,
    Transactions,
    WorkspaceStore,
    WriteTx,
)
from gatehouse.storage.rows import ProjectRow


class _Store(Transactions, ProjectStore, WorkspaceStore, EventStore, Protocol):
    """The storage this service uses."""


@dataclass(frozen=True, slots=True)
class NewEnvironment:
    environment_id: str  # API callers know it as their `project_id`
    kind: str
    secret_id: str
    secret: str  # shown once, never stored


class Provisioning:
    def __init__(self, runtime: Runtime, workspace: Workspace) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.workspace = workspace

    def initialise(
        self, admin_email: str, workspace_name: str, project_name: str
    ) -> dict[str, Any]:
        """`gatehouse init`: the workspace, its first Admin, an Admin management key, and a first
        project with its live and test environments, in one transaction.

        Refuses (changing nothing) when the database already holds a workspace.
        """
        if not addresses.is_email(admin_email):
            raise InvalidInput(f"`{admin_email}` is not an email address")
        now = clock.now()
        with self.store.transaction() as tx:
            if self.store.workspace_exists(tx):
                raise GatehouseError(
                    Code.ALREADY_INITIALISED,
                    "this database already holds a workspace; `gatehouse init` runs once per database",
                )
            workspace_id = f"workspace-{uuid.uuid4()}"
            self.store.insert_workspace(
                tx, {"id": workspace_id, "name": workspace_name, "created_at": now, "settings": {}}
            )
            self.store.insert_workspace_member(
                tx,
                {
                    "id": f"workspace-member-{uuid.uuid4()}",
                    "workspace_id": workspace_id,
                    "email": admin_email.lower(),
                    "role": "admin",
                    "name": "",
                    "status": "active",
                    "email_verified": False,
                    "password_hash": None,
                    "created_at": now,
                },
            )
            project = self._create_project(tx, workspace_id, project_name, now)
            key = self.workspace.create_key(
                tx, workspace_id, "admin", "created by gatehouse init", "cli"
            )
        return {
            "workspace": {"workspace_id": workspace_id, "name": workspace_name},
            "project": project,
            "management_key": {"key_id": key["key_id"], "secret": key["secret"]},
        }

    def _create_project(
        self, tx: WriteTx, workspace_id: str, name: str, now: dt.datetime
    ) -> dict[str, Any]:
        project = self.insert_project(tx, workspace_id, name, None, "B2B", now)
        envs = {
            kind: self.create_environment(tx, project["id"], kind, now) for kind in ("live", "test")
        }
        return {
            "project_id": project["id"],
            "project_slug": project["slug"],
            "name": name,
            "environments": {
                kind: {
                    "project_id": env.environment_id,
                    "environment_slug": kind,
                    "secret_id": env.secret_id,
                    "secret": env.secret,
                }
                for kind, env in envs.items()
            },
        }

    def insert_project(
        self,
        tx: WriteTx,
        workspace_id: str,
        name: str,
        slug: str | None,
        vertical: str,
        now: dt.datetime,
    ) -> ProjectRow:
        """A project row; without a slug, one is made from the name and kept unique."""
        if slug is None:
            base = slugify(name, "project")
            slug = base
            while self.store.get_project_by_slug(tx, workspace_id, slug) is not None:
                slug = f"{base[:100]}-{secrets.token_hex(3)}"
        row: ProjectRow = {
            "id": f"project-{uuid.uuid4()}",
            "workspace_id": workspace_id,
            "name": name,
            "slug": slug,
            "vertical": vertical,
            "created_at": now,
        }
        self.store.insert_project(tx, row)
        return row

    def create_environment(
        self,
        tx: WriteTx,
        project_id: str,
        kind: str,
        now: dt.datetime,
        *,
        slug: str | None = None,
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        user_impersonation_enabled: bool = False,
        with_secret: bool = True,
    ) -> NewEnvironment:
        environment_id = f"project-{kind}-{uuid.uuid4()}"
        self.store.insert_environment(
            tx,
            {
                "id": environment_id,
                "project_id": project_id,
                "kind": kind,
                "name": name or kind,
                "slug": slug or kind,
                "user_impersonation_enabled": user_impersonation_enabled,
                "settings": settings or {},
                "policy_version": 1,
                "policy": policy_to_wire(default_policy()),
                "created_at": now,
            },
        )
        self.store.insert_signing_key(tx, new_signing_key(environment_id, now, self.runtime.sealer))
        secret_id, secret = (
            self.create_secret(tx, environment_id, kind, now) if with_secret else ("", "")
        )
        events.record(
            self.store, tx, environment_id, "system", "environment.create", environment_id
        )
        return NewEnvironment(environment_id, kind, secret_id, secret)

    def create_secret(
        self, tx: WriteTx, environment_id: str, kind: str, now: dt.datetime
    ) -> tuple[str, str]:
        secret = f"secret-{kind}-{credentials.new_token()}"
        secret_id = f"secret-{kind}-{uuid.uuid4()}"
        self.store.insert_secret(
            tx,
            {
                "id": secret_id,
                "environment_id": environment_id,
                "secret_hash": credentials.token_digest(secret),
                "last_four": secret[-4:],
                "created_at": now,
            },
        )
        return secret_id, secret

    def is_initialised(self) -> bool:
        """Whether the database holds a workspace (`gatehouse init` ran)."""
        with self.store.read() as tx:
            return self.store.workspace_exists(tx)

    def create_secret_trusted(self, environment_id: str) -> tuple[str, str]:
        """A new API secret for an environment, for an operator with the database (`gatehouse
        secret create`): (secret id, secret), the secret shown once. Older secrets keep working.
        Raises NotFound for an unknown environment."""
        now = clock.now()
        with self.store.transaction() as tx:
            environment = self.store.get_environment(tx, environment_id)
            if environment is None:
                raise NotFound(Kind.ENVIRONMENT, environment_id)
            secret_id, secret = self.create_secret(tx, environment_id, environment["kind"], now)
            events.record(self.store, tx, environment_id, "cli", "secret.create", secret_id)
        return secret_id, secret

    def rotate_signing_key_trusted(
        self, environment_id: str, signs_after_seconds: float
    ) -> tuple[str, dt.datetime, list[str]]:
        """Add a new JWT signing key to an environment, for an operator with the database
        (`gatehouse key rotate-signing`): (the new key's kid, when it starts signing, every kid
        the JWKS now publishes). The JWKS publishes it at once; every node signs with it from
        `signs_after_seconds` on (so apps' cached JWKS hold it before a JWT names it); the
        older keys stay published, so JWTs they signed keep verifying. Raises NotFound for an
        unknown environment."""
        now = clock.now()
        signs_from = now + dt.timedelta(seconds=signs_after_seconds)
        with self.store.transaction() as tx:
            if self.store.get_environment(tx, environment_id) is None:
                raise NotFound(Kind.ENVIRONMENT, environment_id)
            row = new_signing_key(environment_id, now, self.runtime.sealer, signs_from)
            self.store.insert_signing_key(tx, row)
            events.record(self.store, tx, environment_id, "cli", "signing_key.create", row["kid"])
            kids = [r["kid"] for r in self.store.signing_keys(tx, environment_id)]
        return row["kid"], signs_from, kids

    def find_environment(self, environment_id: str) -> Environment | None:
        """The environment (API callers know its id as `project_id`), for a trusted caller (an
        operator with the database: the CLI), or None when there is none."""
        with self.store.read() as tx:
            return self.runtime.load_environment(tx, environment_id)
