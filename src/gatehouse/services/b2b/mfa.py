"""Multi-factor authentication, as the official `stytch` SDK calls it: TOTP (`totps.create`,
`authenticate`, `migrate`), recovery codes (`recovery_codes.recover`, `get`, `rotate`), SMS
one-time codes (`otps.sms.send`, `authenticate`) and the organization's MFA policy.

The rule (Stytch's): a member needs a second factor when their organization's `mfa_policy` is
`REQUIRED_FOR_ALL` or they are `mfa_enrolled`, unless they are `is_breakglass`. A primary factor
(password, magic link, email code, discovery exchange) on such a member opens no session: it
answers `member_authenticated: false` with an intermediate session bound to the member and
organization (`pend`). A second factor passed that token completes the sign-in: the session
carries the primary factors and the second. Passed a session instead, a second factor is added
to that session.

TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew either way) is computed with
`cryptography`'s HOTP primitive; the secret is sealed at rest (`services/security/sealing.py`,
the `encryption_keys` setting, rotated as signing keys are) and shown only by `totps.create`.
The last step a code was accepted for is stored, so each code works once. Recovery codes (ten,
made with each registration) are stored only as digests and each works once; `get` therefore
shows them masked (rotate to see new ones). SMS codes are six digits, live two minutes, are
stored as digests (in `member_email_tokens`, purpose `sms_otp`), and five wrong tries void one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

from gatehouse import metrics
from gatehouse.errors import (
    Code,
    Denied,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
)
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement, org_rules
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import ActiveSession, Caller, Environment, MemberView, SignIn
from gatehouse.services.security import credentials
from gatehouse.services.sms import SmsSender
from gatehouse.storage.interface import (
    EmailFlowStore,
    EventStore,
    MemberStore,
    MfaStore,
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
    RecoveryCodeRow,
    SessionRow,
    TotpRow,
)

log = logging.getLogger(__name__)


class _Store(
    Transactions,
    OrganizationStore,
    MemberStore,
    SessionStore,
    EventStore,
    EmailFlowStore,
    MfaStore,
    Protocol,
):
    """The storage this service uses."""


TOTP_MINUTES = 60  # an unverified registration: 5 to 1,440
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_SKEW_STEPS = 1
SMS_MINUTES = 2
SMS_PURPOSE = "sms_otp"
MAX_SMS_ATTEMPTS = 5
RECOVERY_CODE_COUNT = 10
INTERMEDIATE_SESSION_MINUTES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MASKED_RECOVERY_CODE = "****-****-****"


_PRIMARY_METHODS = {
    "magic_link": org_rules.MAGIC_LINK,
    "otp": org_rules.EMAIL_OTP,
    "password": org_rules.PASSWORD,
}


def required(org: OrganizationRow, member: MemberRow) -> bool:
    """Whether a sign-in of `member` needs a second factor."""
    if member["is_breakglass"]:
        return False
    policy = org_rules.setting(org, "mfa_policy", "OPTIONAL")
    return bool(member["mfa_enrolled"]) or policy == "REQUIRED_FOR_ALL"


def require_mfa_method(org: OrganizationRow, method: str, member: MemberRow) -> None:
    """`mfa_methods: RESTRICTED` allows only `allowed_mfa_methods` (`totp`, `sms_otp`; recovery
    codes go with `totp`); a breakglass member may use any."""
    if member["is_breakglass"]:
        return
    if org_rules.setting(org, "mfa_methods", "ALL_ALLOWED") != "RESTRICTED":
        return
    allowed = list(org_rules.setting(org, "allowed_mfa_methods", []))
    if method not in allowed:
        raise Denied(
            f"organization `{org['id']}` restricts mfa to {', '.join(allowed) or 'no method'}; "
            f"`{method}` is not allowed",
            code=Code.AUTH_METHOD_NOT_ALLOWED,
        )


def member_options(member: MemberRow) -> dict[str, str] | None:
    """The SDK's `MfaRequired.member_options`: the second factors the member has, or None."""
    phone, totp = member["mfa_phone_number"], member["totp_registration_id"]
    if not phone and not totp:
        return None
    return {"mfa_phone_number": phone, "totp_registration_id": totp}


