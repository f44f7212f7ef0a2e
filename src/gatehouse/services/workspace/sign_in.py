"""Signing in to the dashboard: passwords, emailed one-time links, invitations and JIT joining.

A one-time link proves its holder owns the address it was sent to, so redeeming one verifies the
email; that is what activates an invited person, lets someone join through a JIT domain rule, and
makes a domain's automatic role apply (docs/spec/dashboard-permissions.md).

Nothing here tells a caller whether an address belongs to someone: a password sign-in fails the
same way (and takes as long) for every reason, and asking for a sign-in link always succeeds; the
link is mailed after the response, so neither timing nor a mail server's failure shows.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from gatehouse import metrics
from gatehouse.errors import (
    Code,
    Denied,
    Duplicate,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
)
from gatehouse.policy import Problem, dashboard
from gatehouse.services import clock, events
from gatehouse.services.addresses import domain_of
from gatehouse.services.mail import Mailer
from gatehouse.services.security import credentials, password_hashes
from gatehouse.services.workspace.operators import (
    JIT_DEFAULT_ROLE,
    Operator,
    effective_role,
    member_to_wire,
)
from gatehouse.services.workspace.people import Workspace, check_role
from gatehouse.storage.interface import EventStore, Transactions, WorkspaceStore, WriteTx
from gatehouse.storage.rows import DomainRow, WorkspaceMemberRow, WorkspaceMemberValues


class _Store(Transactions, WorkspaceStore, EventStore, Protocol):
    """The storage this service uses."""


log = logging.getLogger(__name__)

LOGIN, INVITE = "login", "invite"
# Stytch's default lifetime for invitation links; sign-in links follow `email_link_minutes`.
INVITATION_MINUTES = 7 * 24 * 60
MIN_PASSWORD_CHARS = 12
# The event a sign-in link the SMTP server refused leaves (target: the address's domain).
FAILED = "email.delivery_failed"


def _bad_credentials() -> GatehouseError:
    return Unauthorized(
        "the email address and password do not match a workspace member; "
        "ask for a sign-in link instead"
    )


class DashboardAuth:
    def __init__(self, workspace: Workspace, mailer: Mailer) -> None:
        self.workspace = workspace
        self.mailer = mailer
        self.runtime = workspace.runtime
        self.store: _Store = workspace.runtime.store
        self.guard = workspace.runtime.sign_in_guard()

    # -- passwords -------------------------------------------------------------------------

    def sign_in_with_password(self, email: str, password: str, client: str) -> dict[str, Any]:
        """`client` is the caller's IP address: failures are limited per client and, without
        locking the owner out, per account (throttle.SignInGuard)."""
        email = email.lower()
        account = ("dashboard", email)
        self.guard.check(account, client)
        with self.store.read() as tx:
            workspace_id = self.workspace.workspace(tx)["id"]
            member = self.store.find_workspace_member_by_email(tx, workspace_id, email)
        stored = member["password_hash"] if member and member["status"] == "active" else None
        # Verified against a decoy when there is no hash, so a miss costs what a hit costs.
        if not self.runtime.passwords.verify(stored, password) or member is None:
            self.guard.failed(account, client)
            raise _bad_credentials()
        self.guard.succeeded(account, client)
        assert stored is not None
        # Re-hashed (slow) before the write transaction, which then holds its lock briefly.
        rehashed = (
            self.runtime.passwords.hash(password)
            if self.runtime.passwords.needs_rehash(stored)
            else None
        )
        with self.store.transaction() as tx:
            current = self.store.get_workspace_member(tx, member["id"])
            if (
                current is None
                or current["status"] != "active"
                or current["password_hash"] != stored
            ):
                raise _bad_credentials()  # removed or changed while we were hashing
            if rehashed is not None:
                self.store.update_workspace_member(tx, member["id"], {"password_hash": rehashed})
            return self._signed_in(tx, current, "password")

    def set_password(self, operator: Operator, password: str) -> None:
        if operator.member_id is None:
            raise Denied(
                "a management key has no password; sign in as a person to set one",
                code=Code.FORBIDDEN,
            )
        with self.store.read() as tx:
            member = self.store.get_workspace_member(tx, operator.member_id)
        if member is None:
            raise NotFound(Kind.WORKSPACE_MEMBER, operator.member_id)
        _check_strength(password, member["email"])
        hashed = self.runtime.passwords.hash(password)  # slow on purpose: outside the transaction
        with self.store.transaction() as tx:
            if self.store.get_workspace_member(tx, member["id"]) is None:
                raise NotFound(Kind.WORKSPACE_MEMBER, member["id"])
            self.store.update_workspace_member(tx, member["id"], {"password_hash": hashed})
            self.workspace.record(tx, operator, "workspace_member.password_set", member["id"])

    # -- one-time email links --------------------------------------------------------------

    def send_sign_in_link(self, email: str, client: str) -> Callable[[], None] | None:
        """Store a sign-in link for a member or a JIT-eligible address, and return what mails
        it (to be called after the response); None when the address may not sign in.

        Sends are limited per address and per client (`client`: the caller's IP address) for
        every address alike, members or not, so a 429 says nothing about who is a member."""
        email = email.lower()
        self.runtime.send_limits.take(email, client)
        # Decide in a read: anyone may ask, and most who are refused should cost no write lock.
        with self.store.read() as tx:
            workspace = self.workspace.workspace(tx)
            member = self.store.find_workspace_member_by_email(tx, workspace["id"], email)
            domains = self.store.list_domains(tx, workspace["id"])
        if member is None and not _jit_rule(domains, email):
            return None
        with self.store.transaction() as tx:
            token = self._store_token(
                tx, LOGIN, email, workspace["id"], member["id"] if member else None
            )
            if member is not None:
                self.workspace.record(
                    tx,
                    self._operator(member, domains),
                    "workspace_member.sign_in_link_send",
                    member["id"],
                )
            else:
                events.record(
                    self.store,
                    tx,
                    workspace["id"],
                    f"email:{email}",
                    "workspace.join_link_send",
                    email,
                )
        minutes = self.runtime.settings.email_link_minutes
        subject = f"Sign in to {workspace['name']} on Gatehouse"
        body = (
            f"Someone (hopefully you) asked to sign in to the {workspace['name']} workspace on "
            f"Gatehouse as {email}.\n\n"
            f"Open this link within {minutes} minutes to sign in:\n\n{self._link(token)}\n\n"
            f"The link works once. Your sign-in token is: {token}\n\n"
            "If you did not ask for this, ignore this email."
        )
        return lambda: self._send_quietly(email, subject, body, workspace["id"])

    def redeem(self, token: str) -> dict[str, Any]:
        """Redeem a sign-in or invitation link: the email is proven, so the person is verified,
        an invited person becomes active, and an address at a JIT domain joins."""
        now = clock.now()
        with self.store.transaction() as tx:
            row = self.store.find_email_token(tx, credentials.token_digest(token))
            if (
                row is None
                or row["purpose"] not in (LOGIN, INVITE)
                or not credentials.digest_matches(token, row["token_hash"])
            ):
                raise GatehouseError(
                    Code.EMAIL_LINK_NOT_FOUND,
                    "the sign-in link is not valid; copy the whole link or ask for a new one",
                )
            if row["used_at"] is not None:
                raise Unauthorized(
                    "the sign-in link was already used; ask for a new one",
                    code=Code.EMAIL_LINK_USED,
                )
            if row["expires_at"] <= now:
                raise Unauthorized(
                    "the sign-in link has expired; ask for a new one", code=Code.EMAIL_LINK_EXPIRED
                )
            workspace_id = row["workspace_id"]
            if workspace_id is None:  # a member password reset token: not a sign-in link
                raise GatehouseError(
                    Code.EMAIL_LINK_NOT_FOUND,
                    "the sign-in link is not valid; copy the whole link or ask for a new one",
                )
            domains = self.store.list_domains(tx, workspace_id)
            if row["purpose"] == INVITE:
                member = self.store.get_workspace_member(tx, row["subject_id"] or "")
                if member is None or member["email"] != row["email"]:
                    raise GatehouseError(
                        Code.EMAIL_LINK_NOT_FOUND,
                        "the invitation was withdrawn; ask a workspace Admin to invite you again",
                    )
            else:
                member = self.store.find_workspace_member_by_email(tx, workspace_id, row["email"])
            if not self.store.use_email_token(tx, row["id"], now):
                raise Unauthorized(
                    "the sign-in link was already used; ask for a new one",
                    code=Code.EMAIL_LINK_USED,
                )
            if member is None:
                member = self._join(tx, workspace_id, row["email"], domains)
            elif member["status"] != "active" or not member["email_verified"]:
                before = {"status": member["status"], "email_verified": member["email_verified"]}
                after: WorkspaceMemberValues = {"status": "active", "email_verified": True}
                self.store.update_workspace_member(tx, member["id"], after)
                member = {**member, **after}
                action = (
                    "workspace_member.invitation_accept"
                    if before["status"] == "invited"
                    else "workspace_member.email_verify"
                )
                self.workspace.record(
                    tx,
                    self._operator(member, domains),
                    action,
                    member["id"],
                    {k: [before[k], v] for k, v in after.items() if before[k] != v},
                )
            method = "invitation" if row["purpose"] == INVITE else "email_link"
            return self._signed_in(tx, member, method)

    def _join(
        self, tx: WriteTx, workspace_id: str, email: str, domains: list[DomainRow]
    ) -> WorkspaceMemberRow:
        rule = _jit_rule(domains, email)
        if rule is None:
            # The rule was switched off or removed after the link was sent.
            raise Denied(
                f"`{domain_of(email)}` addresses may no longer join this workspace by "
                "themselves; ask a workspace Admin for an invitation",
                code=Code.FORBIDDEN,
            )
        # No explicit role: the member follows the domain rule (its automatic role, or the JIT
        # default), and a later change to the rule changes their role at once.
        role = rule["auto_role"] or JIT_DEFAULT_ROLE
        try:
            member = self.workspace.add_member(
                tx, workspace_id, email, None, status="active", verified=True
            )
        except Duplicate:
            raise Duplicate(
                Code.DUPLICATE_WORKSPACE_MEMBER,
                "email_address",
                email,
                f"`{email}` joined the workspace at this very moment; open the link again",
            ) from None
        self.workspace.record(
            tx,
            self._operator(member, domains),
            "workspace_member.join",
            member["id"],
            {"email": email, "role": role, "via": "jit", "domain": rule["domain"]},
        )
        return member

    # -- invitations -----------------------------------------------------------------------

    def invite(self, operator: Operator, email: str, role: str) -> dict[str, Any]:
        """Add `email` as an invited member with `role` and mail them a link. The mail is sent
        inside the transaction: if the mail server refuses it, nobody is invited."""
        operator.require("workspace.members.manage")
        check_role(role)
        email = email.lower()
        with self.store.transaction() as tx:
            workspace = self.workspace.workspace(tx)
            duplicate = Duplicate(
                Code.DUPLICATE_WORKSPACE_MEMBER,
                "email_address",
                email,
                f"`{email}` is already a member of the workspace (or invited)",
            )
            if self.store.find_workspace_member_by_email(tx, operator.workspace_id, email):
                raise duplicate
            try:
                member = self.workspace.add_member(
                    tx, operator.workspace_id, email, role, status="invited", verified=False
                )
            except Duplicate:  # invited by someone else at the same moment
                raise duplicate from None
            token = self._store_token(
                tx, INVITE, email, operator.workspace_id, member["id"], INVITATION_MINUTES
            )
            self.workspace.record(
                tx,
                operator,
                "workspace_member.invite",
                member["id"],
                {"email": email, "role": role},
            )
            role_name = dashboard.ROLE_NAMES[role]
            body = (
                f"You are invited to the {workspace['name']} workspace on Gatehouse, with the "
                f"{role_name} dashboard role.\n\n"
                f"Open this link within {INVITATION_MINUTES // (24 * 60)} days to accept:\n\n"
                f"{self._link(token)}\n\n"
                f"The link works once. Your invitation token is: {token}\n\n"
                "If it has expired, ask for a sign-in link with this email address instead."
            )
            try:
                self.mailer.send(email, f"Join {workspace['name']} on Gatehouse", body)
            except OSError as error:  # smtplib's errors are OSErrors too
                log.warning("could not send the invitation to %s: %s", email, error)
                raise GatehouseError(
                    Code.EMAIL_DELIVERY_FAILED,
                    f"the invitation email to `{email}` could not be sent ({error}); "
                    "nobody was invited; check the SMTP settings and retry",
                ) from None
            domains = self.store.list_domains(tx, operator.workspace_id)
            return member_to_wire(member, domains)

    # -- sessions --------------------------------------------------------------------------

    def sign_out(self, token: str) -> None:
        operator = self.workspace.operator_from_session(token)  # refuses an ended session
        with self.store.transaction() as tx:
            session = self.store.find_dashboard_session(tx, credentials.token_digest(token))
            assert session is not None
            self.store.update_dashboard_session(tx, session["id"], {"revoked_at": clock.now()})
            self.workspace.record(tx, operator, "workspace_member.sign_out", session["member_id"])

    def me(self, operator: Operator) -> dict[str, Any]:
        if operator.member_id is None:
            raise Denied(
                "a management key is not a person; sign in to see your own profile",
                code=Code.FORBIDDEN,
            )
        with self.store.read() as tx:
            member = self.store.get_workspace_member(tx, operator.member_id)
            if member is None:
                raise NotFound(Kind.WORKSPACE_MEMBER, operator.member_id)
            return member_to_wire(member, self.store.list_domains(tx, member["workspace_id"]))

    # -- helpers ---------------------------------------------------------------------------

    def _signed_in(self, tx: WriteTx, member: WorkspaceMemberRow, method: str) -> dict[str, Any]:
        domains = self.store.list_domains(tx, member["workspace_id"])
        session = self.workspace.start_session(tx, member)
        self.workspace.record(
            tx,
            self._operator(member, domains),
            "workspace_member.sign_in",
            member["id"],
            {"method": method},
        )
        return {**session, "member": member_to_wire(member, domains)}

    @staticmethod
    def _operator(member: WorkspaceMemberRow, domains: list[DomainRow]) -> Operator:
        role, _ = effective_role(member, domains)
        return Operator(
            member["workspace_id"], f"workspace_member:{member['id']}", role, member_id=member["id"]
        )

    def _store_token(
        self,
        tx: WriteTx,
        purpose: str,
        email: str,
        workspace_id: str,
        subject_id: str | None,
        minutes: int | None = None,
    ) -> str:
        token = credentials.new_token()
        now = clock.now()
        lifetime = self.runtime.settings.email_link_minutes if minutes is None else minutes
        self.store.insert_email_token(
            tx,
            {
                "id": f"email-token-{uuid.uuid4()}",
                "purpose": purpose,
                "token_hash": credentials.token_digest(token),
                "email": email,
                "workspace_id": workspace_id,
                "environment_id": None,
                "subject_id": subject_id,
                "created_at": now,
                "expires_at": now + dt.timedelta(minutes=lifetime),
                "used_at": None,
            },
        )
        return token

    def _link(self, token: str) -> str:
        base = self.runtime.settings.public_url.rstrip("/")
        return f"{base}/dashboard/authenticate?{urlencode({'token': token})}"

    def _send_quietly(self, to: str, subject: str, body: str, workspace_id: str) -> None:
        # After the response: a failure is the operator's to see in the log, the event log and
        # metrics (the address's domain only), never the caller's.
        try:
            self.mailer.send(to, subject, body)
        except OSError as error:
            log.error("could not send the sign-in link to %s: %s", to, error)
            metrics.EMAIL_DELIVERY_FAILURES.inc()
            with self.store.transaction() as tx:
                target = domain_of(to)
                events.record(self.store, tx, workspace_id, "gatehouse", FAILED, target)


def _check_strength(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            "the password is too short",
            [Problem("password", f"must be at least {MIN_PASSWORD_CHARS} characters")],
            code=Code.WEAK_PASSWORD,
        )
    strength = password_hashes.strength_check(password, email)
    if not strength["valid_password"]:
        feedback = strength["zxcvbn_feedback"]
        advice = " ".join([feedback["warning"], *feedback["suggestions"]]).strip()
        raise InvalidInput(
            f"the password is too easy to guess (strength {strength['score']} of 4, 3 needed)"
            + (f": {advice.lower()}" if advice else "")
            + "; try a longer passphrase",
            code=Code.WEAK_PASSWORD,
        )


def _jit_rule(domains: list[DomainRow], email: str) -> DomainRow | None:
    domain = domain_of(email)
    return next((d for d in domains if d["domain"] == domain and d["jit_enabled"]), None)
