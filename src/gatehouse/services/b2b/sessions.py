"""Member sessions: start, authenticate (token or JWT, with an optional authorization check),
list and revoke; and the session JWTs the official SDK verifies locally.

Tokens are stored only as SHA-256 digests. A JWT lives `jwt_lifetime_seconds` (5 minutes) and
carries the roles of the moment it was minted; server-side checks always use the current roles.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from gatehouse.errors import (
    Code,
    Denied,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
    tenancy_error,
)
from gatehouse.policy import Decision
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement, roles
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.context import (
    ActiveSession,
    CachedSession,
    Caller,
    Environment,
    MemberView,
    SignIn,
)
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.services.security.signing import SigningKeys
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    ProjectStore,
    ReadTx,
    SessionStore,
    SsoStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import MemberRow, OrganizationRow, SessionRow, SessionValues


class _Store(
    Transactions,
    OrganizationStore,
    MemberStore,
    SessionStore,
    ProjectStore,
    EventStore,
    SsoStore,
    Protocol,
):
    """The storage this service uses."""


def sso_grants_of(store: SsoStore, tx: ReadTx, member_id: str, org_id: str) -> tuple[Any, ...]:
    """The member's SAML connection grants (roles.SsoGrant), from their registrations."""
    registrations = store.sso_registrations(tx, [member_id])[member_id]
    if not registrations:
        return ()
    return roles.sso_grants(store.saml_connections(tx, org_id), registrations)


SESSION_CLAIM = "https://stytch.com/session"
ORGANIZATION_CLAIM = "https://stytch.com/organization"
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
LAST_ACCESS_RESOLUTION = dt.timedelta(minutes=1)


def session_not_found() -> GatehouseError:
    return GatehouseError(
        Code.SESSION_NOT_FOUND, "the session was not found, has expired or was revoked"
    )


def invalid_jwt() -> GatehouseError:
    return Unauthorized(
        "the session jwt is malformed or its signature does not verify", code=Code.INVALID_JWT
    )


def check_custom_claims(claims: dict[str, Any] | None) -> None:
    if not claims:
        return
    bad = sorted(k for k in claims if k in RESERVED_CLAIMS or k.startswith("https://stytch.com/"))
    if bad:
        raise InvalidInput(
            f"custom claim `{bad[0]}` is reserved; choose another claim name",
            code=Code.INVALID_CUSTOM_CLAIMS,
        )


