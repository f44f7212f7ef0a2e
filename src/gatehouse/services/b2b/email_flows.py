"""Member sign-in by email, as the official `stytch` SDK calls it: magic links (login or
signup, invitations, discovery), email one-time codes, and discovery with intermediate sessions
(list the organizations an address may enter, exchange into one, create one).

Tokens and codes are emailed once and stored only as digests (`member_email_tokens`); each is
single use and expires. Tokens are 256-bit random values; a code's digest covers its row id too,
so equal codes never collide and a digest alone reveals nothing. Failures of every kind (unknown,
used, expired, another organization's) are one error. Sending answers the caller before the
email goes out (the route sends it in the background), so the time taken does not say whether
the address was a member; sends are limited per address (`emails_per_address_per_hour`).

An intermediate session is an address a discovery flow proved: a random token (stored as a
digest) good for 10 minutes, spent by `discovery.intermediate_sessions.exchange` or
`discovery.organizations.create`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gatehouse import metrics
from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound, Unauthorized
from gatehouse.policy.defaults import STYTCH_ADMIN
from gatehouse.services import clock, events, ids, redirects
from gatehouse.services.addresses import domain_of
from gatehouse.services.b2b import email_templates, enforcement, mfa, org_rules
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import Caller, Environment, MemberView, SignIn
from gatehouse.services.mail import Mailer
from gatehouse.services.security import credentials
from gatehouse.storage.interface import (
    EmailFlowStore,
    EventStore,
    MemberStore,
    OrganizationStore,
    ReadTx,
    SessionStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import (
    IntermediateSessionRow,
    MemberEmailTokenRow,
    MemberRow,
    MemberValues,
    OrganizationRow,
)

log = logging.getLogger(__name__)


class _Store(
    Transactions,
    OrganizationStore,
    MemberStore,
    SessionStore,
    EventStore,
    EmailFlowStore,
    Protocol,
):
    """The storage this service uses."""


# Token purposes (member_email_tokens.purpose).
LOGIN, SIGNUP, INVITE, DISCOVERY = "login", "signup", "invite", "discovery"
OTP, OTP_DISCOVERY = "otp", "otp_discovery"
# Stytch's `stytch_token_type` values in links.
MAGIC_LINK_TOKEN_TYPE = "multi_tenant_magic_links"
DISCOVERY_TOKEN_TYPE = "discovery"

# Stytch's documented defaults and bounds, in minutes.
MAGIC_LINK_MINUTES = 60  # login, signup, discovery: 5 to 10,080
INVITE_MINUTES = 10_080  # one week: 5 to 10,080
OTP_MINUTES = 10  # email codes: fixed
INTERMEDIATE_SESSION_MINUTES = 10
MAX_OTP_ATTEMPTS = 5


def _unable_magic_link() -> GatehouseError:
    return Unauthorized(
        "the magic link token is unknown, was already used, has expired, or is not for this "
        "flow; send a new link",
        code=Code.UNABLE_TO_AUTH_MAGIC_LINK,
    )


def _unable_otp() -> GatehouseError:
    return Unauthorized(
        "the code is wrong, was already used, has expired or was tried too many times; send "
        "a new one",
        code=Code.UNABLE_TO_AUTH_OTP_CODE,
    )


def _redeemable(row: MemberEmailTokenRow | IntermediateSessionRow, token: str) -> bool:
    """A token's row not used yet, not expired, and holding `token`'s digest (constant time)."""
    return (
        row["used_at"] is None
        and row["expires_at"] > clock.now()
        and credentials.digest_matches(token, row["token_hash"])
    )


def _intermediate_session_not_found() -> GatehouseError:
    return GatehouseError(
        Code.INTERMEDIATE_SESSION_NOT_FOUND,
        "the intermediate session token is unknown, was already used or has expired; start the "
        "discovery flow again",
    )


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE code verifier (RFC 7636: base64url, no padding)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _check_pkce(row: MemberEmailTokenRow, verifier: str | None) -> None:
    challenge = row["pkce_challenge"]
    if challenge is None and not verifier:
        return
    if challenge is None or not verifier:
        raise InvalidInput(
            "this link was sent with a pkce code challenge: pass its `pkce_code_verifier`"
            if challenge is not None
            else "this link was sent without a pkce code challenge: leave out `pkce_code_verifier`",
            code=Code.PKCE_MISMATCH,
        )
    if not hmac.compare_digest(pkce_challenge(verifier), challenge):
        raise InvalidInput(
            "the pkce code verifier does not match the challenge the link was sent with",
            code=Code.PKCE_MISMATCH,
        )


def _code_digest(token_id: str, code: str) -> str:
    return credentials.token_digest(f"{token_id}:{code}")


def email_factor(kind: str, member_id: str | None, email: str) -> dict[str, Any]:
    now = clock.iso(clock.now())
    return {
        "type": kind,
        "delivery_method": "knowledge" if kind == "password" else "email",
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        "email_factor": {
            "email_id": ids.email_id(member_id) if member_id else "",
            "email_address": email,
        },
    }


_METHOD_OF_FACTOR = {
    "magic_link": org_rules.MAGIC_LINK,
    "otp": org_rules.EMAIL_OTP,
    "password": org_rules.PASSWORD,
}


@dataclass(frozen=True, slots=True)
class Sent:
    """A send's answer: the member (when the flow names an organization), whether it was
    created, and the email to send after answering."""

    view: MemberView | None
    member_created: bool
    deliver: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Membership:
    org: OrganizationRow
    type: str  # active_member, pending_member, invited_member, eligible_to_join_by_email_domain
    member: MemberView | None
    member_authenticated: bool
    allowed_auth_methods: list[str]
    details: dict[str, Any] | None = None
    # The member would owe a second factor there (`member_authenticated` is then false).
    mfa_required: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Discovered:
    """A discovery flow's answer: an intermediate session (or "" for a list), the address and
    the organizations it may enter."""

    intermediate_session_token: str
    email: str
    organizations: list[Membership]
    expires_at: dt.datetime | None = None
    organization_id_hint: str | None = None


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A flow that signed a member in: the sign-in, and the factor's method id."""

    sign_in: SignIn | mfa.Pending
    method_id: str
    extra: dict[str, Any] = field(default_factory=dict)