@dataclass(slots=True)
class Pending:
    """A primary factor that signed in a member who still owes a second one; `text` is the SMS
    code to send once the transaction committed (`send`), when one was started."""

    view: MemberView
    intermediate_session_token: str
    expires_at: dt.datetime
    text: tuple[str, str] | None = None
    sender: SmsSender | None = None
    sent: bool = False

    def send(self) -> None:
        """Text the code started with the intermediate session (after the commit); a failed
        delivery is logged and the answer says no secondary authentication was initiated."""
        if self.text is None or self.sender is None or self.sent:
            return
        number, body = self.text
        try:
            self.sender.send(number, body)
            self.sent = True
        except OSError as error:
            log.error("could not text an mfa code to %s: %s", number, error)
            metrics.EMAIL_DELIVERY_FAILURES.inc()

    @property
    def mfa_required(self) -> dict[str, Any]:
        return {
            "member_options": member_options(self.view.member),
            "secondary_auth_initiated": "sms_otp" if self.sent else None,
        }


def pend(
    members: Members,
    tx: WriteTx,
    caller: Caller,
    member: MemberRow,
    org: OrganizationRow,
    factors: list[dict[str, Any]],
) -> Pending:
    """An intermediate session for `member` in `org` holding the primary `factors`."""
    environment = caller.environment
    store = members.runtime.store
    now = clock.now()
    token = credentials.new_token()
    expires_at = now + dt.timedelta(minutes=INTERMEDIATE_SESSION_MINUTES)
    store.insert_intermediate_session(
        tx,
        {
            "id": ids.new_id("intermediate-session", environment.kind),
            "environment_id": environment.id,
            "token_hash": credentials.token_digest(token),
            "email": member["email"],
            "authentication_factors": factors,
            "created_at": now,
            "expires_at": expires_at,
            "used_at": None,
            "organization_id": org["id"],
            "member_id": member["id"],
        },
    )
    text = _auto_text(members, tx, caller, member, org)
    events.record_call(
        store,
        tx,
        caller,
        "member.mfa_required",
        member["id"],
        {"factors": [f["type"] for f in factors], "sms_otp_sent": text is not None},
    )
    sender = members.runtime.sms_sender
    return Pending(members.view(tx, member, org), token, expires_at, text, sender)


def _auto_text(
    members: Members, tx: WriteTx, caller: Caller, member: MemberRow, org: OrganizationRow
) -> tuple[str, str] | None:
    """Stytch's rule: a member with a verified mfa phone number (whose default method is not
    TOTP, and whose organization allows SMS) gets a code texted after the primary factor."""
    number = member["mfa_phone_number"]
    if not number or not member["mfa_phone_verified"] or member["default_mfa_method"] == "totp":
        return None
    try:
        require_mfa_method(org, "sms_otp", member)
        members.runtime.sms_limits.take(number, None, channel="sms")
    except GatehouseError:
        return None
    return issue_sms_code(members.runtime.store, tx, caller.environment, org, member)


def issue_sms_code(
    store: Any, tx: WriteTx, environment: Environment, org: OrganizationRow, member: MemberRow
) -> tuple[str, str]:
    """Store a new SMS code for the member's number; returns (number, text body)."""
    now = clock.now()
    number = member["mfa_phone_number"]
    code = f"{secrets.randbelow(1_000_000):06d}"
    token_id = ids.new_id("member-sms-code", environment.kind)
    store.insert_member_email_token(
        tx,
        {
            "id": token_id,
            "environment_id": environment.id,
            "organization_id": org["id"],
            "member_id": member["id"],
            "purpose": SMS_PURPOSE,
            "token_hash": _sms_digest(token_id, code),
            "email": number,  # the number the code went to
            "email_lower": number,
            "pkce_challenge": None,
            "attempts": 0,
            "created_at": now,
            "expires_at": now + dt.timedelta(minutes=SMS_MINUTES),
            "used_at": None,
        },
    )
    body = f"Your {org['name']} verification code is {code}. It expires in {SMS_MINUTES} minutes."
    return number, body


