"""Members of organizations: create, read, update, delete, reactivate, search; the wire Member."""

from __future__ import annotations

from typing import Any, Protocol

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound
from gatehouse.policy import Problem
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement, roles
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.b2b.queries import check_cursor, check_query
from gatehouse.services.b2b.roles import role_exists
from gatehouse.services.context import Caller, Environment, MemberPage, MemberView
from gatehouse.services.node.runtime import Runtime
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    ReadTx,
    SessionStore,
    SsoStore,
    Transactions,
)
from gatehouse.storage.rows import MemberRow, MemberValues, OrganizationRow
from gatehouse.storage.search import MEMBER_FILTERS


class _Store(
    Transactions, OrganizationStore, MemberStore, SessionStore, EventStore, SsoStore, Protocol
):
    """The storage this service uses."""


# Member create fields that need their own action besides `create` when a session creates a member,
# so that a member allowed to create cannot create a more privileged one.
_PRIVILEGED_CREATE_FIELDS = (
    "roles",
    "is_breakglass",
    "mfa_enrolled",
    "mfa_phone_number",
    "external_id",
)


def check_phone_number_free(member: MemberRow) -> None:
    """Stytch: setting an MFA phone number throws when the member already has one (delete it
    first). Setting the number the member has is a no-op."""
    if member["mfa_phone_number"]:
        raise GatehouseError(
            Code.MEMBER_PHONE_NUMBER_ALREADY_SET,
            f"member `{member['id']}` already has an mfa phone number; delete it first "
            "(`DELETE .../members/mfa_phone_numbers/{member_id}`), then set the new one",
        )