class EmailFlows:
    def __init__(self, members: Members, sessions: Sessions, mailer: Mailer) -> None:
        self.members = members
        self.sessions = sessions
        self.organizations = members.organizations
        self.mailer = mailer
        self.runtime = members.runtime
        self.store: _Store = members.runtime.store

    # -- sending ---------------------------------------------------------------------------

    def _deliver(self, environment_id: str, to: str, email: email_templates.Email) -> None:
        # After the response: a failure is the operator's to see (log, event, metric), never
        # the caller's. The body holds the token and is never logged here.
        try:
            self.mailer.send(to, email.subject, email.body)
        except OSError as error:
            log.error("could not send a member email to %s: %s", to, error)
            metrics.EMAIL_DELIVERY_FAILURES.inc()
            with self.store.transaction() as tx:
                events.record(
                    self.store,
                    tx,
                    environment_id,
                    "gatehouse",
                    "email.delivery_failed",
                    domain_of(to),
                )

    def _issue(
        self,
        tx: WriteTx,
        environment: Environment,
        purpose: str,
        email: str,
        minutes: int,
        *,
        org: OrganizationRow | None = None,
        member: MemberRow | None = None,
        pkce: str | None = None,
        code: str | None = None,
    ) -> tuple[str, dt.datetime]:
        """Store a new token (or, with `code`, a code) and return it with its expiry."""
        now = clock.now()
        token_id = ids.new_id("member-email-token", environment.kind)
        token = code or credentials.new_token()
        digest = _code_digest(token_id, token) if code else credentials.token_digest(token)
        expires_at = now + dt.timedelta(minutes=minutes)
        self.store.insert_member_email_token(
            tx,
            {
                "id": token_id,
                "environment_id": environment.id,
                "organization_id": org["id"] if org else None,
                "member_id": member["id"] if member else None,
                "purpose": purpose,
                "token_hash": digest,
                "email": email,
                "email_lower": email.lower(),
                "pkce_challenge": pkce,
                "attempts": 0,
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
            },
        )
        return token, expires_at

    def _take_send(self, environment: Environment, email: str, client: str) -> None:
        self.runtime.send_limits.take(email, f"{environment.id}:{client}")

    # -- magic links -----------------------------------------------------------------------

    def login_or_signup(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Sent:
        return self._login_or_signup(caller, fields, client, channel="magic_link")

    def _login_or_signup(
        self, caller: Caller, fields: dict[str, Any], client: str, channel: str
    ) -> Sent:
        environment = caller.environment
        email = fields["email_address"]
        method = org_rules.MAGIC_LINK if channel == "magic_link" else org_rules.EMAIL_OTP
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            found = self.store.find_member_by_email(tx, org["id"], email)
            if found is None:
                org_rules.require_join_by_domain(org, email)
            org_rules.require_method(org, method, found)
            if channel == "magic_link":
                url = redirects.resolve(
                    self.store,
                    tx,
                    environment.id,
                    "LOGIN" if found else "SIGNUP",
                    fields.get("login_redirect_url" if found else "signup_redirect_url"),
                )
        minutes = int(
            fields.get("login_expiration_minutes" if found else "signup_expiration_minutes")
            or (MAGIC_LINK_MINUTES if channel == "magic_link" else OTP_MINUTES)
        )
        self._take_send(environment, email, client)  # 429 before anything is written
        now = clock.now()
        with self.store.transaction() as tx:
            created = False
            member = self.store.find_member_by_email(tx, org["id"], email)
            if member is None:
                member = self.members.new_member_row(environment, org, email, {}, now)
                member["status"] = "pending"
                self.store.insert_member(tx, member)  # a racing signup: Duplicate
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "member.create",
                    member["id"],
                    {"email_address": email, "by": "email_jit_provisioning"},
                )
                created = True
            if channel == "magic_link":
                purpose = LOGIN if not created else SIGNUP
                token, _ = self._issue(
                    tx,
                    environment,
                    purpose,
                    email,
                    minutes,
                    org=org,
                    member=member,
                    pkce=fields.get("pkce_code_challenge"),
                )
                link = with_query(url, stytch_token_type=MAGIC_LINK_TOKEN_TYPE, token=token)
                message = email_templates.render(
                    "signup" if created else "login",
                    fields.get("locale"),
                    org=org["name"],
                    email=email,
                    minutes=minutes,
                    link=link,
                )
                action = "member.magic_link_send"
            else:
                code = f"{secrets.randbelow(1_000_000):06d}"
                self._issue(tx, environment, OTP, email, minutes, org=org, member=member, code=code)
                message = email_templates.render(
                    "otp",
                    fields.get("locale"),
                    org=org["name"],
                    email=email,
                    minutes=minutes,
                    code=code,
                )
                action = "member.email_otp_send"
            events.record_call(
                self.store, tx, caller, action, member["id"], {"member_created": created}
            )
            view = self.members.view(tx, member, org)
        return Sent(view, created, lambda: self._deliver(environment.id, email, message))

    def invite(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Sent:
        environment = caller.environment
        email = fields["email_address"]
        role_ids = list(fields.get("roles") or [])
        minutes = int(fields.get("invite_expiration_minutes") or INVITE_MINUTES)
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, fields["organization_id"])
            needs = [enforcement.MEMBER_CREATE] + enforcement.member_update_needs(
                f for f in fields if f in ("roles",)
            )
            enforcement.require_member(self.runtime, caller, org, None, needs, fields)
            self.members.check_roles(environment, org, role_ids)
            org_rules.require_invite_allowed(org, email)
            url = redirects.resolve(
                self.store, tx, environment.id, "INVITE", fields.get("invite_redirect_url")
            )
            found = self.store.find_member_by_email(tx, org["id"], email)
            if found is not None and found["status"] == "active":
                raise GatehouseError(
                    Code.DUPLICATE_MEMBER_EMAIL,
                    f"`{email}` is already an active member of organization `{org['id']}`",
                )
            inviter = fields.get("invited_by_member_id")
            if inviter and self.store.find_member(tx, org["id"], inviter) is None:
                raise NotFound(Kind.MEMBER, inviter)
        self._take_send(environment, email, client)
        now = clock.now()
        with self.store.transaction() as tx:
            member = self.store.find_member_by_email(tx, org["id"], email)
            created = member is None
            if member is None:
                member = self.members.new_member_row(environment, org, email, fields, now)
                member["status"] = "invited"
                self.store.insert_member(tx, member)
            else:
                values: MemberValues = {"status": "invited", "updated_at": now}
                for name, column in (
                    ("name", "name"),
                    ("trusted_metadata", "trusted_metadata"),
                    ("untrusted_metadata", "untrusted_metadata"),
                ):
                    if name in fields:
                        values[column] = fields[name]  # type: ignore[literal-required]
                self.store.update_member(tx, member["id"], values)
                member = {**member, **values}
            if "roles" in fields:
                self.store.set_direct_roles(tx, environment.id, member["id"], role_ids)
            token, _ = self._issue(tx, environment, INVITE, email, minutes, org=org, member=member)
            events.record_call(
                self.store,
                tx,
                caller,
                "member.invite",
                member["id"],
                {
                    "email_address": email,
                    "invited_by_member_id": fields.get("invited_by_member_id"),
                },
            )
            view = self.members.view(tx, member, org)
        link = with_query(url, stytch_token_type=MAGIC_LINK_TOKEN_TYPE, token=token)
        message = email_templates.render(
            "invite", fields.get("locale"), org=org["name"], email=email, minutes=minutes, link=link
        )
        return Sent(view, created, lambda: self._deliver(environment.id, email, message))

    def _live_token(
        self, tx: ReadTx, environment: Environment, token: str, purposes: tuple[str, ...]
    ) -> MemberEmailTokenRow:
        row = self.store.find_member_email_token(
            tx, environment.id, credentials.token_digest(token)
        )
        if row is None or row["purpose"] not in purposes or not _redeemable(row, token):
            raise _unable_magic_link()
        return row

    def authenticate(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        """`magic_links.authenticate`: a login, signup or invitation link signs its member in."""
        check_custom_claims(fields.get("session_custom_claims"))
        if fields.get("intermediate_session_token"):
            raise InvalidInput(
                "`intermediate_session_token` is not supported here: exchange it with "
                "`discovery.intermediate_sessions.exchange`",
                code=Code.UNSUPPORTED_FEATURE,
            )
        environment = caller.environment
        token = fields["magic_links_token"]
        with self.store.read() as tx:
            row = self._live_token(tx, environment, token, (LOGIN, SIGNUP, INVITE))
            _check_pkce(row, fields.get("pkce_code_verifier"))
        return self._redeem(
            caller,
            fields,
            row,
            "magic_link",
            lambda tx: self._live_token(tx, environment, token, (LOGIN, SIGNUP, INVITE)),
        )

    def _redeem(
        self,
        caller: Caller,
        fields: dict[str, Any],
        row: MemberEmailTokenRow,
        factor_type: str,
        recheck: Callable[[WriteTx], MemberEmailTokenRow],
    ) -> Authenticated:
        environment = caller.environment
        unable = _unable_magic_link if factor_type == "magic_link" else _unable_otp
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            row = recheck(tx)
            org = self.store.find_organization(tx, environment.id, row["organization_id"] or "")
            member = self.store.get_member_by_id(tx, environment.id, row["member_id"] or "")
            if (
                org is None
                or member is None
                or member["status"] == "deleted"
                or member["email_lower"] != row["email_lower"]
            ):
                raise unable()
            enforcement.require_tenancy(caller, org)
            org_rules.require_method(org, _METHOD_OF_FACTOR[factor_type], member)
            if not self.store.use_member_email_token(tx, row["id"], clock.now()):
                raise unable()
            signed_in = self._sign_in(
                tx,
                caller,
                fields,
                member,
                org,
                [email_factor(factor_type, member["id"], member["email"])],
                duration,
            )
            events.record_call(
                self.store,
                tx,
                caller,
                "member.magic_link_authenticate"
                if factor_type == "magic_link"
                else "member.email_otp_authenticate",
                member["id"],
                {"purpose": row["purpose"]},
            )
        return self._done(environment, signed_in, ids.email_id(member["id"]))

    def _sign_in(
        self,
        tx: WriteTx,
        caller: Caller,
        fields: dict[str, Any],
        member: MemberRow,
        org: OrganizationRow,
        factors: list[dict[str, Any]],
        duration: int,
    ) -> Any:
        """The member proved their address: active and verified; a new session with `factors`
        (or the factors added to the session passed, which must be the member's)."""
        values: MemberValues = {"email_verified": True, "updated_at": clock.now()}
        if member["status"] in ("pending", "invited"):
            values["status"] = "active"
        self.store.update_member(tx, member["id"], values)
        member = {**member, **values}
        claims = fields.get("session_custom_claims")
        if fields.get("session_token") or fields.get("session_jwt"):
            existing = self.sessions.load(
                tx,
                caller.environment,
                token=fields.get("session_token"),
                jwt_token=fields.get("session_jwt"),
            )
            if existing.member_id != member["id"]:
                raise InvalidInput(
                    "the session belongs to another member; sign in without it",
                    code=Code.SESSION_MEMBER_MISMATCH,
                )
            session_row = existing.row
            for factor in factors:
                session_row = self.sessions.add_factor(tx, session_row, factor, duration, claims)
            token = fields.get("session_token") or ""
        elif mfa.required(org, member):
            return mfa.pend(self.members, tx, caller, member, org, factors)
        else:
            session_row, token = self.sessions.start(
                tx, caller, member, org, factors[0], duration, claims
            )
            for factor in factors[1:]:
                session_row = self.sessions.add_factor(tx, session_row, factor, duration)
        return self.sessions.signed_in(tx, session_row, token, member, org), token

    def _done(self, environment: Environment, signed: Any, method_id: str) -> Authenticated:
        """`_sign_in`'s outcome as the flow's answer: a session (its JWT signed now, after the
        write), or the MFA step still owed."""
        if isinstance(signed, mfa.Pending):
            signed.send()  # after the commit
            return Authenticated(signed, method_id)
        active, token = signed
        return Authenticated(self.sessions.with_jwt(environment, active, token), method_id)

    # -- discovery -------------------------------------------------------------------------

    def discovery_send(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Sent:
        return self._discovery_send(caller, fields, client, "magic_link")

    def _discovery_send(
        self, caller: Caller, fields: dict[str, Any], client: str, channel: str
    ) -> Sent:
        environment = caller.environment
        email = fields["email_address"]
        if channel == "magic_link":
            with self.store.read() as tx:
                url = redirects.resolve(
                    self.store,
                    tx,
                    environment.id,
                    "DISCOVERY",
                    fields.get("discovery_redirect_url"),
                )
            minutes = int(fields.get("discovery_expiration_minutes") or MAGIC_LINK_MINUTES)
        else:
            minutes = int(fields.get("discovery_expiration_minutes") or OTP_MINUTES)
        self._take_send(environment, email, client)
        with self.store.transaction() as tx:
            if channel == "magic_link":
                token, _ = self._issue(
                    tx,
                    environment,
                    DISCOVERY,
                    email,
                    minutes,
                    pkce=fields.get("pkce_code_challenge"),
                )
                link = with_query(url, stytch_token_type=DISCOVERY_TOKEN_TYPE, token=token)
                message = email_templates.render(
                    "discovery",
                    fields.get("locale"),
                    org="your organizations",
                    email=email,
                    minutes=minutes,
                    link=link,
                )
            else:
                code = f"{secrets.randbelow(1_000_000):06d}"
                self._issue(tx, environment, OTP_DISCOVERY, email, minutes, code=code)
                message = email_templates.render(
                    "otp_discovery",
                    fields.get("locale"),
                    email=email,
                    minutes=minutes,
                    code=code,
                )
            events.record_call(
                self.store, tx, caller, f"discovery.{channel}_send", domain_of(email)
            )
        return Sent(None, False, lambda: self._deliver(environment.id, email, message))

    def discovery_authenticate(self, caller: Caller, fields: dict[str, Any]) -> Discovered:
        environment = caller.environment
        token = fields["discovery_magic_links_token"]
        with self.store.read() as tx:
            row = self._live_token(tx, environment, token, (DISCOVERY,))
            _check_pkce(row, fields.get("pkce_code_verifier"))
        with self.store.transaction() as tx:
            row = self._live_token(tx, environment, token, (DISCOVERY,))
            if not self.store.use_member_email_token(tx, row["id"], clock.now()):
                raise _unable_magic_link()
            return self._start_intermediate(tx, caller, row["email"], "magic_link")

    def _start_intermediate(
        self, tx: WriteTx, caller: Caller, email: str, factor_type: str
    ) -> Discovered:
        environment = caller.environment
        now = clock.now()
        token = credentials.new_token()
        expires_at = now + dt.timedelta(minutes=INTERMEDIATE_SESSION_MINUTES)
        self.store.insert_intermediate_session(
            tx,
            {
                "id": ids.new_id("intermediate-session", environment.kind),
                "environment_id": environment.id,
                "token_hash": credentials.token_digest(token),
                "email": email,
                "authentication_factors": [email_factor(factor_type, None, email)],
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
                "organization_id": None,
                "member_id": None,
            },
        )
        events.record_call(
            self.store, tx, caller, f"discovery.{factor_type}_authenticate", domain_of(email)
        )
        found = self._discover(tx, environment, email, _METHOD_OF_FACTOR[factor_type])
        return Discovered(token, email, found, expires_at)

    def _discover(
        self,
        tx: ReadTx,
        environment: Environment,
        email: str,
        method: str | None = None,
        signed_in_org: str | None = None,
    ) -> list[Membership]:
        """The organizations `email` belongs to (by its members' status) or may join by its
        domain. Scans the environment's organizations for the domain rule. Where the member
        would owe a second factor (`mfa.required`; not in `signed_in_org`, whose session passed
        MFA), the entry says so in `mfa_required`."""
        found: list[Membership] = []
        seen: set[str] = set()
        members = self.store.members_by_email(tx, environment.id, email)
        orgs = {
            o["id"]: o
            for o in self.store.get_organizations(
                tx, environment.id, [m["organization_id"] for m in members]
            )
        }
        kinds = {
            "active": "active_member",
            "pending": "pending_member",
            "invited": "invited_member",
        }
        for member in members:
            org = orgs.get(member["organization_id"])
            if org is None or member["status"] not in kinds:
                continue
            seen.add(org["id"])
            methods = [method] if method else [org_rules.MAGIC_LINK, org_rules.EMAIL_OTP]
            allowed = any(org_rules.method_allowed(org, m, member) for m in methods)
            owed = (
                {"member_options": mfa.member_options(member), "secondary_auth_initiated": None}
                if allowed and org["id"] != signed_in_org and mfa.required(org, member)
                else None
            )
            found.append(
                Membership(
                    org,
                    kinds[member["status"]],
                    self.members.view(tx, member, org),
                    allowed and owed is None,
                    [] if allowed else org_rules.allowed_methods(org),
                    mfa_required=owed,
                )
            )
        for org in self.store.organizations_in(tx, environment.id):
            if org["id"] not in seen and org_rules.may_join_by_domain(org, email):
                allowed = org_rules.method_allowed(org, method or org_rules.MAGIC_LINK, None)
                found.append(
                    Membership(
                        org,
                        "eligible_to_join_by_email_domain",
                        None,
                        allowed,
                        [] if allowed else org_rules.allowed_methods(org),
                        {"domain": domain_of(email)},
                    )
                )
        return found

    def _intermediate(
        self, tx: ReadTx, environment: Environment, token: str
    ) -> IntermediateSessionRow:
        row = self.store.find_intermediate_session(
            tx, environment.id, credentials.token_digest(token)
        )
        if row is None or not _redeemable(row, token):
            raise _intermediate_session_not_found()
        return row

    def list_organizations(self, caller: Caller, fields: dict[str, Any]) -> Discovered:
        environment = caller.environment
        given = [
            k
            for k in ("intermediate_session_token", "session_token", "session_jwt")
            if fields.get(k)
        ]
        if len(given) != 1:
            raise InvalidInput(
                "pass exactly one of `intermediate_session_token`, `session_token` or `session_jwt`"
            )
        with self.store.read() as tx:
            hint = None
            if given[0] == "intermediate_session_token":
                email = self._intermediate(tx, environment, fields[given[0]])["email"]
            else:
                active = self.sessions.load(
                    tx,
                    environment,
                    token=fields.get("session_token"),
                    jwt_token=fields.get("session_jwt"),
                )
                email, hint = active.member["email"], active.organization_id
            return Discovered(
                "",
                email,
                self._discover(tx, environment, email, signed_in_org=hint),
                organization_id_hint=hint,
            )

    def exchange_intermediate(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        """Spend an intermediate session on a session in one organization: the address's
        member there (made active and verified), or a new member when the organization lets the
        address join by its domain."""
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        token = fields["intermediate_session_token"]
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            row = self._intermediate(tx, environment, token)
            org = self.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
            email = row["email"]
            member = self.store.find_member_by_email(tx, org["id"], email)
            if member is None:
                org_rules.require_join_by_domain(org, email)
            for factor in row["authentication_factors"]:
                org_rules.require_method(org, _METHOD_OF_FACTOR[factor["type"]], member)
            if not self.store.use_intermediate_session(tx, row["id"], clock.now()):
                raise _intermediate_session_not_found()
            if member is None:
                member = self.members.new_member_row(environment, org, email, {}, clock.now())
                self.store.insert_member(tx, member)
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "member.create",
                    member["id"],
                    {"email_address": email, "by": "email_jit_provisioning"},
                )
            factors = [
                {
                    **f,
                    "email_factor": {
                        "email_id": ids.email_id(member["id"]),
                        "email_address": member["email"],
                    },
                }
                for f in row["authentication_factors"]
            ]
            signed = self._sign_in(
                tx,
                caller,
                {"session_custom_claims": fields.get("session_custom_claims")},
                member,
                org,
                factors,
                duration,
            )
            events.record_call(
                self.store, tx, caller, "discovery.intermediate_session_exchange", member["id"]
            )
        return self._done(environment, signed, ids.email_id(member["id"]))

    def create_organization(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        """Spend an intermediate session on a new organization whose first member is the
        address, with `stytch_admin` as a direct role (the seed's rule)."""
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        token = fields["intermediate_session_token"]
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        org_fields = {
            k: v
            for k, v in fields.items()
            if k
            not in (
                "intermediate_session_token",
                "session_duration_minutes",
                "session_custom_claims",
                "telemetry_id",
            )
        }
        with self.store.read() as tx:
            email = self._intermediate(tx, environment, token)["email"]
        org_fields.setdefault("organization_name", _default_org_name(email))
        org = self.organizations.new_row(environment, org_fields)
        with self.store.transaction() as tx:
            row = self._intermediate(tx, environment, token)
            for factor in row["authentication_factors"]:
                org_rules.require_method(org, _METHOD_OF_FACTOR[factor["type"]], None)
            if not self.store.use_intermediate_session(tx, row["id"], clock.now()):
                raise _intermediate_session_not_found()
            self.organizations.insert(tx, caller, org, org_fields)
            member = self.members.new_member_row(environment, org, email, {}, clock.now())
            self.store.insert_member(tx, member)
            self.store.set_direct_roles(tx, environment.id, member["id"], [STYTCH_ADMIN])
            events.record_call(
                self.store,
                tx,
                caller,
                "member.create",
                member["id"],
                {"email_address": email, "roles": [STYTCH_ADMIN], "by": "discovery"},
            )
            factors = [
                {
                    **f,
                    "email_factor": {
                        "email_id": ids.email_id(member["id"]),
                        "email_address": email,
                    },
                }
                for f in row["authentication_factors"]
            ]
            signed = self._sign_in(
                tx,
                caller,
                {"session_custom_claims": fields.get("session_custom_claims")},
                member,
                org,
                factors,
                duration,
            )
            events.record_call(
                self.store,
                tx,
                caller,
                "discovery.organization_create",
                org["id"],
                {"member_id": member["id"]},
            )
        return self._done(environment, signed, ids.email_id(member["id"]))

    def exchange_session(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        """`sessions.exchange`: a session of the address's member in another organization
        (an existing member: an invitation accepted, a pending member activated)."""
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        if bool(fields.get("session_token")) == bool(fields.get("session_jwt")):
            raise InvalidInput("pass exactly one of `session_token` or `session_jwt`")
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            current = self.sessions.load(
                tx,
                environment,
                token=fields.get("session_token"),
                jwt_token=fields.get("session_jwt"),
            )
            org = self.organizations.find(tx, environment, fields["organization_id"])
            member = self.store.find_member_by_email(tx, org["id"], current.member["email"])
            if member is None:
                raise NotFound(
                    Kind.MEMBER,
                    current.member["email"],
                    f"`{current.member['email']}` is not a member of organization `{org['id']}`;"
                    " to join by email domain, use the discovery flow",
                )
            factors = [
                f
                for f in current.row["authentication_factors"]
                if f.get("type") in _METHOD_OF_FACTOR
                and org_rules.method_allowed(org, _METHOD_OF_FACTOR[f["type"]], member)
            ]
            if not factors:
                raise org_rules_denied(org)
            factors = [
                {
                    **f,
                    "email_factor": {
                        "email_id": ids.email_id(member["id"]),
                        "email_address": member["email"],
                    },
                }
                for f in factors
            ]
            signed = self._sign_in(
                tx,
                caller,
                {"session_custom_claims": fields.get("session_custom_claims")},
                member,
                org,
                factors,
                duration,
            )
            events.record_call(
                self.store,
                tx,
                caller,
                "session.exchange",
                member["id"],
                {"from_organization_id": current.organization_id},
            )
        return self._done(environment, signed, ids.email_id(member["id"]))

    # -- email one-time codes --------------------------------------------------------------

    def otp_login_or_signup(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Sent:
        return self._login_or_signup(caller, fields, client, channel="otp")

    def _live_code(
        self,
        tx: ReadTx,
        environment: Environment,
        org_id: str | None,
        email: str,
        purpose: str,
        code: str,
    ) -> tuple[MemberEmailTokenRow | None, bool]:
        """The newest code row for the address and whether `code` matches it (compared in
        constant time); None when there is no live code."""
        row = self.store.latest_member_email_token(tx, environment.id, org_id, email, purpose)
        if (
            row is None
            or row["used_at"] is not None
            or row["expires_at"] <= clock.now()
            or row["attempts"] >= MAX_OTP_ATTEMPTS
        ):
            return None, False
        return row, hmac.compare_digest(_code_digest(row["id"], code), row["token_hash"])

    def _check_code(
        self, environment: Environment, org_id: str | None, email: str, purpose: str, code: str
    ) -> MemberEmailTokenRow:
        with self.store.read() as tx:
            row, ok = self._live_code(tx, environment, org_id, email, purpose, code)
        if row is None:
            raise _unable_otp()
        if not ok:
            # A wrong guess counts: after MAX_OTP_ATTEMPTS the code is void.
            with self.store.transaction() as tx:
                self.store.count_member_email_token_attempt(tx, row["id"])
            raise _unable_otp()
        return row

    def otp_authenticate(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        check_custom_claims(fields.get("session_custom_claims"))
        if fields.get("intermediate_session_token"):
            raise InvalidInput(
                "`intermediate_session_token` is not supported here: exchange it with "
                "`discovery.intermediate_sessions.exchange`",
                code=Code.UNSUPPORTED_FEATURE,
            )
        environment = caller.environment
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, fields["organization_id"])
            enforcement.require_tenancy(caller, org)
        email, code = fields["email_address"], fields["code"]
        self._check_code(environment, org["id"], email, OTP, code)

        def recheck(tx: ReadTx) -> MemberEmailTokenRow:
            row, ok = self._live_code(tx, environment, org["id"], email, OTP, code)
            if row is None or not ok:
                raise _unable_otp()
            return row

        with self.store.read() as tx:
            row = recheck(tx)
        return self._redeem(caller, fields, row, "otp", recheck)

    def otp_discovery_send(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Sent:
        return self._discovery_send(caller, fields, client, "otp")

    def otp_discovery_authenticate(self, caller: Caller, fields: dict[str, Any]) -> Discovered:
        environment = caller.environment
        email, code = fields["email_address"], fields["code"]
        self._check_code(environment, None, email, OTP_DISCOVERY, code)
        with self.store.transaction() as tx:
            row, ok = self._live_code(tx, environment, None, email, OTP_DISCOVERY, code)
            if (
                row is None
                or not ok
                or not self.store.use_member_email_token(tx, row["id"], clock.now())
            ):
                raise _unable_otp()
            return self._start_intermediate(tx, caller, row["email"], "otp")


def org_rules_denied(org: OrganizationRow) -> GatehouseError:
    return GatehouseError(
        Code.AUTH_METHOD_NOT_ALLOWED,
        f"organization `{org['id']}` allows none of the session's sign-in methods",
    )


def _default_org_name(email: str) -> str:
    """Stytch's rule: a common provider's address names the organization after its local
    part, any other after its domain."""
    local, _, domain = email.partition("@")
    if domain.lower() in org_rules.COMMON_EMAIL_DOMAINS or domain.lower().endswith(".edu"):
        return f"{local}'s Organization"
    return domain.lower().split(".")[0].capitalize() or domain
