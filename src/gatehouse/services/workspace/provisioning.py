"""Workspace → project → environments, their API secrets, and authenticating API callers."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gatehouse.errors import GatehouseError, InvalidInput
from gatehouse.policy import default_policy, policy_to_wire
from gatehouse.services import addresses, clock, events
from gatehouse.services.context import Environment
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.services.security.signing import new_signing_key
from gatehouse.services.slugs import slugify


@dataclass(frozen=True, slots=True)
class NewEnvironment:
    project_id: str  # the environment id, as API callers know it
    kind: str
    secret_id: str
    secret: str  # shown once, never stored


def _unauthorized() -> GatehouseError:
    return GatehouseError(
        "unauthorized_credentials",
        "the project id and secret do not match; check the credentials you pass as basic auth",
    )


class Provisioning:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    def initialise(
        self,
        admin_email: str,
        workspace_name: str,
        project_name: str,
        also: Callable[[Any, str], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Create the workspace, its first project and that project's live and test environments.

        Refuses (changing nothing) when the database already holds a workspace.
        """
        if not addresses.is_email(admin_email):
            raise InvalidInput(f"`{admin_email}` is not an email address")
        now = clock.now()
        with self.store.transaction() as tx:
            if self.store.workspace_exists(tx):
                raise GatehouseError(
                    "already_initialised",
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
            extra = also(tx, workspace_id) if also is not None else {}
        return {
            "workspace": {"workspace_id": workspace_id, "name": workspace_name},
            "project": project,
            **extra,
        }

    def _create_project(self, tx: Any, workspace_id: str, name: str, now: Any) -> dict[str, Any]:
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
                    "project_id": env.project_id,
                    "environment_slug": kind,
                    "secret_id": env.secret_id,
                    "secret": env.secret,
                }
                for kind, env in envs.items()
            },
        }

    def insert_project(
        self, tx: Any, workspace_id: str, name: str, slug: str | None, vertical: str, now: Any
    ) -> dict[str, Any]:
        """A project row; without a slug, one is made from the name and kept unique."""
        if slug is None:
            base = slugify(name, "project")
            slug = base
            while self.store.get_project_by_slug(tx, workspace_id, slug) is not None:
                slug = f"{base[:100]}-{secrets.token_hex(3)}"
        row = {
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
        tx: Any,
        project_id: str,
        kind: str,
        now: Any,
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
        self.store.insert_signing_key(tx, new_signing_key(environment_id, now))
        secret_id, secret = (
            self.create_secret(tx, environment_id, kind, now) if with_secret else ("", "")
        )
        events.record(
            self.store, tx, environment_id, "system", "environment.create", environment_id
        )
        return NewEnvironment(environment_id, kind, secret_id, secret)

    def create_secret(self, tx: Any, environment_id: str, kind: str, now: Any) -> tuple[str, str]:
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

    def find_environment(self, project_id: str) -> Environment | None:
        """The environment API callers know as `project_id`, for a trusted caller (an operator
        with the database: the CLI), or None when there is none."""
        with self.store.read() as tx:
            return self.runtime.load_environment(tx, project_id)

    def authenticate(
        self, tx: Any, project_id: str, secret: str, generation: int | None = None
    ) -> tuple[Environment, str]:
        """The environment a (project_id, secret) pair opens, and the secret's id for the event log.
        With the cache `generation` read before `tx` began, the node remembers both."""
        environment = self.runtime.load_environment(tx, project_id)
        if environment is None:
            # Hash anyway so an unknown project costs the same as a wrong secret.
            credentials.digest_matches(secret, "0" * 64)
            raise _unauthorized()
        matched = None
        for candidate in self.store.secrets(tx, project_id):
            if credentials.digest_matches(secret, candidate["secret_hash"]):
                matched = candidate["id"]
        if matched is None:
            raise _unauthorized()
        if generation is not None:
            digest = credentials.token_digest(secret)
            self.runtime.cache.put_environment(generation, environment, (digest, matched))
        return environment, matched

    def authenticate_cached(self, project_id: str, secret: str) -> tuple[Environment, str] | None:
        """`authenticate` from this node's memory, or None. Only pairs that verified before are
        remembered, keyed by the secret's SHA-256, so a wrong secret always goes to the database."""
        cache = self.runtime.cache
        environment = cache.environment(project_id)
        if environment is None:
            return None
        secret_id = cache.secret_id(project_id, credentials.token_digest(secret))
        return (environment, secret_id) if secret_id is not None else None