def merge_claims(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` merged into `current` as Stytch merges session custom claims: deeply. A key set
    to null is deleted, at any depth; an object merges into an object at the same key (its other
    keys are kept); any other value replaces what was there. `current` is not changed."""
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            below = merged.get(key)
            merged[key] = merge_claims(below if isinstance(below, dict) else {}, value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True)
class Authenticated:
    """`sessions.authenticate`'s answer: the session, its token and JWT, and the decision on
    the authorization check when one was asked (a denying one: nothing was written)."""

    active: ActiveSession
    session_token: str
    session_jwt: str
    decision: Decision | None


class Sessions:
    def __init__(self, runtime: Runtime, keys: SigningKeys, organizations: Organizations) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.keys = keys
        self.organizations = organizations

    # -- minting -----------------------------------------------------------------------------

    def mint_jwt(
        self,
        environment: Environment,
        row: SessionRow,
        org: OrganizationRow,
        role_ids: frozenset[str],
    ) -> str:
        now = clock.now()
        exp = min(
            now + dt.timedelta(seconds=self.runtime.settings.jwt_lifetime_seconds),
            row["expires_at"],
        )
        claims: dict[str, Any] = {
            **row["custom_claims"],
            "sub": row["member_id"],
            "aud": [environment.id],
            "iss": self.runtime.settings.public_url.rstrip("/"),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(exp.timestamp()),
            SESSION_CLAIM: {
                "id": row["id"],
                "started_at": clock.iso(row["started_at"]),
                "last_accessed_at": clock.iso(row["last_accessed_at"]),
                "expires_at": clock.iso(row["expires_at"]),
                "attributes": {"ip_address": "", "user_agent": ""},
                "authentication_factors": row["authentication_factors"],
                "roles": sorted(role_ids),
            },
            ORGANIZATION_CLAIM: {"organization_id": org["id"], "slug": org["slug"]},
        }
        return self.keys.sign(environment.id, claims)

    def start(
        self,
        tx: WriteTx,
        caller: Caller,
        member: MemberRow,
        org: OrganizationRow,
        factor: dict[str, Any],
        duration_minutes: int,
        custom_claims: dict[str, Any] | None,
    ) -> tuple[SessionRow, str]:
        """Open a session; returns its row and the token (shown once, stored only as a digest)."""
        environment = caller.environment
        now = clock.now()
        token = credentials.new_token()
        row: SessionRow = {
            "id": ids.new_id("member-session", environment.kind),
            "environment_id": environment.id,
            "organization_id": org["id"],
            "member_id": member["id"],
            "token_hash": credentials.token_digest(token),
            "authentication_factors": [factor],
            "custom_claims": merge_claims({}, custom_claims or {}),
            "started_at": now,
            "last_accessed_at": now,
            "expires_at": now + dt.timedelta(minutes=duration_minutes),
            "revoked_at": None,
        }
        self.store.insert_session(tx, row)
        events.record_call(
            self.store, tx, caller, "session.start", row["id"], {"member_id": member["id"]}
        )
        return row, token

    def add_factor(
        self,
        tx: WriteTx,
        row: SessionRow,
        factor: dict[str, Any],
        duration_minutes: int,
        custom_claims: dict[str, Any] | None = None,
    ) -> SessionRow:
        """Record a new factor of `factor`'s type on a live session (replacing an older one of
        that type and delivery method: an email code and an SMS code are both `otp`), extend it to at least `duration_minutes` from now and merge in
        `custom_claims`."""
        now = clock.now()
        values: SessionValues = {
            "authentication_factors": [
                f
                for f in row["authentication_factors"]
                if (f["type"], f.get("delivery_method"))
                != (factor["type"], factor.get("delivery_method"))
            ]
            + [factor],
            "last_accessed_at": now,
            "expires_at": max(row["expires_at"], now + dt.timedelta(minutes=duration_minutes)),
        }
        if custom_claims:
            values["custom_claims"] = merge_claims(row["custom_claims"], custom_claims)
        self.store.update_session(tx, row["id"], values)
        return {**row, **values}

    def signed_in(
        self, tx: ReadTx, row: SessionRow, token: str, member: MemberRow, org: OrganizationRow
    ) -> ActiveSession:
        """The session just started or extended for `member`, with their roles as they are."""
        direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
        sso = sso_grants_of(self.store, tx, member["id"], org["id"])
        role_ids = roles.effective_role_ids(member, direct, org, sso, row["authentication_factors"])
        return ActiveSession(row, member, org, role_ids, tuple(direct))

    def with_jwt(self, environment: Environment, active: ActiveSession, token: str) -> SignIn:
        """The sign-in's answer: its JWT is signed after the write transaction, not in it."""
        jwt_ = self.mint_jwt(environment, active.row, active.org, active.roles)
        return SignIn(active, token, jwt_)

    # -- resolving ---------------------------------------------------------------------------

    def _session_from_jwt(self, tx: ReadTx, environment: Environment, token: str) -> SessionRow:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.verifier(tx, environment.id, str(header.get("kid", "")))
            if key is None:
                raise invalid_jwt()
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=environment.id,
                issuer=self.runtime.settings.public_url.rstrip("/"),
                # An expired JWT still names its session; the session's own state decides.
                options={"verify_exp": False, "require": ["sub", "iat", SESSION_CLAIM]},
            )
            session_id = claims[SESSION_CLAIM]["id"]
        except (jwt.PyJWTError, KeyError, TypeError, ValueError, LookupError):
            raise invalid_jwt() from None
        row = self.store.get_session(tx, environment.id, str(session_id))
        if row is None or row["member_id"] != claims["sub"]:
            raise session_not_found()
        return row

    def load(
        self,
        tx: ReadTx,
        environment: Environment,
        *,
        token: str | None = None,
        jwt_token: str | None = None,
    ) -> ActiveSession:
        """The live session a token or JWT names, with its member's current roles."""
        if token:
            row = self.store.find_session_by_token_hash(
                tx, environment.id, credentials.token_digest(token)
            )
            if row is None or not credentials.digest_matches(token, row["token_hash"]):
                raise session_not_found()
        elif jwt_token:
            row = self._session_from_jwt(tx, environment, jwt_token)
        else:
            raise InvalidInput("pass `session_token` or `session_jwt`", code=Code.INVALID_REQUEST)
        if row["revoked_at"] is not None or row["expires_at"] <= clock.now():
            raise session_not_found()
        member = self.store.get_member_by_id(tx, environment.id, row["member_id"])
        if member is None or member["status"] == "deleted":
            raise session_not_found()
        org = self.store.find_organization(tx, environment.id, row["organization_id"])
        assert org is not None
        direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
        sso = sso_grants_of(self.store, tx, member["id"], org["id"])
        role_ids = roles.effective_role_ids(member, direct, org, sso, row["authentication_factors"])
        return ActiveSession(row, member, org, role_ids, tuple(direct))

    def lookup_cached(
        self, environment: Environment, token: str | None, jwt_token: str | None
    ) -> CachedSession | None:
        """The live session from this node's memory, or None (then ask `lookup`). Never
        answers for a session that has expired or that the node knows was revoked."""
        cache = self.runtime.cache
        entry: CachedSession | None = None
        if token:
            entry = cache.session_by_token(credentials.token_digest(token))
        elif jwt_token:
            known = cache.jwt_session(environment.id, jwt_token)
            if known is not None:
                entry = cache.session(known[0])
                if entry is not None and entry.active.member_id != known[1]:
                    return None
        if entry is None or entry.environment_id != environment.id:
            return None
        row = entry.active.row
        if row["revoked_at"] is not None or row["expires_at"] <= clock.now():
            return None
        return entry

    def lookup(
        self, environment: Environment, token: str | None, jwt_token: str | None
    ) -> CachedSession:
        """The live session a token or JWT names: from memory when warm, else the database."""
        entry = self.lookup_cached(environment, token, jwt_token)
        if entry is not None:
            return entry
        cache = self.runtime.cache
        generation = cache.generation
        with self.store.read() as tx:
            active = self.load(tx, environment, token=token, jwt_token=jwt_token)
        if jwt_token and not token:
            cache.put_jwt(environment.id, jwt_token, active.row["id"], active.member_id)
        return cache.put_session(generation, active, environment.id)

    # -- API operations ----------------------------------------------------------------------

    def authenticate(
        self,
        caller: Caller,
        token: str | None,
        jwt_token: str | None,
        duration_minutes: int | None,
        custom_claims: dict[str, Any] | None,
        check: dict[str, str] | None,
    ) -> Authenticated:
        """The live session, extended and with a fresh JWT when due; with `check`, its decision
        too (a denial writes nothing and signs nothing: the caller refuses the request)."""
        check_custom_claims(custom_claims)
        environment = caller.environment
        entry = self.lookup(environment, token, jwt_token)
        active = entry.active
        decision = self.check(environment, active, check) if check is not None else None
        if decision is not None and not decision.allowed:
            return Authenticated(active, token or "", "", decision)
        values = self._updates(active.row, clock.now(), duration_minutes, custom_claims)
        if not values:
            return Authenticated(active, token or "", self._jwt(environment, entry), decision)
        with self.store.transaction() as tx:
            self.store.update_session(tx, active.row["id"], values)
        row: SessionRow = {**active.row, **values}
        active = ActiveSession(row, active.member, active.org, active.roles, active.direct_roles)
        session_jwt = self.mint_jwt(environment, row, active.org, active.roles)
        return Authenticated(active, token or "", session_jwt, decision)

    def authenticate_warm(
        self,
        caller: Caller,
        token: str | None,
        jwt_token: str | None,
        check: dict[str, str] | None,
    ) -> tuple[CachedSession, Decision | None] | None:
        """`authenticate` without a duration or claims, answered from memory alone; None when
        it would need the database or a fresh signature (then call `authenticate`). The entry
        carries the session JWT to return and the response's encoded wire objects."""
        environment = caller.environment
        entry = self.lookup_cached(environment, token, jwt_token)
        if entry is None or not self._jwt_reusable(entry):
            return None
        active = entry.active
        if self._updates(active.row, clock.now(), None, None):
            return None
        decision = self.check(environment, active, check) if check is not None else None
        return entry, decision

    @staticmethod
    def _updates(
        row: SessionRow,
        now: dt.datetime,
        duration_minutes: int | None,
        custom_claims: dict[str, Any] | None,
    ) -> SessionValues:
        """What authenticating changes on the session row (often nothing)."""
        values: SessionValues = {}
        # last_accessed_at moves at most once a minute, so a stream of checks is not a stream
        # of writes.
        if now - row["last_accessed_at"] >= LAST_ACCESS_RESOLUTION:
            values["last_accessed_at"] = now
        if duration_minutes is not None:
            expires_at = now + dt.timedelta(minutes=duration_minutes)
            if any(f.get("type") == "impersonated" for f in row["authentication_factors"]):
                # An impersonation stays as short as it was granted; it cannot be extended.
                expires_at = min(expires_at, row["expires_at"])
            values["expires_at"] = expires_at
        if custom_claims:
            merged = merge_claims(row["custom_claims"], custom_claims)
            if merged != row["custom_claims"]:
                values["custom_claims"] = merged
        return values

    def _jwt_reusable(self, entry: CachedSession) -> bool:
        # Everything a JWT says comes from the session, member and organization rows; any change
        # to them drops the cache entry, so within one entry only the age of the JWT matters.
        age = time.monotonic() - entry.jwt_minted_at
        return bool(entry.jwt) and age < self.runtime.settings.jwt_reuse_seconds

    def _jwt(self, environment: Environment, entry: CachedSession) -> str:
        if not self._jwt_reusable(entry):
            active = entry.active
            entry.jwt = self.mint_jwt(environment, active.row, active.org, active.roles)
            entry.jwt_minted_at = time.monotonic()
            # Signed here, so verified: the app sending it back skips the signature check.
            self.runtime.cache.put_jwt(
                environment.id, entry.jwt, active.row["id"], active.member_id
            )
        return str(entry.jwt)

    def check(
        self, environment: Environment, active: ActiveSession, check: dict[str, str]
    ) -> Decision:
        """The decision on `check` for the session's member; a member of another organization
        than the check's is refused with the tenancy error (never a plain denial)."""
        if check["organization_id"] != active.organization_id:
            raise tenancy_error(active.organization_id, check["organization_id"])
        compiled = self.runtime.compiled_for_org(environment, active.org)
        return compiled.authorize(active.roles, check["resource_id"], check["action"])

    def jwks(self, environment_id: str) -> list[dict[str, Any]]:
        """The environment's public signing keys; NotFound (the wire's unknown `project_id`)
        for an unknown environment."""
        with self.store.read() as tx:
            if self.store.environment_head(tx, environment_id) is None:
                raise NotFound(Kind.PROJECT, environment_id)
            return self.keys.jwks(tx, environment_id)

    def list_active(self, caller: Caller, org_ident: str, member_id: str) -> list[ActiveSession]:
        """The member's live sessions, each with the member's roles as they are now."""
        environment = caller.environment
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            enforcement.require_tenancy(caller, org)
            member = self.store.find_member(tx, org["id"], member_id)
            if member is None or member["status"] == "deleted":
                raise NotFound(Kind.MEMBER, member_id)
            direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
            sso = sso_grants_of(self.store, tx, member["id"], org["id"])
            rows = self.store.active_sessions(tx, member["id"], clock.now())
            return [
                ActiveSession(
                    r,
                    member,
                    org,
                    roles.effective_role_ids(member, direct, org, sso, r["authentication_factors"]),
                    tuple(direct),
                )
                for r in rows
            ]

    def revoke_member(self, caller: Caller, org_ident: str, member_id: str) -> MemberView:
        """Revoke every session of a member of the organization `org_ident` names, in one
        transaction with the lookup (the member must belong to that organization)."""
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            enforcement.require_tenancy(caller, org)
            member = self.store.find_member(tx, org["id"], member_id)
            if member is None or member["status"] == "deleted":
                raise NotFound(Kind.MEMBER, member_id)
            self._may_revoke(caller, member["id"])
            self.store.revoke_member_sessions(tx, member["id"], clock.now())
            events.record_call(
                self.store, tx, caller, "session.revoke", member["id"], {"by": "member_id"}
            )
            direct = self.store.direct_roles(tx, [member["id"]])[member["id"]]
        return MemberView(member, org, tuple(direct))

    def revoke(self, caller: Caller, fields: dict[str, Any]) -> None:
        given = [
            k
            for k in ("member_session_id", "session_token", "session_jwt", "member_id")
            if fields.get(k)
        ]
        if len(given) != 1:
            raise InvalidInput(
                "pass exactly one of `member_session_id`, `session_token`, `session_jwt` or `member_id`"
            )
        environment = caller.environment
        now = clock.now()
        with self.store.transaction() as tx:
            kind = given[0]
            if kind == "member_id":
                member = self.store.get_member_by_id(tx, environment.id, fields["member_id"])
                if member is None:
                    raise NotFound(Kind.MEMBER, fields["member_id"])
                self._may_revoke(caller, member["id"])
                self.store.revoke_member_sessions(tx, member["id"], now)
                target = member["id"]
            else:
                if kind == "member_session_id":
                    row = self.store.get_session(tx, environment.id, fields["member_session_id"])
                    if row is None:
                        raise session_not_found()
                elif kind == "session_token":
                    row = self.store.find_session_by_token_hash(
                        tx, environment.id, credentials.token_digest(fields["session_token"])
                    )
                    if row is None:
                        raise session_not_found()
                else:
                    row = self._session_from_jwt(tx, environment, fields["session_jwt"])
                if row["revoked_at"] is not None or row["expires_at"] <= now:
                    raise session_not_found()
                self._may_revoke(caller, row["member_id"])
                self.store.update_session(tx, row["id"], {"revoked_at": now})
                target = row["id"]
            events.record_call(self.store, tx, caller, "session.revoke", target, {"by": kind})

    @staticmethod
    def _may_revoke(caller: Caller, member_id: str) -> None:
        # The seed has no action for revoking another member's sessions, so a session-authenticated
        # call may revoke only its own member's sessions; the project secret may revoke any.
        if caller.session is not None and caller.session.member_id != member_id:
            raise Denied(
                "a member session may revoke only its own member's sessions; "
                "revoke others from your backend with the project secret"
            )