def _factor(kind: str, delivery: str, **detail: dict[str, str]) -> dict[str, Any]:
    now = clock.iso(clock.now())
    return {
        "type": kind,
        "delivery_method": delivery,
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        **detail,
    }


def phone_id(member_id: str) -> str:
    return f"mfa-phone-{member_id}"


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    cleaned = "".join(secret.split()).upper().rstrip("=")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "`secret` is not a base32 TOTP secret", code=Code.INVALID_TOTP_SECRET
        ) from None


def totp_code(secret: str, step: int) -> str:
    key = _secret_key(secret)
    hotp = HOTP(key, TOTP_DIGITS, SHA1(), enforce_key_length=False)
    return hotp.generate(step).decode("ascii")


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (within the skew) whose code is `code`, compared in constant time."""
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    found = None
    for step in range(current - TOTP_SKEW_STEPS, current + TOTP_SKEW_STEPS + 1):
        if hmac.compare_digest(totp_code(secret, step), code.strip()):
            found = step
    return found


def otpauth_url(secret: str, issuer: str, account: str) -> str:
    label = quote(f"{issuer}:{account}")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": TOTP_STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def new_recovery_code() -> str:
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
    return f"{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


def recovery_digest(member_id: str, code: str) -> str:
    return credentials.token_digest(f"{member_id}:{code.strip().lower()}")


def _sms_digest(token_id: str, code: str) -> str:
    return credentials.token_digest(f"{token_id}:{code}")


def _invalid_totp() -> GatehouseError:
    return Unauthorized(
        "the TOTP code is wrong, was already used, or is outside the time window; enter the "
        "current code from the authenticator app",
        code=Code.INVALID_TOTP_CODE,
    )


def _invalid_recovery_code() -> GatehouseError:
    return Unauthorized(
        "the recovery code is wrong or was already used", code=Code.INVALID_RECOVERY_CODE
    )


def _unable_sms() -> GatehouseError:
    return Unauthorized(
        "the code is wrong, was already used, has expired or was tried too many times; send "
        "a new one",
        code=Code.UNABLE_TO_AUTH_OTP_CODE,
    )


def _totp_not_found(member_id: str) -> GatehouseError:
    return NotFound(
        Kind.TOTP,
        member_id,
        f"member `{member_id}` has no TOTP registration; create one with `totps.create`",
    )


def _intermediate_not_found() -> GatehouseError:
    return GatehouseError(
        Code.INTERMEDIATE_SESSION_NOT_FOUND,
        "the intermediate session token is unknown, was already used or has expired; sign in again",
    )


@dataclass(frozen=True, slots=True)
class TotpCreated:
    view: MemberView
    totp_registration_id: str
    secret: str
    otpauth_url: str
    recovery_codes: list[str]


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    view: MemberView
    recovery_codes: list[str]


@dataclass(frozen=True, slots=True)
class Recovered:
    sign_in: SignIn
    recovery_codes_remaining: int


_Proof = tuple[str, IntermediateSessionRow | None, ActiveSession | None]


class Mfa:
    def __init__(self, members: Members, sessions: Sessions, sms: SmsSender) -> None:
        self.members = members
        self.sessions = sessions
        self.organizations = members.organizations
        self.runtime = members.runtime
        self.store: _Store = members.runtime.store
        self.sms = sms
        self.guard = members.runtime.sign_in_guard()

    def reseal_stored_secrets(self) -> int:
        """Seal every TOTP secret sealed by an older key than the first of `encryption_keys`
        (start-up, beside the signing keys); returns how many were re-sealed."""
        sealer = self.runtime.sealer
        with self.store.read() as tx:
            rows = [
                (i, sealed)
                for i, sealed in self.store.sealed_totp_secrets(tx)
                if sealer.needs_resealing(sealed)
            ]
        if not rows:
            return 0
        resealed = 0
        with self.store.transaction() as tx:
            for totp_id, sealed in rows:
                resealed += self.store.replace_totp_secret(
                    tx, totp_id, sealed, sealer.reseal(sealed)
                )
        log.info("re-sealed %d totp secret(s) at rest", resealed)
        return resealed

    # -- shared ----------------------------------------------------------------------------

    def _target(
        self, tx: ReadTx, caller: Caller, fields: dict[str, Any]
    ) -> tuple[OrganizationRow, MemberRow]:
        org = self.organizations.find(tx, caller.environment, fields["organization_id"])
        enforcement.require_tenancy(caller, org)
        member = self.members._find(tx, org, fields["member_id"])
        return org, member

    def _proof(
        self, tx: ReadTx, environment: Environment, fields: dict[str, Any], member: MemberRow
    ) -> _Proof:
        """The intermediate session or session passed, which must be `member`'s."""
        given = [
            k
            for k in ("intermediate_session_token", "session_token", "session_jwt")
            if fields.get(k)
        ]
        if len(given) > 1:
            raise InvalidInput(
                "pass at most one of `intermediate_session_token`, `session_token` or `session_jwt`"
            )
        if not given:
            return "", None, None
        if given[0] == "intermediate_session_token":
            token = fields["intermediate_session_token"]
            row = self.store.find_intermediate_session(
                tx, environment.id, credentials.token_digest(token)
            )
            if (
                row is None
                or row["used_at"] is not None
                or row["expires_at"] <= clock.now()
                or not credentials.digest_matches(token, row["token_hash"])
            ):
                raise _intermediate_not_found()
            bound = row["member_id"]
            if (bound is not None and bound != member["id"]) or (
                bound is None and row["email"].lower() != member["email_lower"]
            ):
                raise InvalidInput(
                    "the intermediate session belongs to another member",
                    code=Code.SESSION_MEMBER_MISMATCH,
                )
            return "intermediate", row, None
        active = self.sessions.load(
            tx, environment, token=fields.get("session_token"), jwt_token=fields.get("session_jwt")
        )
        if active.member_id != member["id"]:
            raise InvalidInput(
                "the session belongs to another member", code=Code.SESSION_MEMBER_MISMATCH
            )
        return "session", None, active

    def _require_proof_when_enrolled(self, tx: ReadTx, member: MemberRow, kind: str) -> None:
        """Stytch's rule: once a member has an active second factor, adding or texting one
        needs proof of the member (an intermediate session, or a session), so a leaked
        project secret alone cannot bypass MFA by enrolling a new factor."""
        if kind:
            return
        totp = self.store.member_totp(tx, member["id"])
        if (totp is not None and totp["verified"]) or member["mfa_phone_verified"]:
            raise InvalidInput(
                f"member `{member['id']}` already has an active mfa factor: pass the "
                "`intermediate_session_token`, `session_token` or `session_jwt` of their sign-in"
            )

    def _finish(
        self,
        tx: WriteTx,
        caller: Caller,
        fields: dict[str, Any],
        member: MemberRow,
        org: OrganizationRow,
        factor: dict[str, Any],
        method: str,
        extra: MemberValues | None = None,
    ) -> tuple[SessionRow, str, MemberRow]:
        """The second factor proved: complete the intermediate session into a session, or add
        the factor to the session passed; apply `set_mfa_enrollment` / `set_default_mfa`."""
        environment = caller.environment
        require_mfa_method(org, method, member)
        kind, row, active = self._proof(tx, environment, fields, member)
        duration = int(
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        claims = fields.get("session_custom_claims")
        values: MemberValues = {**(extra or {})}
        enrollment = fields.get("set_mfa_enrollment")
        if enrollment == "enroll":
            values["mfa_enrolled"] = True
        elif enrollment == "unenroll":
            values["mfa_enrolled"] = False
        if fields.get("set_default_mfa"):
            values["default_mfa_method"] = method
        if values:
            values["updated_at"] = clock.now()
            self.store.update_member(tx, member["id"], values)
            member = {**member, **values}
        if kind == "intermediate":
            assert row is not None
            if row["organization_id"] not in (None, org["id"]):
                raise InvalidInput(
                    "the intermediate session is for another organization",
                    code=Code.SESSION_MEMBER_MISMATCH,
                )
            if row["organization_id"] is None:
                # A discovery session: its primary factors must be ones this organization allows.
                for primary in row["authentication_factors"]:
                    needed = _PRIMARY_METHODS.get(primary.get("type", ""), "")
                    org_rules.require_method(org, needed, member)
            if not self.store.use_intermediate_session(tx, row["id"], clock.now()):
                raise _intermediate_not_found()
            for primary in row["authentication_factors"]:
                if primary.get("email_factor") is not None:
                    primary["email_factor"] = {
                        "email_id": ids.email_id(member["id"]),
                        "email_address": member["email"],
                    }
            factors = [*row["authentication_factors"], factor]
            session_row, token = self.sessions.start(
                tx, caller, member, org, factors[0], duration, claims
            )
            for more in factors[1:]:
                session_row = self.sessions.add_factor(tx, session_row, more, duration)
        elif kind == "session":
            assert active is not None
            session_row = self.sessions.add_factor(tx, active.row, factor, duration, claims)
            token = fields.get("session_token") or ""
        else:
            raise InvalidInput(
                "a second factor completes a sign-in: pass the `intermediate_session_token` the "
                "primary factor answered, or the `session_token` / `session_jwt` to add it to",
                code=Code.INVALID_REQUEST,
            )
        return session_row, token, member

    def _member_view(self, tx: ReadTx, member: MemberRow, org: OrganizationRow) -> MemberView:
        return self.members.view(tx, member, org)

    def _new_recovery_codes(
        self, tx: WriteTx, member: MemberRow, environment: Environment
    ) -> list[str]:
        now = clock.now()
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        rows: list[RecoveryCodeRow] = [
            {
                "id": ids.new_id("totp-recovery-code", environment.kind),
                "member_id": member["id"],
                "code_hash": recovery_digest(member["id"], code),
                "created_at": now,
                "used_at": None,
            }
            for code in codes
        ]
        self.store.replace_recovery_codes(tx, member["id"], rows)
        return codes

    # -- TOTP ------------------------------------------------------------------------------

    def totp_create(self, caller: Caller, fields: dict[str, Any]) -> TotpCreated:
        environment = caller.environment
        minutes = int(fields.get("expiration_minutes") or TOTP_MINUTES)
        if not 5 <= minutes <= 1440:
            raise InvalidInput("`expiration_minutes` must be between 5 and 1440")
        secret = new_secret()
        sealed = self.runtime.sealer.seal(secret)
        now = clock.now()
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            kind, _, _ = self._proof(tx, environment, fields, member)
            require_mfa_method(org, "totp", member)
            existing = self.store.member_totp(tx, member["id"])
            if existing is not None and existing["verified"]:
                raise InvalidInput(
                    f"member `{member['id']}` already has an active TOTP registration; delete "
                    "it first (`organizations.members.delete_totp`)",
                    code=Code.ACTIVE_TOTP_EXISTS,
                )
            self._require_proof_when_enrolled(tx, member, kind)
            if existing is not None:
                self.store.delete_member_totp(tx, member["id"])
            row: TotpRow = {
                "id": ids.new_id("member-totp", environment.kind),
                "environment_id": environment.id,
                "member_id": member["id"],
                "secret_sealed": sealed,
                "verified": False,
                "last_used_step": None,
                "created_at": now,
                "expires_at": now + dt.timedelta(minutes=minutes),
            }
            self.store.insert_totp(tx, row)
            codes = self._new_recovery_codes(tx, member, environment)
            events.record_call(self.store, tx, caller, "member.totp_create", member["id"])
            view = self._member_view(tx, member, org)
        return TotpCreated(
            view, row["id"], secret, otpauth_url(secret, org["name"], member["email"]), codes
        )

    def _live_totp(self, tx: ReadTx, member: MemberRow) -> TotpRow:
        row = self.store.member_totp(tx, member["id"])
        if row is None or (not row["verified"] and row["expires_at"] <= clock.now()):
            raise _totp_not_found(member["id"])
        return row

    def totp_authenticate(self, caller: Caller, fields: dict[str, Any], client: str = "") -> SignIn:
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        with self.store.read() as tx:
            org, member = self._target(tx, caller, fields)
            self._proof(tx, environment, fields, member)
            totp = self._live_totp(tx, member)
        account = (environment.id, "totp", member["id"])
        client_key = f"{environment.id}:{client}"
        self.guard.check(account, client_key)
        secret = self.runtime.sealer.open(totp["secret_sealed"])
        step = matching_step(secret, str(fields["code"]), clock.now())
        if step is None:
            self.guard.failed(account, client_key)
            raise _invalid_totp()
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            current = self._live_totp(tx, member)
            if current["id"] != totp["id"] or not self.store.use_totp_step(tx, totp["id"], step):
                self.guard.failed(account, client_key)
                raise _invalid_totp()
            extra: MemberValues = {}
            if not current["verified"]:
                self.store.verify_totp(tx, totp["id"])
                extra["totp_registration_id"] = totp["id"]
            factor = _factor(
                "totp", "authenticator_app", authenticator_app_factor={"totp_id": totp["id"]}
            )
            session_row, token, member = self._finish(
                tx, caller, fields, member, org, factor, "totp", extra
            )
            events.record_call(self.store, tx, caller, "member.totp_authenticate", member["id"])
            active = self.sessions.signed_in(tx, session_row, token, member, org)
        self.guard.succeeded(account, client_key)
        return self.sessions.with_jwt(environment, active, token)

    def totp_migrate(self, caller: Caller, fields: dict[str, Any]) -> TotpCreated:
        environment = caller.environment
        secret = "".join(str(fields["secret"]).split()).upper().rstrip("=")
        key = _secret_key(secret)
        if len(key) < 10:
            raise InvalidInput(
                "`secret` is too short for a TOTP secret (at least 80 bits)",
                code=Code.INVALID_TOTP_SECRET,
            )
        codes = [str(c).strip().lower() for c in fields["recovery_codes"]]
        if len(set(codes)) != len(codes) or any(not c for c in codes):
            raise InvalidInput("`recovery_codes` must be distinct and not empty")
        sealed = self.runtime.sealer.seal(secret)
        now = clock.now()
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            existing = self.store.member_totp(tx, member["id"])
            if existing is not None and existing["verified"]:
                raise InvalidInput(
                    f"member `{member['id']}` already has an active TOTP registration; delete "
                    "it first (`organizations.members.delete_totp`)",
                    code=Code.ACTIVE_TOTP_EXISTS,
                )
            if existing is not None:
                self.store.delete_member_totp(tx, member["id"])
            totp_id = ids.new_id("member-totp", environment.kind)
            self.store.insert_totp(
                tx,
                {
                    "id": totp_id,
                    "environment_id": environment.id,
                    "member_id": member["id"],
                    "secret_sealed": sealed,
                    "verified": True,
                    "last_used_step": None,
                    "created_at": now,
                    "expires_at": now,
                },
            )
            self.store.replace_recovery_codes(
                tx,
                member["id"],
                [
                    {
                        "id": ids.new_id("totp-recovery-code", environment.kind),
                        "member_id": member["id"],
                        "code_hash": recovery_digest(member["id"], code),
                        "created_at": now,
                        "used_at": None,
                    }
                    for code in codes
                ],
            )
            values: MemberValues = {"totp_registration_id": totp_id, "updated_at": now}
            self.store.update_member(tx, member["id"], values)
            member = {**member, **values}
            events.record_call(self.store, tx, caller, "member.totp_migrate", member["id"])
            view = self._member_view(tx, member, org)
        return TotpCreated(view, totp_id, "", "", codes)

    def delete_totp(self, caller: Caller, org_ident: str, member_id: str) -> MemberView:
        """`organizations.members.delete_totp`: the registration and its recovery codes go;
        sessions that hold the factor stay (as Stytch documents)."""
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            member = self.members._find(tx, org, member_id)
            enforcement.require_member(
                self.runtime, caller, org, member["id"], [enforcement.MEMBER_DELETE_TOTP]
            )
            if not self.store.delete_member_totp(tx, member["id"]):
                raise _totp_not_found(member["id"])
            self.store.replace_recovery_codes(tx, member["id"], [])
            values: MemberValues = {"totp_registration_id": "", "updated_at": clock.now()}
            if member["default_mfa_method"] == "totp":
                values["default_mfa_method"] = ""
            self.store.update_member(tx, member["id"], values)
            member = {**member, **values}
            events.record_call(self.store, tx, caller, "member.totp_delete", member["id"])
            return self._member_view(tx, member, org)

    # -- recovery codes --------------------------------------------------------------------

    def recover(self, caller: Caller, fields: dict[str, Any], client: str = "") -> Recovered:
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        with self.store.read() as tx:
            org, member = self._target(tx, caller, fields)
            self._proof(tx, environment, fields, member)
        account = (environment.id, "recovery_code", member["id"])
        client_key = f"{environment.id}:{client}"
        self.guard.check(account, client_key)
        digest = recovery_digest(member["id"], str(fields["recovery_code"]))
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            totp = self.store.member_totp(tx, member["id"])
            if (
                totp is None
                or not totp["verified"]
                or not self.store.use_recovery_code(tx, member["id"], digest, clock.now())
            ):
                self.guard.failed(account, client_key)
                raise _invalid_recovery_code()
            factor = _factor(
                "recovery_codes",
                "recovery_code",
                recovery_code_factor={"totp_recovery_code_id": totp["id"]},
            )
            session_row, token, member = self._finish(
                tx, caller, fields, member, org, factor, "totp"
            )
            remaining = self.store.recovery_codes_left(tx, member["id"])
            events.record_call(
                self.store,
                tx,
                caller,
                "member.recovery_code_recover",
                member["id"],
                {"recovery_codes_remaining": remaining},
            )
            active = self.sessions.signed_in(tx, session_row, token, member, org)
        self.guard.succeeded(account, client_key)
        return Recovered(self.sessions.with_jwt(environment, active, token), remaining)

    def recovery_codes_get(self, caller: Caller, org_ident: str, member_id: str) -> RecoveryCodes:
        """The member's unused codes, masked: only their digests are stored."""
        with self.store.read() as tx:
            org, member = self._target(
                tx, caller, {"organization_id": org_ident, "member_id": member_id}
            )
            totp = self.store.member_totp(tx, member["id"])
            if totp is None or not totp["verified"]:
                raise _totp_not_found(member["id"])
            left = self.store.recovery_codes_left(tx, member["id"])
            view = self._member_view(tx, member, org)
        return RecoveryCodes(view, [MASKED_RECOVERY_CODE] * left)

    def recovery_codes_rotate(self, caller: Caller, fields: dict[str, Any]) -> RecoveryCodes:
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            totp = self.store.member_totp(tx, member["id"])
            if totp is None or not totp["verified"]:
                raise _totp_not_found(member["id"])
            codes = self._new_recovery_codes(tx, member, caller.environment)
            events.record_call(self.store, tx, caller, "member.recovery_codes_rotate", member["id"])
            view = self._member_view(tx, member, org)
        return RecoveryCodes(view, codes)

    # -- SMS one-time codes ----------------------------------------------------------------

    def sms_send(self, caller: Caller, fields: dict[str, Any], client: str = "") -> MemberView:
        environment = caller.environment
        given = fields.get("mfa_phone_number") or ""
        with self.store.read() as tx:
            org, member = self._target(tx, caller, fields)
            kind, _, _ = self._proof(tx, environment, fields, member)
            self._require_proof_when_enrolled(tx, member, kind)
            require_mfa_method(org, "sms_otp", member)
        number = member["mfa_phone_number"] or given
        if member["mfa_phone_number"] and given and given != member["mfa_phone_number"]:
            raise GatehouseError(
                Code.MEMBER_PHONE_NUMBER_ALREADY_SET,
                f"member `{member['id']}` has another mfa phone number; delete it first "
                "(`organizations.members.delete_mfa_phone_number`) to text a new one",
            )
        if not number:
            raise InvalidInput(
                f"member `{member['id']}` has no mfa phone number: pass `mfa_phone_number`",
                code=Code.INVALID_PHONE_NUMBER,
            )
        self.runtime.sms_limits.take(number, f"{environment.id}:{client}", channel="sms")
        now = clock.now()
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            if not member["mfa_phone_number"]:
                values: MemberValues = {
                    "mfa_phone_number": number,
                    "mfa_phone_verified": False,
                    "updated_at": now,
                }
                self.store.update_member(tx, member["id"], values)
                member = {**member, **values}
            elif member["mfa_phone_number"] != number:
                raise GatehouseError(
                    Code.MEMBER_PHONE_NUMBER_ALREADY_SET,
                    f"member `{member['id']}` has another mfa phone number",
                )
            _, body = issue_sms_code(self.store, tx, environment, org, member)
            events.record_call(self.store, tx, caller, "member.sms_otp_send", member["id"])
            view = self._member_view(tx, member, org)
        try:
            self.sms.send(number, body)
        except OSError as error:
            log.error("could not text an mfa code to %s: %s", number, error)
            metrics.EMAIL_DELIVERY_FAILURES.inc()
            raise GatehouseError(
                Code.SMS_DELIVERY_FAILED,
                "the text with the code could not be sent; try again later",
            ) from None
        return view

    def _live_sms(
        self, tx: ReadTx, environment: Environment, org: OrganizationRow, member: MemberRow
    ) -> MemberEmailTokenRow | None:
        number = member["mfa_phone_number"]
        if not number:
            return None
        row = self.store.latest_member_email_token(
            tx, environment.id, org["id"], number, SMS_PURPOSE
        )
        if (
            row is None
            or row["member_id"] != member["id"]
            or row["used_at"] is not None
            or row["expires_at"] <= clock.now()
            or row["attempts"] >= MAX_SMS_ATTEMPTS
        ):
            return None
        return row

    def sms_authenticate(self, caller: Caller, fields: dict[str, Any]) -> SignIn:
        check_custom_claims(fields.get("session_custom_claims"))
        environment = caller.environment
        code = str(fields["code"])
        with self.store.read() as tx:
            org, member = self._target(tx, caller, fields)
            self._proof(tx, environment, fields, member)
            row = self._live_sms(tx, environment, org, member)
        if row is None:
            raise _unable_sms()
        if not hmac.compare_digest(_sms_digest(row["id"], code), row["token_hash"]):
            with self.store.transaction() as tx:
                self.store.count_member_email_token_attempt(tx, row["id"])
            raise _unable_sms()
        with self.store.transaction() as tx:
            org, member = self._target(tx, caller, fields)
            current = self._live_sms(tx, environment, org, member)
            if (
                current is None
                or current["id"] != row["id"]
                or not self.store.use_member_email_token(tx, row["id"], clock.now())
            ):
                raise _unable_sms()
            factor = _factor(
                "otp",
                "sms",
                phone_number_factor={
                    "phone_id": phone_id(member["id"]),
                    "phone_number": member["mfa_phone_number"],
                },
            )
            session_row, token, member = self._finish(
                tx, caller, fields, member, org, factor, "sms_otp", {"mfa_phone_verified": True}
            )
            events.record_call(self.store, tx, caller, "member.sms_otp_authenticate", member["id"])
            active = self.sessions.signed_in(tx, session_row, token, member, org)
        return self.sessions.with_jwt(environment, active, token)