class Members:
    def __init__(self, runtime: Runtime, organizations: Organizations) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.organizations = organizations

    def view(self, tx: ReadTx, member: MemberRow, org: OrganizationRow) -> MemberView:
        """The member with its direct role assignments, as they are in `tx`."""
        direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
        retired = self.store.retired_emails(tx, [member["id"]])[member["id"]]
        registrations = self.store.sso_registrations(tx, [member["id"]])[member["id"]]
        grants = (
            roles.sso_grants(self.store.saml_connections(tx, org["id"]), registrations)
            if registrations
            else ()
        )
        return MemberView(member, org, tuple(direct), tuple(retired), tuple(registrations), grants)

    def _find(
        self, tx: ReadTx, org: OrganizationRow, member_id: str, *, include_deleted: bool = False
    ) -> MemberRow:
        """By member id or, as the SDK allows, the member's external id."""
        member = self.store.find_member(tx, org["id"], member_id)
        if member is None or (member["status"] == "deleted" and not include_deleted):
            raise NotFound(Kind.MEMBER, member_id)
        return member

    def check_roles(
        self, environment: Environment, org: OrganizationRow, role_ids: list[str]
    ) -> None:
        problems = [
            Problem(
                f"roles[{i}]", f"role `{r}` does not exist in the project or organization policy"
            )
            for i, r in enumerate(role_ids)
            if not role_exists(environment, org, r)
        ]
        if problems:
            raise InvalidInput("unknown role", problems, code=Code.ROLE_NOT_FOUND)

    def create(self, caller: Caller, org_ident: str, fields: dict[str, Any]) -> MemberView:
        environment = caller.environment
        now = clock.now()
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            needs = [enforcement.MEMBER_CREATE] + enforcement.member_update_needs(
                f for f in fields if f in _PRIVILEGED_CREATE_FIELDS
            )
            enforcement.require_member(self.runtime, caller, org, None, needs, fields)
            role_ids = fields.get("roles") or []
            self.check_roles(environment, org, role_ids)
            email = fields["email_address"]
            member = self.new_member_row(environment, org, email, fields, now)
            member["status"] = "pending" if fields.get("create_member_as_pending") else "active"
            self.store.insert_member(tx, member)
            self.store.set_direct_roles(tx, environment.id, member["id"], role_ids)
            events.record_call(self.store, tx, caller, "member.create", member["id"], fields)
            return self.view(tx, member, org)

    @staticmethod
    def new_member_row(
        environment: Environment, org: OrganizationRow, email: str, fields: dict[str, Any], now: Any
    ) -> MemberRow:
        return {
            "id": ids.new_id("member", environment.kind),
            "environment_id": environment.id,
            "organization_id": org["id"],
            "email": email,
            "email_lower": email.lower(),
            "status": "active",
            "name": fields.get("name") or "",
            "external_id": fields.get("external_id"),
            "is_breakglass": bool(fields.get("is_breakglass", False)),
            "email_verified": False,
            "mfa_enrolled": bool(fields.get("mfa_enrolled", False)),
            "mfa_phone_number": fields.get("mfa_phone_number") or "",
            "mfa_phone_verified": False,
            "default_mfa_method": "",
            "totp_registration_id": "",
            "trusted_metadata": fields.get("trusted_metadata") or {},
            "untrusted_metadata": fields.get("untrusted_metadata") or {},
            "password_id": None,
            "password_hash": None,
            "created_at": now,
            "updated_at": now,
            "scim": None,
        }

    def get(
        self, caller: Caller, org_ident: str, member_id: str | None, email: str | None
    ) -> MemberView:
        with self.store.read() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_tenancy(caller, org)
            if member_id:
                member = self._find(tx, org, member_id)
            else:
                assert email is not None
                found = self.store.find_member_by_email(tx, org["id"], email)
                if found is None:
                    raise NotFound(Kind.MEMBER, email)
                member = found
            return self.view(tx, member, org)

    def update(
        self, caller: Caller, org_ident: str, member_id: str, fields: dict[str, Any]
    ) -> MemberView:
        if fields.get("unlink_email"):
            raise InvalidInput(
                "`unlink_email` is not supported: Gatehouse keeps one email per member",
                code=Code.UNSUPPORTED_FEATURE,
            )
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            member = self._find(tx, org, member_id)
            if fields.get("default_mfa_method") == "totp" and not member["totp_registration_id"]:
                raise InvalidInput(
                    "`default_mfa_method` `totp` needs a verified totp registration: create one "
                    "(`totps.create`) and authenticate a code first",
                )
            enforcement.require_member(
                self.runtime,
                caller,
                org,
                member["id"],
                enforcement.member_update_needs(fields),
                fields,
            )
            if "roles" in fields:
                self.check_roles(environment, org, fields["roles"])
            values: MemberValues = {}
            for name in (
                "name",
                "trusted_metadata",
                "untrusted_metadata",
                "is_breakglass",
                "mfa_enrolled",
                "default_mfa_method",
                "external_id",
            ):
                if name in fields:
                    values[name] = fields[name]
            if (
                "mfa_phone_number" in fields
                and fields["mfa_phone_number"] != member["mfa_phone_number"]
            ):
                check_phone_number_free(member)
                values["mfa_phone_number"] = fields["mfa_phone_number"]
                values["mfa_phone_verified"] = False
            email = fields.get("email_address")
            now = clock.now()
            email_changed = email is not None and email.lower() != member["email_lower"]
            if email is not None and email_changed:
                # Stytch: a new address clears the password and needs verifying again; the old
                # one is retired (no other member of the organization may take it).
                values["email"] = email
                values["email_lower"] = email.lower()
                values["email_verified"] = False
                values["password_id"] = None
                values["password_hash"] = None
            elif email is not None:
                values["email"] = email
            values["updated_at"] = now
            # An email (current or retired) or external id another member holds: the store
            # raises Duplicate.
            self.store.update_member(tx, member["id"], values)
            if email_changed:
                self.store.retire_member_email(
                    tx, member, ids.new_id("email", environment.kind), now
                )
            if "roles" in fields:
                self.store.set_direct_roles(tx, environment.id, member["id"], fields["roles"])
            events.record_call(self.store, tx, caller, "member.update", member["id"], fields)
            updated: MemberRow = {**member, **values}
            return self.view(tx, updated, org)

    def delete(self, caller: Caller, org_ident: str, member_id: str) -> str:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            member = self._find(tx, org, member_id)
            enforcement.require_member(
                self.runtime, caller, org, member["id"], [enforcement.MEMBER_DELETE]
            )
            now = clock.now()
            self.store.update_member(tx, member["id"], {"status": "deleted", "updated_at": now})
            self.store.revoke_member_sessions(tx, member["id"], now)
            events.record_call(self.store, tx, caller, "member.delete", member["id"])
        return str(member["id"])

    def reactivate(self, caller: Caller, org_ident: str, member_id: str) -> MemberView:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            member = self._find(tx, org, member_id, include_deleted=True)
            enforcement.require_member(
                self.runtime, caller, org, member["id"], [enforcement.MEMBER_REACTIVATE]
            )
            values: MemberValues = {"status": "active", "updated_at": clock.now()}
            self.store.update_member(tx, member["id"], values)
            events.record_call(
                self.store,
                tx,
                caller,
                "member.reactivate",
                member["id"],
                {"status": [member["status"], "active"]},
            )
            reactivated: MemberRow = {**member, **values}
            return self.view(tx, reactivated, org)

    def delete_mfa_phone_number(self, caller: Caller, org_ident: str, member_id: str) -> MemberView:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            member = self._find(tx, org, member_id)
            enforcement.require_member(
                self.runtime, caller, org, member["id"], [enforcement.MEMBER_DELETE_MFA_PHONE]
            )
            values: MemberValues = {
                "mfa_phone_number": "",
                "mfa_phone_verified": False,
                "updated_at": clock.now(),
            }
            if member["default_mfa_method"] == "sms_otp":
                values["default_mfa_method"] = ""
            self.store.update_member(tx, member["id"], values)
            events.record_call(
                self.store, tx, caller, "member.delete_mfa_phone_number", member["id"]
            )
            cleared: MemberRow = {**member, **values}
            return self.view(tx, cleared, org)

    def delete_password(self, caller: Caller, org_ident: str, password_id: str) -> MemberView:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            member = self.store.find_member_by_password_id(tx, org["id"], password_id)
            if member is None:
                raise NotFound(Kind.MEMBER_PASSWORD, password_id)
            enforcement.require_member(
                self.runtime, caller, org, member["id"], [enforcement.MEMBER_DELETE_PASSWORD]
            )
            values: MemberValues = {
                "password_id": None,
                "password_hash": None,
                "updated_at": clock.now(),
            }
            self.store.update_member(tx, member["id"], values)
            events.record_call(self.store, tx, caller, "member.delete_password", member["id"])
            updated: MemberRow = {**member, **values}
            return self.view(tx, updated, org)

    def search(
        self,
        caller: Caller,
        organization_ids: list[str],
        query: dict[str, Any] | None,
        cursor: str | None,
        limit: int,
        count: bool = True,
    ) -> MemberPage:
        checked = check_query(query, MEMBER_FILTERS)
        check_cursor(cursor)
        environment = caller.environment
        include_deleted = any(
            op.get("filter_name") == "statuses" and "deleted" in (op.get("filter_value") or [])
            for op in (query or {}).get("operands", [])
        )
        with self.store.read() as tx:
            orgs = {}
            for ident in organization_ids:
                org = self.organizations.find(tx, environment, ident)
                orgs[org["id"]] = org
            # Another organization in the list is a tenancy error whatever the order, so tenancy
            # is checked for all of them before any permission.
            for org in orgs.values():
                enforcement.require_tenancy(caller, org)
            for org in orgs.values():
                enforcement.require_member(
                    self.runtime, caller, org, None, [enforcement.MEMBER_SEARCH]
                )
            rows, total, next_cursor = self.store.search_members(
                tx, environment.id, list(orgs), checked, cursor, limit, include_deleted, count
            )
            direct = self.store.direct_roles(tx, [r["id"] for r in rows])
            retired = self.store.retired_emails(tx, [r["id"] for r in rows])
            registered = self.store.sso_registrations(tx, [r["id"] for r in rows])
            connections = {
                org_id: self.store.saml_connections(tx, org_id)
                for org_id in {r["organization_id"] for r in rows if registered[r["id"]]}
            }
            views = [
                MemberView(
                    r,
                    orgs[r["organization_id"]],
                    tuple(direct[r["id"]]),
                    tuple(retired[r["id"]]),
                    tuple(registered[r["id"]]),
                    roles.sso_grants(
                        connections.get(r["organization_id"], []), registered[r["id"]]
                    ),
                )
                for r in rows
            ]
            return MemberPage(views, total, next_cursor, orgs)
