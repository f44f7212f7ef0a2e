"""Member passwords: import (migrate) existing hashes, authenticate, check strength.

New and upgraded passwords are argon2id. An imported hash is kept in its original scheme only
until its member first signs in, when it is replaced by an argon2id hash of the same password.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from gatehouse.errors import Code, GatehouseError, InvalidInput, Unauthorized
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement, mfa, org_rules
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import Caller, MemberView, SignIn
from gatehouse.services.security import credentials, password_hashes
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    SessionStore,
    Transactions,
)
from gatehouse.storage.rows import MemberRow, MemberValues


class _Store(Transactions, OrganizationStore, MemberStore, SessionStore, EventStore, Protocol):
    """The storage this service uses."""


_MIGRATED = "migrated:"


def _bad_credentials() -> GatehouseError:
    return Unauthorized("the email address and password do not match a member of this organization")


def verify(hasher: credentials.Passwords, stored: str | None, password: str) -> bool:
    if stored is not None and stored.startswith(_MIGRATED):
        record = json.loads(stored[len(_MIGRATED) :])
        with hasher.slot():  # imported schemes (bcrypt, scrypt, pbkdf2...) are slow too
            return password_hashes.verify_migrated_hash(record.pop("hash_type"), record, password)
    return hasher.verify(stored, password)


def password_factor(member_id: str, email: str) -> dict[str, Any]:
    now = clock.iso(clock.now())
    return {
        "type": "password",
        "delivery_method": "knowledge",
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        "email_factor": {"email_id": ids.email_id(member_id), "email_address": email},
    }


@dataclass(frozen=True, slots=True)
class Migrated:
    """A member whose password hash was imported, and whether the import created them."""

    view: MemberView
    member_created: bool


class Passwords:
    def __init__(self, members: Members, sessions: Sessions) -> None:
        self.members = members
        self.sessions = sessions
        self.runtime = members.runtime
        self.store: _Store = members.runtime.store
        self.guard = members.runtime.sign_in_guard()

    def migrate(self, caller: Caller, fields: dict[str, Any]) -> Migrated:
        hash_type = fields["hash_type"]
        config_field = password_hashes.CONFIG_FIELD.get(hash_type)
        record = password_hashes.check_migrated_hash(
            hash_type, fields["hash"], fields.get(config_field) if config_field else None
        )
        for other in set(password_hashes.CONFIG_FIELD.values()) - {config_field}:
            if fields.get(other) is not None:
                raise InvalidInput(f"`{other}` does not apply to hash type `{hash_type}`")
        stored = _MIGRATED + json.dumps({"hash_type": hash_type, **record})
        environment = caller.environment
        now = clock.now()
        with self.store.transaction() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            role_ids = fields.get("roles")
            if role_ids is not None:
                self.members.check_roles(environment, org, role_ids)
            found = self.store.find_member_by_email(tx, org["id"], fields["email_address"])
            values: MemberValues = {
                "password_id": ids.new_id("member-password", environment.kind),
                "password_hash": stored,
                # Stytch: migrate marks the member's email address as verified.
                "email_verified": True,
                "updated_at": now,
            }
            if fields.get("name") is not None:
                values["name"] = fields["name"]
            if fields.get("trusted_metadata") is not None:
                values["trusted_metadata"] = fields["trusted_metadata"]
            if fields.get("untrusted_metadata") is not None:
                values["untrusted_metadata"] = fields["untrusted_metadata"]
            if fields.get("external_id") is not None:
                values["external_id"] = fields["external_id"]
            if fields.get("mfa_phone_number") is not None:
                values["mfa_phone_number"] = fields["mfa_phone_number"]
                if fields.get("set_phone_number_verified"):
                    values["mfa_phone_verified"] = True
            created = found is None
            if found is None:
                new = self.members.new_member_row(
                    environment, org, fields["email_address"], fields, now
                )
                member: MemberRow = {**new, **values}
                self.store.insert_member(tx, member)
            else:
                self.store.update_member(tx, found["id"], values)
                member = {**found, **values}
            if role_ids is not None:
                self.store.set_direct_roles(tx, environment.id, member["id"], role_ids)
            events.record_call(
                self.store,
                tx,
                caller,
                "member.password_migrate",
                member["id"],
                {"hash_type": hash_type, "member_created": created},
            )
            return Migrated(self.members.view(tx, member, org), created)

    def authenticate(
        self, caller: Caller, fields: dict[str, Any], client: str = ""
    ) -> SignIn | mfa.Pending:
        """Sign a member in with their password (into a new session, or adding the factor to
        the session passed). The hash is checked outside any transaction: it is slow on purpose
        and must hold no lock; the write that follows checks the hash is still the one verified.

        `client` is the caller's IP address (the application's server, for the B2B API):
        failures are limited per client and, without locking the owner out, per account
        (throttle.SignInGuard)."""
        if fields.get("intermediate_session_token"):
            raise InvalidInput(
                "`intermediate_session_token` is not supported here: complete the sign-in with "
                "the second factor's endpoint (`totps.authenticate`, `otps.sms.authenticate`, "
                "`recovery_codes.recover`), or exchange it with "
                "`discovery.intermediate_sessions.exchange`",
                code=Code.UNSUPPORTED_FEATURE,
            )
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        password = fields["password"]
        with self.store.read() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            account = (environment.id, org["id"], fields["email_address"].lower())
            client_key = f"{environment.id}:{client}"
            self.guard.check(account, client_key)
            found = self.store.find_member_by_email(tx, org["id"], fields["email_address"])
        stored = found["password_hash"] if found else None
        # Verified even when there is no such member, so timing does not reveal which exist.
        ok = verify(self.runtime.passwords, stored, password)
        if found is None or stored is None or not ok:
            self.guard.failed(account, client_key)
            raise _bad_credentials()
        self.guard.succeeded(account, client_key)
        values: MemberValues = {"updated_at": clock.now()}
        if stored.startswith(_MIGRATED) or self.runtime.passwords.needs_rehash(stored):
            values["password_hash"] = self.runtime.passwords.hash(password)
        with self.store.transaction() as tx:
            current = self.store.get_member(tx, org["id"], found["id"])
            if current is None or current["status"] == "deleted":
                raise _bad_credentials()
            if current["password_hash"] != stored:  # changed since it was verified
                raise _bad_credentials()
            # After the password verified, so a refusal says nothing about who is a member.
            org_rules.require_method(org, org_rules.PASSWORD, current)
            if current["status"] == "pending":
                values["status"] = "active"
            self.store.update_member(tx, current["id"], values)
            member: MemberRow = {**current, **values}
            factor = password_factor(member["id"], member["email"])
            pending: mfa.Pending | None = None
            if fields.get("session_token") or fields.get("session_jwt"):
                existing = self.sessions.load(
                    tx,
                    environment,
                    token=fields.get("session_token"),
                    jwt_token=fields.get("session_jwt"),
                )
                if existing.member_id != member["id"]:
                    raise InvalidInput(
                        "the session belongs to another member; sign in without it",
                        code=Code.SESSION_MEMBER_MISMATCH,
                    )
                row = self.sessions.add_factor(
                    tx, existing.row, factor, duration, fields.get("session_custom_claims")
                )
                token = fields.get("session_token") or ""
            elif mfa.required(org, member):
                events.record_call(
                    self.store, tx, caller, "member.password_authenticate", member["id"]
                )
                pending = mfa.pend(self.members, tx, caller, member, org, [factor])
            else:
                row, token = self.sessions.start(
                    tx, caller, member, org, factor, duration, fields.get("session_custom_claims")
                )
            if pending is None:
                events.record_call(
                    self.store, tx, caller, "member.password_authenticate", member["id"]
                )
                active = self.sessions.signed_in(tx, row, token, member, org)
        if pending is not None:
            pending.send()  # after the commit
            return pending
        return self.sessions.with_jwt(environment, active, token)

    def strength_check(self, password: str, email: str | None) -> dict[str, Any]:
        return password_hashes.strength_check(password, email)
