"""Member password resets as the official `stytch` SDK calls them: by email
(`passwords.email.reset_start` / `reset`), with the current password
(`passwords.existing_password.reset`), within a session (`passwords.sessions.reset`), and
required by the application (`passwords.email.require_reset`).

Reset tokens are `member_email_tokens` of purpose `reset` (digests only, single use, 30 minutes
by default, 5 to 1,440); a reset a support agent started from the dashboard (`email_tokens`)
completes through the same `passwords.email.reset`. Completing a reset proves the address
(verified), activates a pending or invited member, and revokes the member's other sessions.
"""

from __future__ import annotations

from typing import Any

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound, Unauthorized
from gatehouse.services import clock, events, ids, redirects
from gatehouse.services.addresses import domain_of
from gatehouse.services.b2b import email_templates, enforcement, mfa, org_rules
from gatehouse.services.b2b.email_flows import (
    _METHOD_OF_FACTOR,
    Discovered,
    EmailFlows,
    Sent,
    _check_pkce,
    _intermediate_session_not_found,
    with_query,
)
from gatehouse.services.b2b.passwords import Passwords, password_factor, verify
from gatehouse.services.b2b.sessions import check_custom_claims
from gatehouse.services.context import Caller, SignIn
from gatehouse.services.security import credentials, password_hashes
from gatehouse.services.workspace.support import Support
from gatehouse.storage.interface import ReadTx, WriteTx
from gatehouse.storage.rows import MemberEmailTokenRow, MemberRow, MemberValues, OrganizationRow

RESET = "reset"
DISCOVERY_RESET = "discovery_reset"
RESET_TOKEN_TYPE = "multi_tenant_passwords"
RESET_MINUTES = 30  # Stytch: 5 to 1,440


def _invalid_reset_token() -> GatehouseError:
    return Unauthorized(
        "the password reset token is unknown, expired or already used; send a new reset email",
        code=Code.INVALID_PASSWORD_RESET_TOKEN,
    )


def _check_strength(password: str, email: str) -> None:
    strength = password_hashes.strength_check(password, email)
    if not strength["valid_password"]:
        warning = strength["zxcvbn_feedback"]["warning"]
        raise InvalidInput(
            "the password is too easy to guess"
            + (f" ({warning.rstrip('.').lower()})" if warning else "")
            + "; choose a longer or less common one (see `/v1/b2b/passwords/strength_check`)",
            code=Code.WEAK_PASSWORD,
        )


def _after_commit(outcome: SignIn | mfa.Pending) -> SignIn | mfa.Pending:
    """A reset's outcome once its transaction committed: an owed second factor's SMS code
    (when one was started) is texted now."""
    if isinstance(outcome, mfa.Pending):
        outcome.send()
    return outcome


