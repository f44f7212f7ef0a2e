"""Projects, environments, API secrets and the RBAC policy as the Management API sees them, each
call gated by the dashboard matrix.

An environment is addressed by (project_slug, environment_slug); its `project_id` is the id B2B API
callers use. A project has exactly one live environment, created with it, which cannot be deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound
from gatehouse.policy import Policy, PolicyProblems, Problem, policy_from_file, policy_to_file
from gatehouse.policy.diff import describe_changes
from gatehouse.policy.document import file_path
from gatehouse.services import clock
from gatehouse.services.b2b.rbac import Rbac
from gatehouse.services.context import Caller, Environment
from gatehouse.services.slugs import slugify
from gatehouse.services.workspace.operators import Operator
from gatehouse.services.workspace.people import Workspace
from gatehouse.services.workspace.provisioning import Provisioning
from gatehouse.storage.interface import EventStore, ProjectStore, ReadTx, Transactions
from gatehouse.storage.rows import EnvironmentInfo, EnvironmentValues, ProjectRow, SecretRow


class _Store(Transactions, ProjectStore, EventStore, Protocol):
    """The storage this service uses."""


@dataclass(frozen=True, slots=True)
class EnvironmentView:
    """An environment with the project it belongs to (its wire form names both)."""

    project: ProjectRow
    environment: EnvironmentInfo


@dataclass(frozen=True, slots=True)
class EnvironmentName:
    """What `projects.view_names` shows of an environment: how people name and find it, none of
    its configuration (every role sees it, so that each can reach the environment pages it may
    open)."""

    slug: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class CreatedSecret:
    """A new API secret: shown once, here; only its hash is stored."""

    secret_id: str
    secret: str
    created_at: dt.datetime


class Projects:
    def __init__(self, workspace: Workspace, provisioning: Provisioning, rbac: Rbac) -> None:
        self.workspace = workspace
        self.provisioning = provisioning
        self.rbac = rbac
        self.runtime = workspace.runtime
        self.store: _Store = workspace.runtime.store

    # -- lookups -----------------------------------------------------------------------------

    def project(self, tx: ReadTx, operator: Operator, slug: str) -> ProjectRow:
        project = self.store.get_project_by_slug(tx, operator.workspace_id, slug)
        if project is None:
            raise NotFound(Kind.PROJECT, slug)
        return project

    def environment(
        self, tx: ReadTx, operator: Operator, project_slug: str, slug: str
    ) -> tuple[ProjectRow, EnvironmentInfo]:
        project = self.project(tx, operator, project_slug)
        environment = self.store.get_environment_by_slug(tx, project["id"], slug)
        if environment is None:
            raise NotFound(Kind.ENVIRONMENT, slug)
        return project, environment

    # -- projects ----------------------------------------------------------------------------

    def list_projects(self, operator: Operator) -> list[ProjectRow]:
        operator.require("projects.view_names")
        with self.store.read() as tx:
            return self.store.list_projects(tx, operator.workspace_id)

    def get_project(self, operator: Operator, slug: str) -> ProjectRow:
        operator.require("projects.view_names")
        with self.store.read() as tx:
            return self.project(tx, operator, slug)

    def create_project(
        self, operator: Operator, name: str, slug: str | None, vertical: str
    ) -> ProjectRow:
        operator.require("projects.create")
        if vertical not in ("B2B",):
            raise InvalidInput(
                f"vertical `{vertical}` is not supported; Gatehouse projects are `B2B`"
            )
        now = clock.now()
        with self.store.transaction() as tx:
            if slug is not None and self.store.get_project_by_slug(tx, operator.workspace_id, slug):
                raise GatehouseError(
                    Code.DUPLICATE_PROJECT_SLUG, f"project slug `{slug}` is already in use"
                )
            project = self.provisioning.insert_project(
                tx, operator.workspace_id, name, slug, vertical, now
            )
            for kind in ("live", "test"):
                self.provisioning.create_environment(
                    tx, project["id"], kind, now, with_secret=False
                )
            self.workspace.record(
                tx,
                operator,
                "project.create",
                project["id"],
                {"name": name, "slug": project["slug"]},
            )
        return project

    def update_project(self, operator: Operator, slug: str, name: str) -> ProjectRow:
        operator.require("project_config.manage")
        with self.store.transaction() as tx:
            project = self.project(tx, operator, slug)
            self.store.update_project(tx, project["id"], {"name": name})
            self.workspace.record(tx, operator, "project.update", project["id"], {"name": name})
        return {**project, "name": name}

    def delete_project(self, operator: Operator, slug: str) -> None:
        operator.require("projects.delete")
        with self.store.transaction() as tx:
            project = self.project(tx, operator, slug)
            self.store.delete_project(tx, project["id"])
            self.workspace.record(tx, operator, "project.delete", project["id"], {"slug": slug})

    def projects_with_environments(
        self, operator: Operator
    ) -> list[tuple[ProjectRow, list[EnvironmentName]]]:
        """Every project with the names of its environments (live first), for the projects list."""
        operator.require("projects.view_names")
        with self.store.read() as tx:
            return [
                (project, _names(self.store.environments_of(tx, project["id"])))
                for project in self.store.list_projects(tx, operator.workspace_id)
            ]

    def project_names(
        self, operator: Operator, project_slug: str
    ) -> tuple[ProjectRow, list[EnvironmentName]]:
        """A project and the names of its environments (live first)."""
        operator.require("projects.view_names")
        with self.store.read() as tx:
            project = self.project(tx, operator, project_slug)
            return project, _names(self.store.environments_of(tx, project["id"]))

    def environment_names(
        self, operator: Operator, project_slug: str, slug: str
    ) -> tuple[ProjectRow, EnvironmentName, list[EnvironmentName]]:
        """A project, the name of one of its environments, and the names of all of them (live
        first): what every role sees of an environment."""
        operator.require("projects.view_names")
        with self.store.read() as tx:
            project, environment = self.environment(tx, operator, project_slug, slug)
            siblings = _names(self.store.environments_of(tx, project["id"]))
        return project, _names([environment])[0], siblings

    # -- environments ------------------------------------------------------------------------

    def list_environments(self, operator: Operator, project_slug: str) -> list[EnvironmentView]:
        operator.require("project_config.view")
        with self.store.read() as tx:
            project = self.project(tx, operator, project_slug)
            return [
                EnvironmentView(project, e) for e in self.store.environments_of(tx, project["id"])
            ]

    def get_environment(self, operator: Operator, project_slug: str, slug: str) -> EnvironmentView:
        operator.require("project_config.view")
        with self.store.read() as tx:
            return EnvironmentView(*self.environment(tx, operator, project_slug, slug))

    def create_environment(
        self, operator: Operator, project_slug: str, fields: dict[str, Any]
    ) -> EnvironmentView:
        kind = fields.pop("type", "TEST")
        if kind != "TEST":
            raise InvalidInput(
                "a project has exactly one live environment; create `TEST` environments only"
            )
        operator.require("environments.test.create")
        impersonation = fields.pop("user_impersonation_enabled", None)
        if impersonation is not None:
            operator.require("impersonation_config.manage")
        name = fields.pop("name")
        slug = fields.pop("environment_slug", None)
        now = clock.now()
        with self.store.transaction() as tx:
            project = self.project(tx, operator, project_slug)
            taken = {e["slug"] for e in self.store.environments_of(tx, project["id"])}
            if slug is None:
                base = slugify(name, "environment")
                slug, n = base, 1
                while slug in taken:
                    n += 1
                    slug = f"{base}-{n}"
            elif slug in taken:
                raise GatehouseError(
                    Code.DUPLICATE_ENVIRONMENT_SLUG, f"environment slug `{slug}` is already in use"
                )
            created = self.provisioning.create_environment(
                tx,
                project["id"],
                "test",
                now,
                slug=slug,
                name=name,
                settings=fields,
                user_impersonation_enabled=bool(impersonation),
                with_secret=False,
            )
            environment = self.store.get_environment_by_slug(tx, project["id"], slug)
            assert environment is not None
            self.workspace.record(
                tx,
                operator,
                "environment.create",
                created.environment_id,
                {"slug": slug, "name": name},
            )
            return EnvironmentView(project, environment)

    def update_environment(
        self, operator: Operator, project_slug: str, slug: str, fields: dict[str, Any]
    ) -> EnvironmentView:
        if "user_impersonation_enabled" in fields:
            operator.require("impersonation_config.manage")
        if set(fields) - {"user_impersonation_enabled"} or not fields:
            operator.require("project_config.manage")
        with self.store.transaction() as tx:
            project, environment = self.environment(tx, operator, project_slug, slug)
            values: EnvironmentValues = {}
            if "name" in fields:
                values["name"] = fields.pop("name")
            if "user_impersonation_enabled" in fields:
                values["user_impersonation_enabled"] = fields.pop("user_impersonation_enabled")
            if fields:
                values["settings"] = {**environment["settings"], **fields}
            self.store.update_environment(tx, environment["id"], values)
            changes = {k: v for k, v in values.items() if k != "settings"} | fields
            self.workspace.record(
                tx,
                operator,
                "environment.update",
                environment["id"],
                changes,
                scope=environment["id"],
            )
            updated: EnvironmentInfo = {
                "id": environment["id"],
                "project_id": environment["project_id"],
                "kind": environment["kind"],
                "name": values.get("name", environment["name"]),
                "policy_version": environment["policy_version"],
                "created_at": environment["created_at"],
                "slug": environment["slug"],
                "user_impersonation_enabled": values.get(
                    "user_impersonation_enabled", environment["user_impersonation_enabled"]
                ),
                "settings": values.get("settings", environment["settings"]),
            }
            return EnvironmentView(project, updated)

    def delete_environment(self, operator: Operator, project_slug: str, slug: str) -> None:
        with self.store.transaction() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            if environment["kind"] == "live":
                raise InvalidInput(
                    "the live environment cannot be deleted; delete the project instead",
                    code=Code.LIVE_ENVIRONMENT_PROTECTED,
                )
            operator.require("environments.test.delete")
            self.store.delete_environment(tx, environment["id"])
            self.workspace.record(
                tx, operator, "environment.delete", environment["id"], {"slug": slug}
            )

    # -- secrets -----------------------------------------------------------------------------

    def _secrets_permission(self, environment: EnvironmentInfo) -> str:
        return "api_keys.live.manage" if environment["kind"] == "live" else "api_keys.test.manage"

    def create_secret(self, operator: Operator, project_slug: str, slug: str) -> CreatedSecret:
        with self.store.transaction() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            operator.require(self._secrets_permission(environment))
            now = clock.now()
            secret_id, secret = self.provisioning.create_secret(
                tx, environment["id"], environment["kind"], now
            )
            self.workspace.record(tx, operator, "secret.create", secret_id, scope=environment["id"])
        return CreatedSecret(secret_id, secret, now)

    def list_secrets(self, operator: Operator, project_slug: str, slug: str) -> list[SecretRow]:
        with self.store.read() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            operator.require(self._secrets_permission(environment))
            return self.store.secrets(tx, environment["id"])

    def get_secret(
        self, operator: Operator, project_slug: str, slug: str, secret_id: str
    ) -> SecretRow:
        with self.store.read() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            operator.require(self._secrets_permission(environment))
            secret = self.store.get_secret(tx, environment["id"], secret_id)
            if secret is None:
                raise NotFound(Kind.SECRET, secret_id)
            return secret

    def delete_secret(
        self, operator: Operator, project_slug: str, slug: str, secret_id: str
    ) -> None:
        with self.store.transaction() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            operator.require(self._secrets_permission(environment))
            if not self.store.delete_secret(tx, environment["id"], secret_id):
                raise NotFound(Kind.SECRET, secret_id)
            self.workspace.record(tx, operator, "secret.delete", secret_id, scope=environment["id"])

    # -- RBAC policy -------------------------------------------------------------------------

    def get_policy(self, operator: Operator, project_slug: str, slug: str) -> dict[str, Any]:
        operator.require("project_config.view")
        with self.store.read() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            loaded = self.runtime.load_environment(tx, environment["id"])
        assert loaded is not None
        return policy_to_file(loaded.policy)

    def set_policy(
        self,
        operator: Operator,
        project_slug: str,
        slug: str,
        document: dict[str, Any],
        *,
        cascade: bool = False,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        operator.require("project_config.manage")
        loaded = self._loaded(operator, project_slug, slug)
        policy = _parsed(document)
        caller = Caller(loaded, operator.actor)
        try:
            new, _ = self.rbac.set_policy(
                caller,
                policy,
                actor_role=operator.role,
                cascade=cascade,
                expected_version=expected_version,
            )
        except InvalidInput as error:
            raise _in_file(error) from None
        return policy_to_file(new)

    def preview_policy(
        self,
        operator: Operator,
        project_slug: str,
        slug: str,
        document: dict[str, Any],
        *,
        cascade: bool = False,
    ) -> PolicyPreview:
        """What saving `document` would change (as `gatehouse policy apply --dry-run` prints it),
        after the same checks a save makes; changes nothing. Raises as `set_policy` would."""
        operator.require("project_config.manage")
        loaded = self._loaded(operator, project_slug, slug)
        policy = _parsed(document)
        caller = Caller(loaded, operator.actor)
        try:
            _, version = self.rbac.set_policy(caller, policy, cascade=cascade, dry_run=True)
        except InvalidInput as error:
            raise _in_file(error) from None
        return PolicyPreview(describe_changes(loaded.policy, policy), version)

    def _loaded(self, operator: Operator, project_slug: str, slug: str) -> Environment:
        with self.store.read() as tx:
            _, environment = self.environment(tx, operator, project_slug, slug)
            loaded = self.runtime.load_environment(tx, environment["id"])
        assert loaded is not None
        return loaded


@dataclass(frozen=True, slots=True)
class PolicyPreview:
    """A policy change not yet made: one line per change, and the version it was checked
    against (a save may insist that it is still current)."""

    changes: list[str]
    version: int


def _parsed(document: Any) -> Policy:
    try:
        return policy_from_file(document)
    except PolicyProblems as error:
        raise InvalidInput(
            "the policy is invalid", error.problems, code=Code.INVALID_POLICY
        ) from None


def _in_file(error: InvalidInput) -> InvalidInput:
    """The engine's problems at their places in the policy file."""
    mapped = [Problem(file_path(p.path), p.reason) for p in error.problems]
    return InvalidInput("the policy is invalid", mapped, code=Code.INVALID_POLICY)


def _names(environments: list[EnvironmentInfo]) -> list[EnvironmentName]:
    named = [EnvironmentName(e["slug"], e["name"], e["kind"]) for e in environments]
    return sorted(named, key=lambda e: (e.kind != "live", e.name.lower(), e.slug))
