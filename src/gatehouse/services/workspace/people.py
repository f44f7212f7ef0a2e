"""The workspace: its people and their dashboard roles, email-domain rules, management keys,
settings and billing profile. Every change is checked against the dashboard matrix and logged with
the actor's effective role.

Rules that decide edge cases (docs/spec/dashboard-permissions.md): the last Admin can be neither removed
nor demoted; nobody changes their own role; a domain's automatic role applies at once to every
member with a verified email at that domain.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

from gatehouse.errors import (
    Code,
    Denied,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
)
from gatehouse.policy import dashboard
from gatehouse.services import addresses, clock, events
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.services.workspace.operators import Operator, effective_role, member_to_wire
from gatehouse.storage.interface import EventStore, ReadTx, Transactions, WorkspaceStore, WriteTx
from gatehouse.storage.rows import (
    DashboardSessionRow,
    DomainRow,
    WorkspaceKeyRow,
    WorkspaceMemberRow,
    WorkspaceRow,
)


class _Store(Transactions, WorkspaceStore, EventStore, Protocol):
    """The storage this service uses."""


KEY_PREFIX = "workspace-key-"
# The billing plans a workspace may be on (the Management API's `plan`), cheapest first.
PLANS: tuple[str, ...] = ("free", "pro", "enterprise")


def check_role(role: str) -> None:
    if role not in dashboard.ROLES:
        raise InvalidInput(
            f"role `{role}` is not a dashboard role; use one of "
            + ", ".join(f"`{r}`" for r in dashboard.ROLES)
        )


def _unauthorized() -> GatehouseError:
    return Unauthorized(
        "pass a management key as basic auth (`key_id:secret`) or a dashboard session as "
        "`Authorization: Bearer <token>`"
    )


class Workspace:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store

    def record(
        self,
        tx: WriteTx,
        operator: Operator,
        action: str,
        target: str,
        changes: dict[str, Any] | None = None,
        scope: str | None = None,
    ) -> None:
        events.record(
            self.store,
            tx,
            scope or operator.workspace_id,
            operator.actor,
            action,
            target,
            changes,
            actor_role=operator.role,
        )

    def workspace(self, tx: ReadTx) -> WorkspaceRow:
        row = self.store.get_workspace(tx)
        if row is None:
            raise GatehouseError(
                Code.NOT_INITIALISED, "this server has no workspace yet; run `gatehouse init`"
            )
        return row

    # -- authenticating operators ----------------------------------------------------------

    def operator_from_key(self, key_id: str, secret: str) -> Operator:
        with self.store.read() as tx:
            key = (
                self.store.get_workspace_key(tx, key_id) if key_id.startswith(KEY_PREFIX) else None
            )
            # Compare even for an unknown key, so a miss costs what a hit costs.
            digest = key["secret_hash"] if key else "0" * 64
            if not credentials.digest_matches(secret, digest) or key is None or key["revoked_at"]:
                raise _unauthorized()
            return Operator(
                key["workspace_id"], f"workspace_key:{key['id']}", key["role"], key_id=key["id"]
            )

    def operator_from_session(self, token: str) -> Operator:
        with self.store.read() as tx:
            session = self.store.find_dashboard_session(tx, credentials.token_digest(token))
            if (
                session is None
                or session["revoked_at"] is not None
                or session["expires_at"] <= clock.now()
                or not credentials.digest_matches(token, session["token_hash"])
            ):
                raise Unauthorized("the dashboard session has ended; sign in again")
            member = self.store.get_workspace_member(tx, session["member_id"])
            if member is None or member["status"] != "active":
                raise _unauthorized()
            role, _ = effective_role(member, self.store.list_domains(tx, member["workspace_id"]))
            return Operator(
                member["workspace_id"],
                f"workspace_member:{member['id']}",
                role,
                member_id=member["id"],
            )

    # -- dashboard sessions ----------------------------------------------------------------

    def start_session(self, tx: WriteTx, member: WorkspaceMemberRow) -> dict[str, Any]:
        """A dashboard session for a signed-in person; the token is shown once, stored hashed."""
        token = credentials.new_token()
        now = clock.now()
        row: DashboardSessionRow = {
            "id": f"dashboard-session-{uuid.uuid4()}",
            "member_id": member["id"],
            "token_hash": credentials.token_digest(token),
            "created_at": now,
            "expires_at": now
            + dt.timedelta(minutes=self.runtime.settings.dashboard_session_minutes),
            "revoked_at": None,
        }
        self.store.insert_dashboard_session(tx, row)
        return {"session_token": token, "expires_at": clock.iso(row["expires_at"])}

    # -- people ----------------------------------------------------------------------------

    def list_members(self, operator: Operator) -> list[dict[str, Any]]:
        operator.require("workspace.members.view")
        with self.store.read() as tx:
            domains = self.store.list_domains(tx, operator.workspace_id)
            return [
                member_to_wire(m, domains)
                for m in self.store.list_workspace_members(tx, operator.workspace_id)
            ]

    def _member(self, tx: ReadTx, operator: Operator, member_id: str) -> WorkspaceMemberRow:
        member = self.store.get_workspace_member(tx, member_id)
        if member is None or member["workspace_id"] != operator.workspace_id:
            raise NotFound(Kind.WORKSPACE_MEMBER, member_id)
        return member

    def _admins_after(self, tx: ReadTx, workspace_id: str, change: dict[str, str | None]) -> int:
        """How many active members would be effective Admins if `change` (member id -> new
        explicit role, or None for removed) were applied."""
        domains = self.store.list_domains(tx, workspace_id)
        count = 0
        for member in self.store.list_workspace_members(tx, workspace_id):
            if member["status"] != "active":
                continue
            if member["id"] in change:
                new_role = change[member["id"]]
                if new_role is None:
                    continue
                member = {**member, "role": new_role}
            if effective_role(member, domains)[0] == "admin":
                count += 1
        return count

    def set_member_role(self, operator: Operator, member_id: str, role: str) -> dict[str, Any]:
        operator.require("workspace.members.manage")
        check_role(role)
        if member_id == operator.member_id:
            raise Denied(
                "nobody changes their own dashboard role; ask another Admin", code=Code.FORBIDDEN
            )
        with self.store.transaction() as tx:
            self.store.lock_workspace(tx, operator.workspace_id)
            member = self._member(tx, operator, member_id)
            if self._admins_after(tx, operator.workspace_id, {member_id: role}) == 0:
                raise GatehouseError(
                    Code.LAST_ADMIN,
                    "the workspace's last Admin cannot be demoted; make another Admin first",
                )
            self.store.update_workspace_member(tx, member_id, {"role": role})
            self.record(
                tx,
                operator,
                "workspace_member.role_change",
                member_id,
                {"role": [member["role"], role]},
            )
            domains = self.store.list_domains(tx, operator.workspace_id)
            return member_to_wire({**member, "role": role}, domains)

    def remove_member(self, operator: Operator, member_id: str) -> None:
        operator.require("workspace.members.manage")
        with self.store.transaction() as tx:
            self.store.lock_workspace(tx, operator.workspace_id)
            member = self._member(tx, operator, member_id)
            if self._admins_after(tx, operator.workspace_id, {member_id: None}) == 0:
                raise GatehouseError(
                    Code.LAST_ADMIN,
                    "the workspace's last Admin cannot be removed; make another Admin first",
                )
            self.store.delete_workspace_member(tx, member_id)
            self.record(
                tx, operator, "workspace_member.remove", member_id, {"email": member["email"]}
            )

    def add_member(
        self,
        tx: WriteTx,
        workspace_id: str,
        email: str,
        role: str | None,
        *,
        status: str,
        verified: bool,
        name: str = "",
    ) -> WorkspaceMemberRow:
        row: WorkspaceMemberRow = {
            "id": f"workspace-member-{uuid.uuid4()}",
            "workspace_id": workspace_id,
            "email": email.lower(),
            "role": role,
            "name": name,
            "status": status,
            "email_verified": verified,
            "password_hash": None,
            "created_at": clock.now(),
        }
        self.store.insert_workspace_member(tx, row)
        return row

    # -- email domain rules ----------------------------------------------------------------

    def list_domains(self, operator: Operator) -> list[dict[str, Any]]:
        operator.require("workspace.members.view")
        with self.store.read() as tx:
            return [
                {
                    "domain": d["domain"],
                    "jit_enabled": d["jit_enabled"],
                    "auto_role": d["auto_role"],
                }
                for d in self.store.list_domains(tx, operator.workspace_id)
            ]

    def put_domain(
        self, operator: Operator, domain: str, jit_enabled: bool, auto_role: str | None
    ) -> dict[str, Any]:
        operator.require("workspace.members.manage")
        if not addresses.is_domain(domain):
            raise InvalidInput(f"`{domain}` is not an email domain")
        if auto_role is not None:
            check_role(auto_role)
        domain = domain.lower()
        with self.store.transaction() as tx:
            self.store.lock_workspace(tx, operator.workspace_id)
            rows = [
                d
                for d in self.store.list_domains(tx, operator.workspace_id)
                if d["domain"] != domain
            ]
            rows.append(
                {
                    "workspace_id": operator.workspace_id,
                    "domain": domain,
                    "jit_enabled": jit_enabled,
                    "auto_role": auto_role,
                    "created_at": clock.now(),
                }
            )
            self._keep_an_admin(tx, operator.workspace_id, rows)
            self.store.put_domain(tx, rows[-1])
            self.record(
                tx,
                operator,
                "workspace_domain.put",
                domain,
                {"jit_enabled": jit_enabled, "auto_role": auto_role},
            )
        return {"domain": domain, "jit_enabled": jit_enabled, "auto_role": auto_role}

    def delete_domain(self, operator: Operator, domain: str) -> None:
        operator.require("workspace.members.manage")
        domain = domain.lower()
        with self.store.transaction() as tx:
            self.store.lock_workspace(tx, operator.workspace_id)
            rows = [
                d
                for d in self.store.list_domains(tx, operator.workspace_id)
                if d["domain"] != domain
            ]
            self._keep_an_admin(tx, operator.workspace_id, rows)
            if not self.store.delete_domain(tx, operator.workspace_id, domain):
                raise NotFound(Kind.WORKSPACE_DOMAIN, domain)
            self.record(tx, operator, "workspace_domain.delete", domain)

    def _keep_an_admin(self, tx: ReadTx, workspace_id: str, domains: list[DomainRow]) -> None:
        members = [
            m
            for m in self.store.list_workspace_members(tx, workspace_id)
            if m["status"] == "active"
        ]
        if not any(effective_role(m, domains)[0] == "admin" for m in members):
            raise GatehouseError(
                Code.LAST_ADMIN, "the change would leave the workspace without an Admin"
            )

    # -- management keys -------------------------------------------------------------------

    def create_key(
        self, tx: WriteTx, workspace_id: str, role: str, name: str, created_by: str
    ) -> dict[str, Any]:
        check_role(role)
        secret = f"workspace-secret-{credentials.new_token()}"
        row: WorkspaceKeyRow = {
            "id": f"{KEY_PREFIX}{uuid.uuid4()}",
            "workspace_id": workspace_id,
            "secret_hash": credentials.token_digest(secret),
            "last_four": secret[-4:],
            "role": role,
            "name": name,
            "created_by": created_by,
            "created_at": clock.now(),
            "revoked_at": None,
        }
        self.store.insert_workspace_key(tx, row)
        return {"key_id": row["id"], "secret": secret, "role": role, "name": name}

    def create_key_trusted(self, role: str, name: str, created_by: str) -> dict[str, Any]:
        """A key for an operator with the database (`gatehouse key create`): no operator's
        permissions to check. Raises `not_initialised` when there is no workspace yet."""
        check_role(role)
        with self.store.transaction() as tx:
            return self.create_key(tx, self.workspace(tx)["id"], role, name, created_by)

    def list_keys_trusted(self) -> list[dict[str, Any]]:
        """Every management key, for an operator with the database (`gatehouse key list`): ids,
        roles, names and times, never a secret. Raises `not_initialised` without a workspace."""
        with self.store.read() as tx:
            workspace_id = self.workspace(tx)["id"]
            return [
                {
                    "key_id": k["id"],
                    "role": k["role"],
                    "name": k["name"],
                    "created_at": clock.iso(k["created_at"]),
                    "revoked_at": clock.iso(k["revoked_at"]),
                }
                for k in self.store.list_workspace_keys(tx, workspace_id)
            ]

    def revoke_key_trusted(self, key_id: str) -> str | None:
        """Revoke a key for an operator with the database (`gatehouse key revoke`); returns when
        it had already been revoked (None: revoked now). Raises NotFound for an unknown key."""
        with self.store.transaction() as tx:
            workspace_id = self.workspace(tx)["id"]
            key = self.store.get_workspace_key(tx, key_id)
            if key is None or key["workspace_id"] != workspace_id:
                raise NotFound(Kind.WORKSPACE_KEY, key_id)
            if key["revoked_at"] is not None:
                return clock.iso(key["revoked_at"])
            self.store.update_workspace_key(tx, key_id, {"revoked_at": clock.now()})
            events.record(self.store, tx, workspace_id, "cli", "workspace_key.revoke", key_id)
        return None

    def make_admin_trusted(self, email: str) -> tuple[str, str | None]:
        """Make `email` an Admin, for an operator with the database (`gatehouse admin add`):
        adds the person (active, email not yet verified: a sign-in link proves it) or raises
        their explicit role. Returns (`added`, None), (`raised`, the role before) or
        (`unchanged`, `admin`). Raises InvalidInput for a non-email, `not_initialised` without
        a workspace."""
        if not addresses.is_email(email):
            raise InvalidInput(f"`{email}` is not an email address")
        email = email.lower()
        with self.store.transaction() as tx:
            workspace_id = self.workspace(tx)["id"]
            self.store.lock_workspace(tx, workspace_id)
            member = self.store.find_workspace_member_by_email(tx, workspace_id, email)
            if member is None:
                row = self.add_member(
                    tx, workspace_id, email, "admin", status="active", verified=False
                )
                events.record(
                    self.store,
                    tx,
                    workspace_id,
                    "cli",
                    "workspace_member.add",
                    row["id"],
                    {"email": email, "role": "admin"},
                )
                return "added", None
            if member["role"] == "admin":
                return "unchanged", "admin"
            self.store.update_workspace_member(tx, member["id"], {"role": "admin"})
            events.record(
                self.store,
                tx,
                workspace_id,
                "cli",
                "workspace_member.role_change",
                member["id"],
                {"role": [member["role"], "admin"]},
            )
            return "raised", member["role"]

    def create_key_as(self, operator: Operator, role: str, name: str) -> dict[str, Any]:
        # Managing keys is managing workspace access: Admins only, and never above one's own role.
        operator.require("workspace.members.manage")
        check_role(role)
        with self.store.transaction() as tx:
            created = self.create_key(tx, operator.workspace_id, role, name, operator.actor)
            self.record(
                tx,
                operator,
                "workspace_key.create",
                created["key_id"],
                {"role": role, "name": name},
            )
        return created

    def list_keys(self, operator: Operator) -> list[dict[str, Any]]:
        operator.require("workspace.members.manage")
        with self.store.read() as tx:
            return [
                {
                    "key_id": k["id"],
                    "name": k["name"],
                    "role": k["role"],
                    "last_four": k["last_four"],
                    "created_at": clock.iso(k["created_at"]),
                    "revoked_at": clock.iso(k["revoked_at"]),
                }
                for k in self.store.list_workspace_keys(tx, operator.workspace_id)
            ]

    def revoke_key(self, operator: Operator, key_id: str) -> None:
        operator.require("workspace.members.manage")
        with self.store.transaction() as tx:
            key = self.store.get_workspace_key(tx, key_id)
            if key is None or key["workspace_id"] != operator.workspace_id:
                raise NotFound(Kind.WORKSPACE_KEY, key_id)
            if key["revoked_at"] is None:
                self.store.update_workspace_key(tx, key_id, {"revoked_at": clock.now()})
            self.record(tx, operator, "workspace_key.revoke", key_id)

    # -- settings and billing --------------------------------------------------------------

    def get_settings(self, operator: Operator) -> dict[str, Any]:
        operator.require("workspace.members.view")
        with self.store.read() as tx:
            ws = self.workspace(tx)
            return {"workspace_id": ws["id"], "name": ws["name"]}

    def update_settings(self, operator: Operator, name: str) -> dict[str, Any]:
        operator.require("workspace.settings.manage")
        if not 1 <= len(name) <= 256:
            raise InvalidInput("the workspace name must be 1 to 256 characters long")
        with self.store.transaction() as tx:
            ws = self.workspace(tx)
            self.store.update_workspace(tx, ws["id"], {"name": name})
            self.record(tx, operator, "workspace.update", ws["id"], {"name": name})
        return {"workspace_id": ws["id"], "name": name}

    def get_billing(self, operator: Operator) -> dict[str, Any]:
        operator.require("workspace.billing.manage")
        with self.store.read() as tx:
            settings = self.workspace(tx)["settings"]
            return {
                "plan": settings.get("plan", "free"),
                "billing_email": settings.get("billing_email", ""),
            }

    def update_billing(self, operator: Operator, fields: dict[str, Any]) -> dict[str, Any]:
        operator.require("workspace.billing.manage")
        unknown = sorted(set(fields) - {"plan", "billing_email"})
        if unknown:
            raise InvalidInput(f"`{unknown[0]}` is not a billing field")
        if "plan" in fields and fields["plan"] not in PLANS:
            raise InvalidInput(
                f"the plan `{fields['plan']}` is not one of " + ", ".join(f"`{p}`" for p in PLANS)
            )
        email = fields.get("billing_email")
        if email is not None and not addresses.is_email(str(email)):
            raise InvalidInput(f"the billing email `{email}` is not an email address")
        with self.store.transaction() as tx:
            ws = self.workspace(tx)
            settings = {**ws["settings"], **fields}
            self.store.update_workspace(tx, ws["id"], {"settings": settings})
            self.record(tx, operator, "workspace.billing_update", ws["id"], fields)
        return {
            "plan": settings.get("plan", "free"),
            "billing_email": settings.get("billing_email", ""),
        }