class PasswordFlows:
    def __init__(self, flows: EmailFlows, passwords: Passwords, support: Support) -> None:
        self.flows = flows
        self.passwords = passwords
        self.support = support
        self.members = flows.members
        self.sessions = flows.sessions
        self.runtime = flows.runtime
        self.store = flows.store

    def _duration(self, fields: dict[str, Any]) -> int:
        return int(
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )

    # -- passwords.email.reset_start / reset ----------------------------------------------

    def reset_start(
        self, caller: Caller, fields: dict[str, Any], client: str = ""
    ) -> tuple[Sent, str]:
        environment = caller.environment
        email = fields["email_address"]
        minutes = int(fields.get("reset_password_expiration_minutes") or RESET_MINUTES)
        with self.store.read() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            member = self.store.find_member_by_email(tx, org["id"], email)
            if member is None:
                raise NotFound(
                    Kind.MEMBER,
                    email,
                    f"organization `{org['id']}` has no member with the address `{email}`",
                )
            org_rules.require_method(org, org_rules.PASSWORD, member)
            url = redirects.resolve(
                self.store,
                tx,
                environment.id,
                "RESET_PASSWORD",
                fields.get("reset_password_redirect_url"),
            )
        self.flows._take_send(environment, email, client)
        with self.store.transaction() as tx:
            token, expires_at = self.flows._issue(
                tx,
                environment,
                RESET,
                member["email"],
                minutes,
                org=org,
                member=member,
                pkce=fields.get("code_challenge"),
            )
            events.record_call(
                self.store,
                tx,
                caller,
                "member.password_reset_start",
                member["id"],
                {"expires_at": clock.iso(expires_at)},
            )
            view = self.members.view(tx, member, org)
        link = with_query(url, stytch_token_type=RESET_TOKEN_TYPE, token=token)
        message = email_templates.render(
            "reset",
            fields.get("locale"),
            org=org["name"],
            email=member["email"],
            minutes=minutes,
            link=link,
        )
        address = member["email"]
        sent = Sent(view, False, lambda: self.flows._deliver(environment.id, address, message))
        return sent, ids.email_id(member["id"])

    def _reset_row(self, tx: ReadTx, caller: Caller, token: str) -> MemberEmailTokenRow | None:
        """The member reset token `token` names (live or not), or None when it is no such
        token (then it may be a support-started reset)."""
        row = self.store.find_member_email_token(
            tx, caller.environment.id, credentials.token_digest(token)
        )
        if row is None or row["purpose"] != RESET:
            return None
        return row

    def _live_reset(
        self, tx: ReadTx, caller: Caller, token: str
    ) -> tuple[MemberEmailTokenRow, MemberRow, OrganizationRow]:
        environment = caller.environment
        row = self._reset_row(tx, caller, token)
        if (
            row is None
            or row["used_at"] is not None
            or row["expires_at"] <= clock.now()
            or not credentials.digest_matches(token, row["token_hash"])
        ):
            raise _invalid_reset_token()
        member = self.store.get_member_by_id(tx, environment.id, row["member_id"] or "")
        org = self.store.find_organization(tx, environment.id, row["organization_id"] or "")
        if (
            member is None
            or org is None
            or member["status"] == "deleted"
            or member["email_lower"] != row["email_lower"]
        ):
            raise _invalid_reset_token()
        return row, member, org

    def reset(self, caller: Caller, fields: dict[str, Any]) -> SignIn | mfa.Pending:
        """`passwords.email.reset`: a reset this API emailed, or one support started."""
        token = fields["password_reset_token"]
        with self.store.read() as tx:
            ours = self._reset_row(tx, caller, token) is not None
        if not ours:
            return self.support.reset_password(caller, fields)
        intermediate = fields.get("intermediate_session_token")
        passed = fields.get("session_token") or fields.get("session_jwt")
        if intermediate and passed:
            raise InvalidInput(
                "pass at most one of `intermediate_session_token`, `session_token` or `session_jwt`"
            )
        check_custom_claims(fields.get("session_custom_claims"))
        with self.store.read() as tx:
            row, member, org = self._live_reset(tx, caller, token)
            enforcement.require_tenancy(caller, org)
            _check_pkce(row, fields.get("code_verifier"))
        _check_strength(fields["password"], member["email"])
        hashed = self.runtime.passwords.hash(fields["password"])  # before any lock
        with self.store.transaction() as tx:
            row, member, org = self._live_reset(tx, caller, token)
            org_rules.require_method(org, org_rules.PASSWORD, member)
            prior = (
                self._spend_intermediate(tx, caller, intermediate, member, org)
                if intermediate
                else []
            )
            if not self.store.use_member_email_token(tx, row["id"], clock.now()):
                raise _invalid_reset_token()
            outcome = self._set_password(
                tx,
                caller,
                fields,
                member,
                org,
                hashed,
                {"email_verified": True},
                "email",
                keep_session="yes" if passed else None,
                prior=prior,
            )
        return _after_commit(outcome)

    def _spend_intermediate(
        self, tx: WriteTx, caller: Caller, token: str, member: MemberRow, org: OrganizationRow
    ) -> list[dict[str, Any]]:
        """The primary factors of the intermediate session `token` (a discovery one of the
        member's address, or one of the member's in this organization), spent now: the reset
        adds its password factor to them."""
        row = self.flows._intermediate(tx, caller.environment, token)
        if row["email"].lower() != member["email_lower"] or (
            row["organization_id"] is not None
            and (row["organization_id"] != org["id"] or row["member_id"] != member["id"])
        ):
            raise InvalidInput(
                "the intermediate session belongs to another member; reset without it",
                code=Code.SESSION_MEMBER_MISMATCH,
            )
        for factor in row["authentication_factors"]:
            method = _METHOD_OF_FACTOR.get(factor["type"])
            if method is not None:
                org_rules.require_method(org, method, member)
        if not self.store.use_intermediate_session(tx, row["id"], clock.now()):
            raise _intermediate_session_not_found()
        email_factor = {"email_id": ids.email_id(member["id"]), "email_address": member["email"]}
        return [
            {**f, "email_factor": email_factor} if "email_factor" in f else dict(f)
            for f in row["authentication_factors"]
            if f["type"] != "password"  # the reset's own password factor replaces it
        ]

    def _set_password(
        self,
        tx: WriteTx,
        caller: Caller,
        fields: dict[str, Any],
        member: MemberRow,
        org: OrganizationRow,
        hashed: str,
        extra: MemberValues,
        by: str,
        keep_session: str | None = None,
        prior: list[dict[str, Any]] | None = None,
    ) -> SignIn | mfa.Pending:
        """Set the member's password and sign them in: the factor is added to the session
        passed (`keep_session`; the member's other sessions are revoked), or every session is
        revoked and a new one starts, unless the member owes a second factor (`mfa.required`):
        then the password is still changed and an intermediate session holds the factor.
        `prior` are the primary factors of an intermediate session the reset spent: the new
        session (or the intermediate session) holds them before the password factor."""
        environment = caller.environment
        now = clock.now()
        values: MemberValues = {
            "password_hash": hashed,
            "password_id": member["password_id"] or ids.new_id("member-password", environment.kind),
            "updated_at": now,
            **extra,
        }
        if member["status"] in ("pending", "invited"):
            values["status"] = "active"
        self.store.update_member(tx, member["id"], values)
        member = {**member, **values}
        factor = password_factor(member["id"], member["email"])
        if keep_session is not None:
            current = self.sessions.load(
                tx,
                environment,
                token=fields.get("session_token"),
                jwt_token=fields.get("session_jwt"),
            )
            if current.member_id != member["id"]:
                raise InvalidInput(
                    "the session belongs to another member; reset without it",
                    code=Code.SESSION_MEMBER_MISMATCH,
                )
            others = [
                s
                for s in self.store.active_sessions(tx, member["id"], now)
                if s["id"] != current.row["id"]
            ]
            for other in others:
                self.store.update_session(tx, other["id"], {"revoked_at": now})
            row = self.sessions.add_factor(
                tx,
                current.row,
                factor,
                self._duration(fields),
                fields.get("session_custom_claims"),
            )
            token = fields.get("session_token") or ""
            revoked = len(others)
        else:
            revoked = self.store.revoke_member_sessions(tx, member["id"], now)
            if mfa.required(org, member):
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "member.password_reset",
                    member["id"],
                    {"by": by, "sessions_revoked": revoked},
                )
                return mfa.pend(self.members, tx, caller, member, org, [*(prior or []), factor])
            factors = [*(prior or []), factor]
            row, token = self.sessions.start(
                tx,
                caller,
                member,
                org,
                factors[0],
                self._duration(fields),
                fields.get("session_custom_claims"),
            )
            for later in factors[1:]:
                row = self.sessions.add_factor(tx, row, later, self._duration(fields))
        events.record_call(
            self.store,
            tx,
            caller,
            "member.password_reset",
            member["id"],
            {"by": by, "sessions_revoked": revoked},
        )
        active = self.sessions.signed_in(tx, row, token, member, org)
        return self.sessions.with_jwt(environment, active, token)

    # -- passwords.existing_password.reset -------------------------------------------------

    def existing_password_reset(
        self, caller: Caller, fields: dict[str, Any], client: str = ""
    ) -> SignIn | mfa.Pending:
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        email = fields["email_address"]
        with self.store.read() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            account = (environment.id, org["id"], email.lower())
            client_key = f"{environment.id}:{client}"
            self.passwords.guard.check(account, client_key)
            found = self.store.find_member_by_email(tx, org["id"], email)
        stored = found["password_hash"] if found else None
        ok = verify(self.runtime.passwords, stored, fields["existing_password"])
        if found is None or stored is None or not ok:
            self.passwords.guard.failed(account, client_key)
            raise Unauthorized(
                "the email address and password do not match a member of this organization"
            )
        self.passwords.guard.succeeded(account, client_key)
        _check_strength(fields["new_password"], found["email"])
        hashed = self.runtime.passwords.hash(fields["new_password"])
        with self.store.transaction() as tx:
            member = self.store.get_member(tx, org["id"], found["id"])
            if member is None or member["status"] == "deleted" or member["password_hash"] != stored:
                raise Unauthorized(
                    "the email address and password do not match a member of this organization"
                )
            org_rules.require_method(org, org_rules.PASSWORD, member)
            outcome = self._set_password(tx, caller, fields, member, org, hashed, {}, "existing")
        return _after_commit(outcome)

    # -- passwords.sessions.reset ----------------------------------------------------------

    def session_reset(self, caller: Caller, fields: dict[str, Any]) -> SignIn | mfa.Pending:
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        if bool(fields.get("session_token")) == bool(fields.get("session_jwt")):
            raise InvalidInput("pass exactly one of `session_token` or `session_jwt`")
        with self.store.read() as tx:
            org = self.members.organizations.find(tx, environment, fields["organization_id"])
            current = self.sessions.load(
                tx,
                environment,
                token=fields.get("session_token"),
                jwt_token=fields.get("session_jwt"),
            )
            if current.organization_id != org["id"]:
                raise InvalidInput(
                    f"the session belongs to organization `{current.organization_id}`, not "
                    f"`{org['id']}`",
                    code=Code.SESSION_MEMBER_MISMATCH,
                )
        _check_strength(fields["password"], current.member["email"])
        hashed = self.runtime.passwords.hash(fields["password"])
        with self.store.transaction() as tx:
            member = self.store.get_member(tx, org["id"], current.member_id)
            if member is None or member["status"] == "deleted":
                raise NotFound(Kind.MEMBER, current.member_id)
            org_rules.require_method(org, org_rules.PASSWORD, member)
            return self._set_password(
                tx, caller, fields, member, org, hashed, {}, "session", keep_session="yes"
            )

    # -- passwords.email.require_reset -----------------------------------------------------

    def require_reset(self, caller: Caller, fields: dict[str, Any]) -> int:
        """The password of the address's member (in `organization_id`, else every one of the
        environment's members with that address) stops working until it is reset; its id is
        kept, so `member_password_id` still shows there is one to reset. Returns how many."""
        environment = caller.environment
        email = fields["email_address"]
        with self.store.transaction() as tx:
            if fields.get("organization_id"):
                org = self.members.organizations.find(tx, environment, fields["organization_id"])
                found = (
                    self.store.find_member(tx, org["id"], fields["member_id"])
                    if fields.get("member_id")
                    else self.store.find_member_by_email(tx, org["id"], email)
                )
                targets = [] if found is None or found["status"] == "deleted" else [found]
            else:
                targets = self.store.members_by_email(tx, environment.id, email)
                if fields.get("member_id"):
                    targets = [m for m in targets if m["id"] == fields["member_id"]]
            targets = [m for m in targets if m["email_lower"] == email.lower()]
            if not targets:
                raise NotFound(Kind.MEMBER, fields.get("member_id") or email)
            with_password = [m for m in targets if m["password_id"] is not None]
            if not with_password:
                raise NotFound(Kind.MEMBER_PASSWORD, email, f"`{email}` has no password to reset")
            orgs = {
                o["id"]: o
                for o in self.store.get_organizations(
                    tx, environment.id, [m["organization_id"] for m in with_password]
                )
            }
            for member in with_password:
                enforcement.require_member(
                    self.runtime,
                    caller,
                    orgs[member["organization_id"]],
                    member["id"],
                    [("update.info.delete.password", "update.info.delete.password")],
                )
            for member in with_password:
                self.store.update_member(
                    tx, member["id"], {"password_hash": None, "updated_at": clock.now()}
                )
                events.record_call(
                    self.store, tx, caller, "member.password_require_reset", member["id"]
                )
            return len(with_password)

    # -- discovery (cross-organization) passwords ------------------------------------------

    def discovery_reset_start(
        self, caller: Caller, fields: dict[str, Any], client: str = ""
    ) -> Sent:
        """Email a reset link for the address itself: it sets the password of every member
        the address has in the environment (as Stytch's cross-organization passwords do).
        Answers the same whether or not the address has members."""
        environment = caller.environment
        email = fields["email_address"]
        minutes = int(fields.get("reset_password_expiration_minutes") or RESET_MINUTES)
        with self.store.read() as tx:
            url = redirects.resolve(
                self.store,
                tx,
                environment.id,
                "RESET_PASSWORD",
                fields.get("reset_password_redirect_url"),
            )
        self.flows._take_send(environment, email, client)
        with self.store.transaction() as tx:
            token, _ = self.flows._issue(
                tx,
                environment,
                DISCOVERY_RESET,
                email,
                minutes,
                pkce=fields.get("pkce_code_challenge"),
            )
            events.record_call(
                self.store, tx, caller, "discovery.password_reset_start", domain_of(email)
            )
        link = with_query(url, stytch_token_type=RESET_TOKEN_TYPE, token=token)
        message = email_templates.render(
            "discovery_reset",
            fields.get("locale"),
            email=email,
            minutes=minutes,
            link=link,
        )
        return Sent(None, False, lambda: self.flows._deliver(environment.id, email, message))

    def _live_discovery_reset(self, tx: ReadTx, caller: Caller, token: str) -> MemberEmailTokenRow:
        row = self.store.find_member_email_token(
            tx, caller.environment.id, credentials.token_digest(token)
        )
        if (
            row is None
            or row["purpose"] != DISCOVERY_RESET
            or row["used_at"] is not None
            or row["expires_at"] <= clock.now()
            or not credentials.digest_matches(token, row["token_hash"])
        ):
            raise _invalid_reset_token()
        return row

    def discovery_reset(self, caller: Caller, fields: dict[str, Any]) -> Discovered:
        token = fields["password_reset_token"]
        with self.store.read() as tx:
            row = self._live_discovery_reset(tx, caller, token)
            _check_pkce(row, fields.get("pkce_code_verifier"))
        _check_strength(fields["password"], row["email"])
        hashed = self.runtime.passwords.hash(fields["password"])
        environment = caller.environment
        with self.store.transaction() as tx:
            row = self._live_discovery_reset(tx, caller, token)
            if not self.store.use_member_email_token(tx, row["id"], clock.now()):
                raise _invalid_reset_token()
            now = clock.now()
            members = self.store.members_by_email(tx, environment.id, row["email"])
            orgs = {
                o["id"]: o
                for o in self.store.get_organizations(
                    tx, environment.id, [m["organization_id"] for m in members]
                )
            }
            for member in members:
                org = orgs[member["organization_id"]]
                if not org_rules.method_allowed(org, org_rules.PASSWORD, member):
                    continue
                values: MemberValues = {
                    "password_hash": hashed,
                    "password_id": member["password_id"]
                    or ids.new_id("member-password", environment.kind),
                    "email_verified": True,
                    "updated_at": now,
                }
                self.store.update_member(tx, member["id"], values)
                revoked = self.store.revoke_member_sessions(tx, member["id"], now)
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "member.password_reset",
                    member["id"],
                    {"by": "discovery_email", "sessions_revoked": revoked},
                )
            return self.flows._start_intermediate(tx, caller, row["email"], "password")

    def discovery_authenticate(
        self, caller: Caller, fields: dict[str, Any], client: str = ""
    ) -> Discovered:
        """The address's password (the one its members share after a discovery reset; any of
        its members' passwords proves the address) starts an intermediate session."""
        environment = caller.environment
        email = fields["email_address"]
        account = (environment.id, "discovery", email.lower())
        client_key = f"{environment.id}:{client}"
        self.passwords.guard.check(account, client_key)
        with self.store.read() as tx:
            stored = [
                m["password_hash"]
                for m in self.store.members_by_email(tx, environment.id, email)
                if m["password_hash"] is not None
            ]
        # One verification at least, so timing does not reveal whether the address has one.
        ok = any(verify(self.runtime.passwords, h, fields["password"]) for h in stored) or (
            not stored and verify(self.runtime.passwords, None, fields["password"])
        )
        if not ok:
            self.passwords.guard.failed(account, client_key)
            raise Unauthorized("the email address and password do not match")
        self.passwords.guard.succeeded(account, client_key)
        with self.store.transaction() as tx:
            return self.flows._start_intermediate(tx, caller, email, "password")
