"""Member passwords: import (migrate) existing hashes, authenticate, check strength.

New and upgraded passwords are argon2id. An imported hash is kept in its original scheme only
until its member first signs in, when it is replaced by an argon2id hash of the same password.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gatehouse.errors import Code, GatehouseError, InvalidInput, Unauthorized
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import roles
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import ActiveSession, Caller
from gatehouse.services.security import credentials, password_hashes
from gatehouse.services.security.throttle import FailureThrottle
from gatehouse.storage import Row

_MIGRATED = "migrated:"


def _bad_credentials() -> GatehouseError:
    return Unauthorized("the email address and password do not match a member of this organization")


def verify(hasher: credentials.Passwords, stored: str | None, password: str) -> bool:
    if stored is not None and stored.startswith(_MIGRATED):
        record = json.loads(stored[len(_MIGRATED) :])
        return password_hashes.verify_migrated_hash(record.pop("hash_type"), record, password)
    return hasher.verify(stored, password)


def password_factor(member: Row) -> dict[str, Any]:
    now = clock.iso(clock.now())
    return {
        "type": "password",
        "delivery_method": "knowledge",
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        "email_factor": {"email_id": ids.email_id(member["id"]), "email_address": member["email"]},
    }


class Passwords:
    def __init__(self, members: Members, sessions: Sessions) -> None:
        self.members = members
        self.sessions = sessions
        self.runtime = members.runtime
        self.store = members.store
        self.throttle = FailureThrottle()

    def migrate(self, caller: Caller, fields: dict[str, Any]) -> tuple[bool, Row, dict[str, Any]]:
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
            role_ids = fields.get("roles")
            if role_ids is not None:
                self.members._check_roles(environment, org, role_ids)
            member = self.store.find_member_by_email(tx, org["id"], fields["email_address"])
            password = {
                "password_id": ids.new_id("member-password", environment.kind),
                "password_hash": stored,
            }
            profile = {
                k: fields[k]
                for k in (
                    "name",
                    "trusted_metadata",
                    "untrusted_metadata",
                    "external_id",
                    "mfa_phone_number",
                )
                if fields.get(k) is not None
            }
            if fields.get("set_phone_number_verified") and "mfa_phone_number" in profile:
                profile["mfa_phone_verified"] = True
            created = member is None
            if member is None:
                member = self.members.new_member_row(
                    environment, org, fields["email_address"], fields, now
                )
                member.update(password, **profile)
                self.store.insert_member(tx, member)
            else:
                values = {**password, **profile, "updated_at": now}
                self.store.update_member(tx, member["id"], values)
                member = {**member, **values}
            if role_ids is not None:
                self.store.set_direct_roles(tx, environment.id, member["id"], role_ids)
            events.record(
                self.store,
                tx,
                environment.id,
                caller.actor,
                "member.password_migrate",
                member["id"],
                {"hash_type": hash_type, "member_created": created},
                actor_role=caller.actor_role,
            )
            return created, org, self.members.wire(tx, member, org)

    def authenticate(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        if fields.get("intermediate_session_token"):
            raise InvalidInput(
                "`intermediate_session_token` is not supported: Gatehouse has no discovery or mfa flows yet",
                code=Code.UNSUPPORTED_FEATURE,
            )
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            throttle_key = (environment.id, org["id"], fields["email_address"].lower())
            if self.throttle.blocked(throttle_key):
                raise GatehouseError(
                    Code.TOO_MANY_REQUESTS,
                    "too many failed sign-ins for this email address; wait a few minutes and retry",
                )
            member = self.store.find_member_by_email(tx, org["id"], fields["email_address"])
            stored = member["password_hash"] if member else None
            # Verified even when there is no such member, so timing does not reveal which exist.
            ok = verify(self.runtime.passwords, stored, fields["password"])
            if member is None or stored is None or not ok:
                self.throttle.failed(throttle_key)
                raise _bad_credentials()
            self.throttle.succeeded(throttle_key)
            values: Row = {"updated_at": clock.now()}
            if stored.startswith(_MIGRATED) or self.runtime.passwords.needs_rehash(stored):
                values["password_hash"] = self.runtime.passwords.hash(fields["password"])
            if member["status"] == "pending":
                values["status"] = "active"
            self.store.update_member(tx, member["id"], values)
            member = {**member, **values}
            factor = password_factor(member)
            existing = fields.get("session_token") or fields.get("session_jwt")
            if existing:
                active = self.sessions.resolve(
                    tx,
                    environment,
                    token=fields.get("session_token"),
                    jwt_token=fields.get("session_jwt"),
                )
                if active.member_id != member["id"]:
                    raise InvalidInput(
                        "the session belongs to another member; sign in without it",
                        code=Code.SESSION_MEMBER_MISMATCH,
                    )
                row = dict(active.row)
                now = clock.now()
                row.update(
                    authentication_factors=[
                        f for f in row["authentication_factors"] if f["type"] != "password"
                    ]
                    + [factor],
                    last_accessed_at=now,
                    expires_at=max(row["expires_at"], now + dt.timedelta(minutes=duration)),
                )
                self.store.update_session(
                    tx,
                    row["id"],
                    {
                        k: row[k]
                        for k in ("authentication_factors", "last_accessed_at", "expires_at")
                    },
                )
                token = fields.get("session_token") or ""
            else:
                row, token = self.sessions.start(
                    tx, caller, member, org, factor, duration, fields.get("session_custom_claims")
                )
            events.record(
                self.store,
                tx,
                environment.id,
                caller.actor,
                "member.password_authenticate",
                member["id"],
                actor_role=caller.actor_role,
            )
            member_wire = self.members.wire(tx, member, org)
            direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
        active = ActiveSession(
            row, member, org, roles.effective_role_ids(member, direct, org), tuple(direct)
        )
        return {
            "member": member_wire,
            "org": org,
            "session": active,
            "session_token": token,
            "session_jwt": self.sessions.mint_jwt(environment, row, org, active.roles),
        }

    def strength_check(self, password: str, email: str | None) -> dict[str, Any]:
        return password_hashes.strength_check(password, email)
